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
import os
import secrets
import string
import time
import unittest

from seslib import arrived, play_ses, serve_iam_key_from_kv, ses_smtp_password
from stacklib import Sidecar, wait_for

MOUNT, POLICY = "ses-kv", "ses-kv-read"
REGION = "eu-west-1"
PROPAGATION_SECONDS = 2
SENDER = "ses-app@example.test"


class SesLogin(unittest.TestCase):
    def setUp(self):
        alphabet = string.ascii_letters + string.digits + "+/"
        self.access_key = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567")
                                           for _ in range(16))
        self.secret_key = "".join(secrets.choice(alphabet) for _ in range(40))
        serve_iam_key_from_kv(self, MOUNT, "example-app", POLICY, self.access_key,
                              self.secret_key)
        play_ses(self, self.access_key, ses_smtp_password(self.secret_key, REGION), SENDER)

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
        self.assertTrue(wait_for(lambda: arrived(marker), timeout=20), "the mail was not delivered")
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
