"""Helpers shared by the SES tests (test_ses_login, test_ses_aws_engine, test_oauth's
doctor case): the test's own derivation of the SES SMTP password, an IAM key served from
a KV path with the policy to read it, the stack's Postfix/Dovecot playing SES's SMTP
endpoint for a derived login, and the check that a marked message arrived.

SECURITY: test data only (random keys made by the test, or moto's); nothing is printed.
"""
import base64
import hashlib
import hmac
import os
import subprocess

from stacklib import ENV, bao, maildir_messages, psql

APPROLE = "auth/approle/role/example-app"


def ses_smtp_password(secret, region):
    """AWS's documented algorithm (SES developer guide, SMTP credentials, version 4),
    written independently of the keeper's C++ so that the two check each other."""
    def sign(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    k = sign(("AWS4" + secret).encode(), "11111111")
    for step in (region, "ses", "aws4_request", "SendRawEmail"):
        k = sign(k, step)
    return base64.b64encode(bytes([0x04]) + k).decode()


def grant_policy(test, policy):
    """Adds `policy` to the example app's AppRole tokens until the test ends."""
    role = bao("read", "-format=json", APPROLE)["data"]
    original = ",".join(role["token_policies"])
    bao("write", APPROLE, f"token_policies={original},{policy}")
    test.addCleanup(bao, "write", APPROLE, f"token_policies={original}")


def serve_iam_key_from_kv(test, mount, name, policy, access_key, secret_key):
    """The shape of aws/creds/<role> (access_key, secret_key) at KV path mount/name,
    readable by the example app's tokens through `policy` (OpenBao has no AWS engine)."""
    if f"{mount}/" not in bao("secrets", "list", "-format=json"):
        bao("secrets", "enable", f"-path={mount}", "kv")
    bao("write", f"{mount}/{name}", f"access_key={access_key}", f"secret_key={secret_key}")
    policy_file = os.path.join("/tmp", f"{policy}-{os.getpid()}.hcl")
    with open(policy_file, "w") as f:
        f.write(f'path "{mount}/{name}" {{ capabilities = ["read"] }}\n')
    test.addCleanup(os.unlink, policy_file)
    bao("policy", "write", policy, policy_file)
    grant_policy(test, policy)


def play_ses(test, access_key, password, sender=None):
    """The stack's Dovecot knows `password` for the key's login (as SES's SMTP endpoint
    knows the derived password of each active key); Postfix lets it send as `sender`.
    Returns the login (Dovecot folds logins to lower case)."""
    login = access_key.lower()
    psql(f"INSERT INTO credentials (username, password) VALUES ('{login}', "
         f"'{{PLAIN}}{password}')")
    test.addCleanup(psql, f"DELETE FROM credentials WHERE username = '{login}'")
    if sender is not None:
        psql(f"INSERT INTO sender_logins (address, login) VALUES ('{sender}', '{login}')")
        test.addCleanup(psql, f"DELETE FROM sender_logins WHERE login = '{login}'")
    return login


def arrived(marker, rcpt="rcpt@example.test"):
    """A message containing `marker` is in rcpt's Maildir. Flushes Postfix's queue first:
    a Postfix that deferred after an earlier suite's faults sends what waits."""
    subprocess.run(["postqueue", "-c", ENV["POSTFIX_CONF_DIR"], "-f"], capture_output=True)
    for path in maildir_messages(rcpt):
        with open(path, errors="replace") as f:
            if marker in f.read():
                return True
    return False
