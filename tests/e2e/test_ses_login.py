"""The SES credential kind through the real sidecar, keeper to Postfix (issue 18).

A credential path that answers an AWS IAM key (access_key, secret_key: the shape of
aws/creds/<role> from Vault's AWS secrets engine, iam_user) is turned by the keeper into
the SES SMTP login: user name = the access key id, password = AWS's version-4 derivation
for vault.ses_region, first used vault.ses_propagation_seconds after it was leased.

OpenBao 2.7.2 has no AWS secrets engine (docs/providers/amazon-ses.md), so the key is
served from a KV path here, and the stack's own Postfix/Dovecot plays SES: the test puts
the login into the mail database with the password computed by an independent Python
implementation of AWS's algorithm. The sidecar logs in with what its keeper derived and
the mail is delivered: the two derivations agree end to end, and the keeper waited for
the propagation time before the first send.
"""
import base64
import hashlib
import hmac
import os
import secrets
import string
import subprocess
import time
import unittest

from stacklib import ENV, Sidecar, bao, maildir_messages, psql, wait_for

MOUNT, POLICY = "ses-kv", "ses-kv-read"
REGION = "eu-west-1"
PROPAGATION_SECONDS = 2
SENDER = "ses-app@example.test"


def ses_smtp_password(secret, region):
    """AWS's documented algorithm (SES developer guide, SMTP credentials, version 4)."""
    def sign(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    k = sign(("AWS4" + secret).encode(), "11111111")
    for step in (region, "ses", "aws4_request", "SendRawEmail"):
        k = sign(k, step)
    return base64.b64encode(bytes([0x04]) + k).decode()


class SesLogin(unittest.TestCase):
    def setUp(self):
        alphabet = string.ascii_letters + string.digits + "+/"
        self.access_key = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567")
                                           for _ in range(16))
        self.secret_key = "".join(secrets.choice(alphabet) for _ in range(40))
        self.login = self.access_key.lower()  # Dovecot folds logins to lower case
        if f"{MOUNT}/" not in bao("secrets", "list", "-format=json"):
            bao("secrets", "enable", f"-path={MOUNT}", "kv")
        bao("write", f"{MOUNT}/example-app", f"access_key={self.access_key}",
            f"secret_key={self.secret_key}")
        policy_file = os.path.join("/tmp", f"ses-kv-{os.getpid()}.hcl")
        with open(policy_file, "w") as f:
            f.write(f'path "{MOUNT}/example-app" {{ capabilities = ["read"] }}\n')
        self.addCleanup(os.unlink, policy_file)
        bao("policy", "write", POLICY, policy_file)
        role = bao("read", "-format=json", "auth/approle/role/example-app")["data"]
        original = ",".join(role["token_policies"])
        bao("write", "auth/approle/role/example-app", f"token_policies={original},{POLICY}")
        self.addCleanup(bao, "write", "auth/approle/role/example-app",
                        f"token_policies={original}")
        password = ses_smtp_password(self.secret_key, REGION)
        psql(f"INSERT INTO credentials (username, password) VALUES ('{self.login}', "
             f"'{{PLAIN}}{password}')")
        psql(f"INSERT INTO sender_logins (address, login) VALUES ('{SENDER}', '{self.login}')")
        self.addCleanup(psql, f"DELETE FROM sender_logins WHERE login = '{self.login}'")
        self.addCleanup(psql, f"DELETE FROM credentials WHERE username = '{self.login}'")

    def test_the_keeper_derives_the_ses_login_and_waits_for_iam(self):
        s = Sidecar(env={"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH": f"{MOUNT}/example-app",
                         "SMTP_SIDECAR_VAULT_SES_REGION": REGION,
                         "SMTP_SIDECAR_VAULT_SES_PROPAGATION_SECONDS": str(PROPAGATION_SECONDS)})
        self.addCleanup(s.cleanup)
        started = time.monotonic()
        s.start()  # ready only once the login may be used
        self.assertGreaterEqual(time.monotonic() - started, PROPAGATION_SECONDS)
        leased = s.events("credential_leased")
        self.assertTrue(leased and leased[0]["ses"] is True, s.output())
        marker = f"ses-{os.urandom(4).hex()}"
        status, body, _ = s.send_raw(
            f"From: {SENDER}\r\nTo: rcpt@example.test\r\nSubject: {marker}\r\n\r\nses\r\n".encode(),
            SENDER, ["rcpt@example.test"])
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "sent")
        def arrived():
            # A Postfix that deferred after an earlier suite's faults: send what waits.
            subprocess.run(["postqueue", "-c", ENV["POSTFIX_CONF_DIR"], "-f"], capture_output=True)
            for path in maildir_messages("rcpt@example.test"):
                with open(path, errors="replace") as f:
                    if marker in f.read():
                        return True
            return False
        self.assertTrue(wait_for(arrived, timeout=20), "the mail was not delivered")
        # Neither the secret key nor the derived password reach the log.
        output = s.output()
        self.assertNotIn(self.secret_key, output)
        self.assertNotIn(ses_smtp_password(self.secret_key, REGION), output)

    def test_a_region_without_ses_smtp_is_refused_at_start(self):
        s = Sidecar(env={"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH": f"{MOUNT}/example-app",
                         "SMTP_SIDECAR_VAULT_SES_REGION": "xx-nowhere-1"})
        self.addCleanup(s.cleanup)
        s.start(wait=False)
        self.assertNotEqual(s.proc.wait(timeout=30), 0)
        self.assertIn("has no SES SMTP endpoint", s.output())


if __name__ == "__main__":
    unittest.main()
