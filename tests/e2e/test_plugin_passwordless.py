"""Passwordless SMTP logins signed by our own smtp plugin, end to end (issue 18, point 3).

Real parts: the stack's OpenBao with the plugin at smtp/ (scripts/vault-bootstrap), a
role of credential_type jwt, the real Postfix on the passwordless submission port, and
the token-login Dovecot whose only passdb is oauth2 with local validation
(scripts/stack-oauth; started here if it is not running). The plugin's public keys
reach Dovecot by `scripts/stack-oauth sync-plugin-keys smtp` (smtp/jwks ->
<key dir>/smtp/RS256/<kid>).

- A token from smtp/creds/example-app-passwordless logs in with OAUTHBEARER and
  XOAUTH2; its sender is accepted, another sender is refused (553, the sender login
  maps). The login has sender_logins rows and no credentials row: the database dump and
  the stack directory hold no password for it.
- Revoking the lease deletes the sender rows: the token (valid until its exp, checked
  without the database) still logs in but can send as nobody (553).
- An expired token, a changed signature, changed claims, another login's token, a
  token signed by an unpublished key under a published kid, not a JWT: 535 each.
- The sidecar itself, leasing from the jwt role: sends through Postfix with
  OAUTHBEARER, every one of a run of messages delivered while the signing keys rotate
  and the keeper replaces its token (a short TTL), and its logins are revoked at exit.
- `smtp-sidecar doctor` on that credential path: the token login is probed (AUTH
  accepted on the token port) and its lease revoked.
"""
import base64
import json
import os
import re
import smtplib
import ssl
import stat
import subprocess
import tempfile
import time
import unittest

from stacklib import (ENV, PASSWORDLESS_ROLE, PASSWORDLESS_SENDER, REPO, Sidecar, bao,
                      ensure_passwordless_role, maildir_messages, psql, wait_for)

STACK_OAUTH = os.path.join(REPO, "scripts", "stack-oauth")
OTHER_SENDER = "app@example.test"  # owned by another login (the bootstrap's example-app)


def oauth_env():
    out = subprocess.run([STACK_OAUTH, "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def ensure_token_login_dovecot():
    """scripts/stack-oauth start when its passwordless port is not listening."""
    port = oauth_env()["SMTP_OAUTH_PORT"]
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                               text=True).stdout.strip()
    if not listening:
        subprocess.run([STACK_OAUTH, "start"], check=True)
    return oauth_env()


OAUTH = {}


def passwordless_logins():
    """The logins of the passwordless role that have sender rows."""
    return set(psql(f"SELECT DISTINCT login FROM sender_logins WHERE login LIKE "
                    f"'smtp-{PASSWORDLESS_ROLE}-%' AND address = '{PASSWORDLESS_SENDER}'"))


def sync_keys():
    out = subprocess.run([STACK_OAUTH, "sync-plugin-keys", "smtp"], capture_output=True,
                         text=True, check=True)
    return out.stderr.strip()


def creds(test, role=PASSWORDLESS_ROLE, revoke=True):
    answer = bao("read", "-format=json", f"smtp/creds/{role}")
    if revoke:
        test.addCleanup(bao, "lease", "revoke", answer["lease_id"], check=False)
    return answer


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def connect():
    context = ssl.create_default_context(cafile=ENV["SMTP_CA_FILE"])
    smtp = smtplib.SMTP(ENV["SMTP_HOST"], int(OAUTH["SMTP_OAUTH_PORT"]), timeout=20)
    smtp.starttls(context=context)
    smtp.ehlo("passwordless-test.example.test")
    return smtp


def token_login(user, token, mechanism="OAUTHBEARER"):
    """AUTH with the token on the passwordless port; (code, connection)."""
    smtp = connect()
    if mechanism == "OAUTHBEARER":  # RFC 7628 3.1
        raw = f"n,a={user},\x01auth=Bearer {token}\x01\x01"
    else:
        raw = f"user={user}\x01auth=Bearer {token}\x01\x01"
    code, _ = smtp.docmd("AUTH", f"{mechanism} {base64.b64encode(raw.encode()).decode()}")
    if code == 334:  # the error challenge: an empty answer ends it (RFC 7628 3.2.3)
        code, _ = smtp.docmd("")
    return code, smtp


def sender_code(smtp, sender):
    """The reply to MAIL+RCPT for `sender` (Postfix decides sender login maps at RCPT)."""
    code, _ = smtp.mail(sender)
    if code != 250:
        return code
    code, _ = smtp.rcpt("rcpt@example.test")
    smtp.rset()
    return code


class PluginPasswordless(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        OAUTH.update(ensure_token_login_dovecot())
        ensure_passwordless_role(ttl="10m")
        sync_keys()  # the mount's current and next key, before the first token

    def test_a_token_logs_in_binds_its_sender_and_no_password_exists(self):
        answer = creds(self)
        data = answer["data"]
        login, token = data["username"], data["token"]
        self.assertNotIn("password", data)
        self.assertFalse(answer["renewable"])
        self.assertEqual(data["allowed_senders"], [PASSWORDLESS_SENDER])
        header = json.loads(unb64url(token.split(".")[0]))
        claims = json.loads(unb64url(token.split(".")[1]))
        self.assertEqual(header, {"alg": "RS256", "kid": data["token_kid"], "typ": "JWT"})
        self.assertEqual(claims["sub"], login)
        self.assertEqual(claims["iss"], OAUTH["PLUGIN_TOKEN_ISSUER"])
        self.assertEqual(claims["azp"], "smtp")
        self.assertEqual(claims["exp"], data["token_expires_at"])
        self.assertAlmostEqual(claims["exp"] - claims["iat"], 600, delta=2)

        for mechanism in ("OAUTHBEARER", "XOAUTH2"):
            code, smtp = token_login(login, token, mechanism)
            self.assertEqual(code, 235, mechanism)
            self.assertEqual(sender_code(smtp, PASSWORDLESS_SENDER), 250, mechanism)
            self.assertEqual(sender_code(smtp, OTHER_SENDER), 553, mechanism)
            smtp.quit()

        # No password for this login anywhere: no credentials row; in a dump of the
        # mail database it appears only as the owner of its sender.
        self.assertEqual(psql(f"SELECT count(*) FROM credentials WHERE username = '{login}'"),
                         ["0"])
        self.assertEqual(psql(f"SELECT address FROM sender_logins WHERE login = '{login}'"),
                         [PASSWORDLESS_SENDER])
        dump = subprocess.run([os.path.join(REPO, "scripts", "stack"), "psql", "-tA", "-c",
                               "COPY (SELECT 'credentials', username FROM credentials UNION ALL "
                               "SELECT 'sender_logins', login FROM sender_logins) TO STDOUT"],
                              check=True, capture_output=True, text=True).stdout
        tables = {line.split("\t")[0] for line in dump.splitlines() if line.endswith("\t" + login)}
        self.assertEqual(tables, {"sender_logins"})
        # ... and no file of the stack (configs, logs, the token-login Dovecot's state)
        # holds a password line for it: every Dovecot password scheme starts with "{".
        scheme = re.compile(re.escape(login).encode() + rb".{0,8}\{[A-Z0-9-]+\}")
        holders = []
        for root, _, files in os.walk(ENV["STACK_DIR"]):
            for name in files:
                path = os.path.join(root, name)
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue  # sockets and FIFOs (Dovecot's run dirs) are no files to read
                try:
                    with open(path, "rb") as f:
                        if scheme.search(f.read()):
                            holders.append(path)
                except OSError:
                    pass
        self.assertEqual(holders, [])
        # The token is a credential: it reached no log of the stack.
        for name in os.listdir(ENV["LOG_DIR"]):
            with open(os.path.join(ENV["LOG_DIR"], name), "rb") as f:
                self.assertNotIn(token.encode(), f.read(), name)

        # Revocation deletes the sender rows; the token, checked without the database,
        # still logs in until its exp but can send as nobody.
        bao("lease", "revoke", answer["lease_id"])
        self.assertEqual(psql(f"SELECT count(*) FROM sender_logins WHERE login = '{login}'"), ["0"])
        code, smtp = token_login(login, token)
        self.assertEqual(code, 235)
        self.assertEqual(sender_code(smtp, PASSWORDLESS_SENDER), 553)
        smtp.quit()

    def test_expired_and_tampered_tokens_get_535(self):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        good = creds(self)["data"]
        other = creds(self)["data"]
        login, token = good["username"], good["token"]
        head, body, sig = token.split(".")
        claims = json.loads(unb64url(body))
        forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

        def forged(claim_changes):
            c = dict(claims, **claim_changes)
            signing_input = f"{head}.{b64url(json.dumps(c).encode())}"
            signature = forged_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            return f"{signing_input}.{b64url(signature)}"

        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        cases = [
            ("changed signature", login, f"{head}.{body}.{flipped}"),
            ("changed claims, old signature", login,
             f"{head}.{b64url(json.dumps(dict(claims, sub=other['username'])).encode())}.{sig}"),
            ("another login's token", login, other["token"]),
            ("signed by an unpublished key under a published kid", login, forged({})),
            ("another issuer", login, forged({"iss": "https://evil.example.test/"})),
            ("not a JWT", login, "not-a-jwt"),
        ]
        for name, user, bad in cases:
            with self.subTest(name):
                code, smtp = token_login(user, bad)
                self.assertEqual(code, 535, name)
                smtp.close()
        # The good one still works: the refusals were about the tokens.
        code, smtp = token_login(login, token)
        self.assertEqual(code, 235)
        smtp.quit()

        # Expired: a role whose tokens live 2 s.
        bao("write", f"smtp/roles/{PASSWORDLESS_ROLE}-short", "credential_type=jwt", "ttl=2s",
            "max_ttl=2s", f"allowed_senders={PASSWORDLESS_SENDER}")
        self.addCleanup(bao, "delete", f"smtp/roles/{PASSWORDLESS_ROLE}-short")
        short = creds(self, f"{PASSWORDLESS_ROLE}-short")["data"]
        code, smtp = token_login(short["username"], short["token"])
        self.assertEqual(code, 235)
        smtp.quit()
        time.sleep(max(0.0, short["token_expires_at"] + 1.5 - time.time()))
        code, smtp = token_login(short["username"], short["token"])
        self.assertEqual(code, 535)
        smtp.close()

    def test_the_sidecar_sends_with_oauthbearer_through_a_key_rotation(self):
        # A 12 s token: the keeper replaces it at about 2/3 of that (8 s) while the run
        # below sends, so tokens of the old and of the new signing key are both used.
        ensure_passwordless_role(ttl="12s")
        self.addCleanup(ensure_passwordless_role, ttl="10m")
        role = bao("read", "-format=json", "auth/approle/role/example-app")["data"]
        original = ",".join(role["token_policies"])
        bao("write", "auth/approle/role/example-app",
            f"token_policies={original},smtp-sidecar-example-app-passwordless")
        self.addCleanup(bao, "write", "auth/approle/role/example-app",
                        f"token_policies={original}")
        # The role's logins that exist already (other suites' leases may outlive a
        # dev-mode OpenBao restart, which forgets them): this sidecar's are the new ones.
        logins_before = passwordless_logins()
        s = Sidecar(env={"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH": f"smtp/creds/{PASSWORDLESS_ROLE}",
                         "SMTP_SIDECAR_SMTP_PORT": OAUTH["SMTP_OAUTH_PORT"],
                         "SMTP_SIDECAR_VAULT_ROTATION_GRACE_SECONDS": "2"})
        self.addCleanup(s.cleanup)
        s.start()
        leased = s.events("credential_leased")
        self.assertTrue(leased and leased[0]["token"] is True, s.output())

        run = f"pwless-{os.urandom(4).hex()}"
        statuses, rotated_at = [], None
        deadline = time.monotonic() + 60
        for i in range(30):  # bounded: 30 messages, at most a minute
            if time.monotonic() > deadline:
                break
            if i == 4:
                rotated = bao("write", "-format=json", "-f", "smtp/jwt/rotate")["data"]
                rotated_at = time.time()
                sync_keys()  # publish the new next key (the new current one was already)
                self.assertIn(rotated["current_kid"], rotated["published_kids"])
            status, body, _ = s.send_raw(
                (f"From: {PASSWORDLESS_SENDER}\r\nTo: rcpt@example.test\r\n"
                 f"Subject: {run} {i}\r\n\r\nmessage {i}\r\n").encode(),
                PASSWORDLESS_SENDER, ["rcpt@example.test"])
            statuses.append((status, (body or {}).get("status") if isinstance(body, dict) else body))
            time.sleep(0.5)
        self.assertEqual(statuses, [(200, "sent")] * 30, s.output())
        leases = s.events("credential_leased")
        self.assertGreaterEqual(len(leases), 2, "the keeper did not replace its token")
        self.assertTrue(all(e["token"] is True for e in leases))
        self.assertIsNotNone(rotated_at)

        def delivered():
            subprocess.run(["postqueue", "-c", ENV["POSTFIX_CONF_DIR"], "-f"], capture_output=True)
            seen = set()
            for path in maildir_messages("rcpt@example.test"):
                with open(path, errors="replace") as f:
                    m = re.search(rf"Subject: {run} (\d+)", f.read())
                    if m:
                        seen.add(int(m.group(1)))
            return seen == set(range(30))
        self.assertTrue(wait_for(delivered, timeout=30), "not every message was delivered")
        # Postfix logged each login as a token login (sasl_method=OAUTHBEARER).
        with open(os.path.join(ENV["LOG_DIR"], "postfix.log"), errors="replace") as f:
            postfix_log = f.read()
        methods = set(re.findall(r"sasl_method=(\w+), sasl_username=smtp-example-app-passwordless",
                                 postfix_log))
        self.assertIn("OAUTHBEARER", methods)
        self.assertNotIn("PLAIN", methods)
        # At exit the keeper revokes its leases: no sender row of its logins is left.
        self.assertEqual(s.stop(), 0, s.output())
        self.assertTrue(wait_for(lambda: not passwordless_logins() - logins_before, timeout=15),
                        f"sender rows left: {sorted(passwordless_logins() - logins_before)}\n"
                        + "\n".join(str(e) for e in s.events("lease_revoke_failed")))
        self.assertNotIn(".eyJ", s.output())  # no token in the sidecar's log

    def test_doctor_probes_a_token_login(self):
        role = bao("read", "-format=json", "auth/approle/role/example-app")["data"]
        original = ",".join(role["token_policies"])
        bao("write", "auth/approle/role/example-app",
            f"token_policies={original},smtp-sidecar-example-app-passwordless")
        self.addCleanup(bao, "write", "auth/approle/role/example-app",
                        f"token_policies={original}")
        work = tempfile.mkdtemp(prefix="pwless-doctor-", dir="/tmp")
        secret_id = bao("write", "-format=json", "-f",
                        "auth/approle/role/example-app/secret-id")["data"]["secret_id"]
        with open(ENV["APPROLE_ROLE_ID_FILE"]) as f:
            role_id = f.read().strip()
        for name, value in (("secret-id", secret_id), ("role-id", role_id)):
            fd = os.open(os.path.join(work, name), os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value)
        config = os.path.join(work, "doctor.toml")
        with open(config, "w") as f:
            f.write(f"""[vault]
address = "{ENV['VAULT_ADDR']}"
role_id_file = "{work}/role-id"
secret_id_file = "{work}/secret-id"
credential_path = "smtp/creds/{PASSWORDLESS_ROLE}"

[smtp]
host = "{ENV['SMTP_HOST']}"
port = {OAUTH['SMTP_OAUTH_PORT']}
tls = "starttls"
ca_file = "{ENV['SMTP_CA_FILE']}"

[listen]
socket = "{work}/doctor.sock"
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        binary = os.environ.get("SMTP_SIDECAR_BIN",
                                os.path.join(REPO, "build", "dev", "sidecar", "smtp-sidecar"))
        proc = subprocess.run([binary, "doctor", "-c", config], capture_output=True, text=True,
                              env=env, timeout=120)
        subprocess.run(["rm", "-rf", work], check=False)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        smtp_lines = [line for line in proc.stdout.splitlines() if line.startswith("[ ok ] smtp:")]
        self.assertTrue(smtp_lines and "AUTH accepted" in smtp_lines[0], proc.stdout)


if __name__ == "__main__":
    unittest.main()
