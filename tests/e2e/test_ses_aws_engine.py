"""Amazon SES logins from a real AWS secrets engine (issue 18, point 4), end to end.

Real parts: HashiCorp Vault's built-in AWS secrets engine at aws/ (OpenBao 2.7.2 has
none: this suite runs in e2e.hashicorp_vault, tests/e2e/run-on-vault-stack), pointed by
scripts/stack-oauth at moto's IAM emulator (PyPI moto[server], loopback), role
example-app-ses (credential_type iam_user); the real sidecar; the stack's Postfix and
Dovecot standing in for SES's SMTP endpoint, which cannot be reached from here.

- The sidecar leases aws/creds/example-app-ses: the engine creates an IAM user with an
  access key in moto, which exists for as long as the lease does.
- The keeper derives the SES SMTP password (region eu-west-1) and waits out IAM's
  propagation; the test, playing SES, reads the key's secret from the emulator's state,
  derives the password with its own implementation of AWS's algorithm and enters it in
  Dovecot's table for the access key id: the sidecar's login is accepted and the mail
  delivered, so the two derivations agree on a key Vault really issued.
- At exit the keeper revokes the lease and the engine deletes the IAM user in moto
  (GetUser, ListAccessKeys and ListUserPolicies answer NoSuchEntity).
Neither the secret key nor the derived password reach the sidecar's log.
"""
import json
import os
import re
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from seslib import ses_smtp_password
from stacklib import CLI, ENV, REPO, Sidecar, bao, maildir_messages, psql, wait_for

REGION = "eu-west-1"
ROLE = "example-app-ses"
SENDER = "ses-app@example.test"
PROPAGATION_SECONDS = 3


def oauth_env():
    out = subprocess.run([os.path.join(REPO, "scripts", "stack-oauth"), "env"],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class Iam:
    """moto's IAM API (the engine's view) and its state dump (the emulator's own view,
    which holds each key's secret: AWS's side of the key)."""

    def __init__(self, endpoint):
        self.endpoint = endpoint

    def call(self, action, **params):
        """The answer's XML; an IAM error (e.g. NoSuchEntity) as IamError."""
        body = urllib.parse.urlencode({"Action": action, "Version": "2010-05-08", **params}).encode()
        request = urllib.request.Request(self.endpoint + "/", data=body, method="POST", headers={
            # moto routes by the signed service name; it does not check the signature.
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAMOTOROOT0000TEST/20260101/"
                             "us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                return answer.read().decode()
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            code = re.search(r"<Code>([^<]+)</Code>", text)
            raise IamError(code.group(1) if code else f"HTTP {e.code}", text) from None

    def reset(self):
        """Forgets every IAM entity: moto's state dump also lists deleted users (and fails
        on them), so the dump is only read while nothing was deleted yet."""
        request = urllib.request.Request(self.endpoint + "/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=15) as answer:
            answer.read()

    def users(self):
        return set(re.findall(r"<UserName>([^<]+)</UserName>", self.call("ListUsers")))

    def user_keys(self, user):
        return re.findall(r"<AccessKeyId>([^<]+)</AccessKeyId>",
                          self.call("ListAccessKeys", UserName=user))

    def user_policies(self, user):
        listed = self.call("ListUserPolicies", UserName=user)
        return re.findall(r"<member>([^<]+)</member>", listed)

    def secret_of(self, access_key):
        """The key's secret, from the emulator's own state (AWS's side of the key: IAM's
        API never shows a secret again after CreateAccessKey)."""
        with urllib.request.urlopen(self.endpoint + "/moto-api/data.json", timeout=15) as answer:
            state = json.load(answer)
        for key in state.get("iam", {}).get("AccessKey", []):
            if key["access_key_id"] == access_key:
                return key["secret_access_key"]
        raise AssertionError(f"access key {access_key} is not in moto's state")


class IamError(Exception):
    def __init__(self, code, text):
        super().__init__(f"{code}: {text[:300]}")
        self.code = code


class SesFromAwsEngine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = oauth_env()
        if "MOTO_ENDPOINT" not in env:
            raise AssertionError("moto is not running: scripts/install-moto, scripts/stack-oauth start")
        mounts = bao("secrets", "list", "-format=json")
        if "aws/" not in mounts:
            if os.path.basename(CLI) == "bao":
                raise unittest.SkipTest("OpenBao has no AWS secrets engine (runs on HashiCorp Vault)")
            raise AssertionError("aws/ is not mounted on this Vault (scripts/stack-oauth start)")
        cls.iam = Iam(env["MOTO_ENDPOINT"])
        cls.iam.reset()

    def test_an_iam_user_lives_as_long_as_the_lease_and_its_ses_login_sends(self):
        role = bao("read", "-format=json", "auth/approle/role/example-app")["data"]
        original = ",".join(role["token_policies"])
        bao("write", "auth/approle/role/example-app",
            f"token_policies={original},smtp-sidecar-example-app-oauth")
        self.addCleanup(bao, "write", "auth/approle/role/example-app",
                        f"token_policies={original}")
        before = self.iam.users()
        s = Sidecar(env={"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH": f"aws/creds/{ROLE}",
                         "SMTP_SIDECAR_VAULT_SES_REGION": REGION,
                         "SMTP_SIDECAR_VAULT_SES_PROPAGATION_SECONDS": str(PROPAGATION_SECONDS)})
        self.addCleanup(s.cleanup)
        started = time.monotonic()
        s.start()
        self.assertGreaterEqual(time.monotonic() - started, PROPAGATION_SECONDS)
        leased = s.events("credential_leased")
        self.assertTrue(leased and leased[0]["ses"] is True, s.output())
        self.assertTrue(leased[0]["lease_id"].startswith(f"aws/creds/{ROLE}/"), leased)

        # The engine made exactly one IAM user for this lease, with one key (the sidecar's
        # login name) and the role's inline policy, as IAM's API reports them.
        new_users = self.iam.users() - before
        self.assertEqual(len(new_users), 1, new_users)
        user = new_users.pop()
        self.assertIn(ROLE, user)
        keys = self.iam.user_keys(user)
        self.assertEqual(len(keys), 1, keys)
        access_key = keys[0]
        self.assertTrue(access_key.startswith("AKIA"), access_key)
        self.assertEqual(len(self.iam.user_policies(user)), 1)
        secret_key = self.iam.secret_of(access_key)
        self.assertEqual(len(secret_key), 40)  # IAM's secret access keys are 40 characters

        # Playing SES: its SMTP endpoint knows the derived password of each active key.
        login = access_key.lower()  # Dovecot folds logins to lower case
        password = ses_smtp_password(secret_key, REGION)
        psql(f"INSERT INTO credentials (username, password) VALUES ('{login}', "
             f"'{{PLAIN}}{password}')")
        psql(f"INSERT INTO sender_logins (address, login) VALUES ('{SENDER}', '{login}')")
        self.addCleanup(psql, f"DELETE FROM sender_logins WHERE login = '{login}'")
        self.addCleanup(psql, f"DELETE FROM credentials WHERE username = '{login}'")

        marker = f"ses-aws-{os.urandom(4).hex()}"
        status, body, _ = s.send_raw(
            f"From: {SENDER}\r\nTo: rcpt@example.test\r\nSubject: {marker}\r\n\r\nses\r\n".encode(),
            SENDER, ["rcpt@example.test"])
        self.assertEqual((status, body.get("status") if isinstance(body, dict) else body),
                         (200, "sent"), s.output())

        def arrived():
            subprocess.run(["postqueue", "-c", ENV["POSTFIX_CONF_DIR"], "-f"], capture_output=True)
            for path in maildir_messages("rcpt@example.test"):
                with open(path, errors="replace") as f:
                    if marker in f.read():
                        return True
            return False
        self.assertTrue(wait_for(arrived, timeout=20), "the mail was not delivered")
        self.assertIn(user, self.iam.users())  # still leased: still there
        self.assertEqual(self.iam.user_keys(user), [access_key])
        lease_id = leased[0]["lease_id"]
        self.assertGreater(bao("write", "-format=json", "sys/leases/lookup",
                               f"lease_id={lease_id}")["data"]["ttl"], 0)

        # Exit revokes the lease; the engine deletes the IAM user with its key and policy.
        self.assertEqual(s.stop(), 0, s.output())
        self.assertTrue(wait_for(lambda: user not in self.iam.users(), timeout=30),
                        f"IAM user {user} still exists after the lease was revoked")
        for action in ("GetUser", "ListAccessKeys", "ListUserPolicies"):
            with self.assertRaises(IamError, msg=action) as gone:
                self.iam.call(action, UserName=user)
            self.assertEqual(gone.exception.code, "NoSuchEntity", action)
        revoked = s.events("lease_revoked")
        self.assertIn(lease_id, [e.get("lease_id") for e in revoked], s.output())
        output = s.output()
        self.assertNotIn(secret_key, output)
        self.assertNotIn(password, output)


if __name__ == "__main__":
    unittest.main()
