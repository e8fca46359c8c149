#!/usr/bin/env python3
"""The keeper's SES SMTP password derivation against an independent implementation.

The reference below is written from AWS's documented algorithm (SES developer guide,
"Obtaining Amazon SES SMTP credentials", version 4) with Python's hmac/hashlib, not
from our C++ code. It runs on random secret access keys in several regions, checks the
0x04 version prefix byte, and checks that a region without an SES SMTP endpoint and a
malformed region are refused. Usage: check_ses_smtp_password.py <ses_smtp_password_tool>
"""
import base64
import hashlib
import hmac
import secrets
import string
import subprocess
import sys

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2",
           "sa-east-1", "us-gov-west-1", "il-central-1"]
KEYS_PER_REGION = 8
ALPHABET = string.ascii_letters + string.digits + "+/"


def reference(secret: str, region: str) -> str:
    def sign(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    k = sign(("AWS4" + secret).encode("utf-8"), "11111111")
    for step in (region, "ses", "aws4_request", "SendRawEmail"):
        k = sign(k, step)
    return base64.b64encode(bytes([0x04]) + k).decode("ascii")


def main() -> int:
    tool = sys.argv[1]
    cases = []
    for region in REGIONS:
        for _ in range(KEYS_PER_REGION):
            cases.append((region, "".join(secrets.choice(ALPHABET) for _ in range(40))))
    # AWS's documentation example key, so a reader can check one value by hand.
    cases.append(("us-east-1", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
    refused = [("xx-nowhere-1", "a" * 40), ("EU-WEST-1", "a" * 40), ("eu west 1", "a" * 40)]
    stdin = "".join(f"{r} {k}\n" for r, k in cases + refused)
    out = subprocess.run([tool], input=stdin, capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == len(cases) + len(refused), (len(lines), out.stderr)
    failures = 0
    for (region, key), got in zip(cases, lines):
        want = reference(key, region)
        if got != want:
            failures += 1
            print(f"MISMATCH region={region}: got {got!r} want {want!r}")
        elif base64.b64decode(got)[0] != 0x04 or len(base64.b64decode(got)) != 33:
            failures += 1
            print(f"bad version byte or length for region={region}")
    for (region, _), got in zip(refused, lines[len(cases):]):
        if not got.startswith("error: "):
            failures += 1
            print(f"region {region!r} was not refused: {got!r}")
    print(f"ses smtp password: {len(cases) - failures} passed, {failures} failed "
          f"({len(cases)} keys in {len({r for r, _ in cases})} regions; {len(refused)} refusals checked)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
