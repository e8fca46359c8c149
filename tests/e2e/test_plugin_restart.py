"""End-to-end: the smtp plugin is mounted again and serves after OpenBao restarts.

Restarting the in-memory dev server wipes all of its state, so this runs on a private
stack (tests/e2e/run-on-tls-stack plugin_restart, ctest e2e.plugin_restart), never on
the stack the other suites share.
"""
import unittest

from test_plugin import PluginTest


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    suite.addTest(PluginTest("remount_after_openbao_restart"))
    return suite
