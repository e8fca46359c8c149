"""Runs one unittest module the way ctest must see it: exit 0 when every test ran and
passed, 1 on any failure or error, and 77 (the suites' SKIP_RETURN_CODE) when a test
was skipped, so ctest reports "Skipped" instead of "Passed" for a suite that did not
run everything. scripts/test then refuses a skipped suite that CI must run
(tests/check-no-skips).

Usage: python3 run_suite.py test_module
"""
import sys
import unittest

SKIPPED = 77


def main():
    if len(sys.argv) != 2:
        print("usage: run_suite.py MODULE", file=sys.stderr)
        return 2
    suite = unittest.defaultTestLoader.loadTestsFromName(sys.argv[1])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.testsRun == 0:
        print(f"{sys.argv[1]}: no test ran", file=sys.stderr)
        return SKIPPED
    if result.skipped:
        for test, reason in result.skipped:
            print(f"SKIPPED {test.id()}: {reason}", file=sys.stderr)
        return SKIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main())
