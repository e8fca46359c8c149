"""OAuth2 token sources and passwordless SMTP logins, against real servers (issue 18).

Runs on the stack (scripts/stack start) plus its oauth part (scripts/stack-oauth start):
a real ORY Hydra (client credentials, JWT access tokens), the stack's real OpenBao
(where the client's secret or private key lives, in KV), the real Postfix and a Dovecot
whose only passdb is oauth2 (local JWT validation).

- The keeper's OAuth2 path (oauth_token_probe: AppRole login, client material from
  OpenBao KV, token request) with client_secret_post, client_secret_basic and
  private_key_jwt (RS256 and ES256 keys): Hydra issues a token, its introspection says
  active for the right client and scope. Refusals are named: a wrong secret
  (invalid_client), a scope the client may not have (invalid_scope), an unreachable
  endpoint (unavailable, temporary), a KV secret without the field.
- Passwordless login: that token in AUTH OAUTHBEARER and AUTH XOAUTH2 through Postfix's
  token port; a mail sent as the login's own sender is delivered; another sender is
  refused by the sender login maps (553); an expired token, a tampered one and one for
  another login get 535; the login has no row in the credentials table.
- Key rotation without a failed send: a new signing key is published (synced to
  Dovecot) before Hydra signs with it; tokens of the old key and of the new one both
  log in.
- Through the real smtp-sidecar (keeper to worker to Postfix): an [[oauth2]] client
  with its secret in OpenBao KV (client_secret_post), and one registered with a JWKS
  (private_key_jwt, RS256 key in KV). Hydra's tokens live 20 s: the keeper refreshes
  before expiry (two tokens seen, every send accepted, one after the first token's
  end). AUTH OAUTHBEARER where Postfix offers it, XOAUTH2 on the port that offers only
  XOAUTH2 (Postfix's log names the mechanism). A token the server stops taking (its
  signing key withdrawn from Hydra and Dovecot) gets 535: the keeper fetches one new
  token, the worker retries once, the message is sent.
- `smtp-sidecar doctor` with an [[oauth2]] client really asks Hydra and logs in with
  the token, and names each failure in plain words: token endpoint unreachable, invalid
  client (a wrong secret in KV), scope refused, XOAUTH2 / OAUTHBEARER rejected by the
  server (a token for another login). With a path answering an AWS IAM key (the ses
  kind) it names an SES region without an SMTP endpoint, or derives the SES login as the
  keeper does, waits the IAM propagation time and logs in with it.

Run as a script (ctest does): it exits 77 (skipped) when the oauth part is not running.
"""
import base64
import json
import os
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import stacklib
from stacklib import ENV, REPO, Sidecar, bao, psql

PROBE = os.environ.get("SIDECAR_OAUTH_PROBE_BIN",
                       os.path.join(REPO, "build", "dev", "tests", "sidecar", "keeper",
                                    "oauth_token_probe"))


def oauth_env():
    out = subprocess.run([os.path.join(REPO, "scripts", "stack-oauth"), "env"],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


OAUTH = {}  # filled in by main() once the oauth part runs
KV_PATH = "smtp-oauth/example-app"


def http_json(method, url, body=None, form=None):
    data, headers = None, {"Accept": "application/json"}
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text else None


def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def hydra_client(client_id, **fields):
    """(Re)creates a client-credentials client in Hydra."""
    http_json("DELETE", f"{OAUTH['HYDRA_ADMIN']}/admin/clients/{client_id}")
    client = {"client_id": client_id, "grant_types": ["client_credentials"],
              "response_types": ["token"], "scope": "smtp", "access_token_strategy": "jwt",
              **fields}
    status, answer = http_json("POST", f"{OAUTH['HYDRA_ADMIN']}/admin/clients", body=client)
    assert status == 201, (status, answer)
    return answer


def introspect(token):
    status, answer = http_json("POST", f"{OAUTH['HYDRA_ADMIN']}/admin/oauth2/introspect",
                               form={"token": token})
    assert status == 200, (status, answer)
    return answer


def key_pair(kind, kid):
    """A private key (PEM) and its public JWK, made with python3-cryptography."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def b64(n, length=None):
        raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    if kind == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": b64(numbers.n), "e": b64(numbers.e)}
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x, 32), "y": b64(numbers.y, 32)}
    jwk.update({"kid": kid, "alg": kind, "use": "sig"})
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, jwk


def probe(args, check=True):
    """oauth_token_probe with the example-app-oauth AppRole; (token or None, stderr)."""
    proc = subprocess.run([PROBE, f"vault={ENV['VAULT_ADDR']}",
                           f"role_id_file={ProbeFiles.role_id}",
                           f"secret_id_file={ProbeFiles.secret_id}", *args],
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"probe failed: {proc.stderr.strip()}")
    return (proc.stdout.strip() or None), proc.stderr.strip()


class ProbeFiles:
    role_id = secret_id = None


def token_login(mechanism, user, token, port=None):
    """AUTH <mechanism> with the token on the passwordless port; (code, smtp)."""
    context = ssl.create_default_context(cafile=ENV["SMTP_CA_FILE"])
    smtp = smtplib.SMTP(ENV["SMTP_HOST"], int(port or OAUTH["SMTP_OAUTH_PORT"]), timeout=20)
    smtp.starttls(context=context)
    smtp.ehlo("oauth-test.example.test")
    if mechanism == "OAUTHBEARER":  # RFC 7628 3.1
        raw = f"n,a={user},\x01auth=Bearer {token}\x01\x01"
    else:  # XOAUTH2
        raw = f"user={user}\x01auth=Bearer {token}\x01\x01"
    code, _ = smtp.docmd("AUTH", f"{mechanism} {base64.b64encode(raw.encode()).decode()}")
    if code == 334:  # the server's error challenge: answer with an empty line (RFC 7628 3.2.3)
        code, _ = smtp.docmd("")
    return code, smtp


class OAuthTokenSources(unittest.TestCase):
    endpoint = None

    @classmethod
    def setUpClass(cls):
        cls.endpoint = f"{OAUTH['HYDRA_PUBLIC']}/oauth2/token"
        cls.tmp = tempfile.TemporaryDirectory()
        role = OAUTH["OAUTH_LOGIN"]
        ProbeFiles.role_id = os.path.join(cls.tmp.name, "role-id")
        ProbeFiles.secret_id = os.path.join(cls.tmp.name, "secret-id")
        with open(ProbeFiles.role_id, "w") as f:
            f.write(bao("read", "-format=json", f"auth/approle/role/{role}/role-id")["data"]["role_id"])
        cls.new_secret_id()
        cls.secret = base64.b64encode(os.urandom(24)).decode()
        cls.rsa_pem, cls.rsa_jwk = key_pair("RS256", "sidecar-rsa-1")
        cls.ec_pem, ec_jwk = key_pair("ES256", "sidecar-ec-1")
        # The login is the client id (the token's sub): one client per method.
        hydra_client(role, client_secret=cls.secret, token_endpoint_auth_method="client_secret_post")
        hydra_client("example-app-basic", client_secret=cls.secret,
                     token_endpoint_auth_method="client_secret_basic")
        hydra_client("example-app-rsa", token_endpoint_auth_method="private_key_jwt",
                     token_endpoint_auth_signing_alg="RS256", jwks={"keys": [cls.rsa_jwk]})
        hydra_client("example-app-ec", token_endpoint_auth_method="private_key_jwt",
                     token_endpoint_auth_signing_alg="ES256", jwks={"keys": [ec_jwk]})
        # The client material lives in OpenBao only (KV v2), given on stdin.
        material = {"client_secret": cls.secret, "rsa_key": cls.rsa_pem, "ec_key": cls.ec_pem,
                    "wrong_secret": "not-the-secret"}
        proc = subprocess.run([stacklib.CLI, "kv", "put", "-mount=secret", KV_PATH, "-"],
                              input=json.dumps(material), capture_output=True, text=True,
                              env={**os.environ, "VAULT_ADDR": ENV["VAULT_ADDR"],
                                   "VAULT_TOKEN": read_text(ENV["VAULT_TOKEN_FILE"]).strip()})
        assert proc.returncode == 0, proc.stderr

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def new_secret_id(cls):
        role = OAUTH["OAUTH_LOGIN"]
        answer = bao("write", "-f", "-format=json", f"auth/approle/role/{role}/secret-id")
        with open(ProbeFiles.secret_id, "w") as f:
            f.write(answer["data"]["secret_id"])

    def fetch(self, client_id, field, auth, scope="smtp", check=True):
        return probe([f"kv=secret/{KV_PATH}", f"field={field}", f"endpoint={self.endpoint}",
                      f"client_id={client_id}", f"scope={scope}", f"auth={auth}"], check=check)

    def test_each_client_authentication_gets_a_token_hydra_vouches_for(self):
        cases = [(OAUTH["OAUTH_LOGIN"], "client_secret", "client_secret_post"),
                 ("example-app-basic", "client_secret", "client_secret_basic"),
                 ("example-app-rsa", "rsa_key", "private_key_jwt"),
                 ("example-app-ec", "ec_key", "private_key_jwt")]
        for client_id, field, auth in cases:
            with self.subTest(client=client_id, auth=auth):
                token, err = self.fetch(client_id, field, auth)
                self.assertRegex(err, r"^ok expires_in=\d+ scope=smtp$")
                self.assertGreater(int(err.split()[1].split("=")[1]), 60)
                self.assertEqual(token.count("."), 2, "a JWT access token")
                info = introspect(token)
                self.assertTrue(info["active"])
                self.assertEqual(info["client_id"], client_id)
                self.assertEqual(info["scope"], "smtp")

    def test_refusals_are_named(self):
        cases = [
            # (client, field, auth, scope, refusal word, kind, text)
            (OAUTH["OAUTH_LOGIN"], "wrong_secret", "client_secret_post", "smtp",
             "invalid_client", "permanent", "client authentication failed"),
            ("example-app-rsa", "ec_key", "private_key_jwt", "smtp",
             "invalid_client", "permanent", "invalid_client"),
            (OAUTH["OAUTH_LOGIN"], "client_secret", "client_secret_post", "admin",
             "invalid_scope", "permanent", "not granted to this client"),
            (OAUTH["OAUTH_LOGIN"], "no_such_field", "client_secret_post", "smtp",
             "none", "permanent", "has no field no_such_field"),
        ]
        for client_id, field, auth, scope, refusal, kind, text in cases:
            with self.subTest(client=client_id, field=field, scope=scope):
                token, err = self.fetch(client_id, field, auth, scope=scope, check=False)
                self.assertIsNone(token)
                self.assertIn(f"refusal={refusal} kind={kind}", err)
                self.assertIn(text, err)
                self.assertNotIn(self.secret, err)

    def test_unreachable_endpoint_is_temporary(self):
        token, err = probe([f"kv=secret/{KV_PATH}", "field=client_secret",
                            "endpoint=http://127.0.0.1:9/oauth2/token",
                            f"client_id={OAUTH['OAUTH_LOGIN']}", "scope=smtp"], check=False)
        self.assertIsNone(token)
        self.assertIn("refusal=unavailable kind=temporary", err)
        self.assertIn("unreachable", err)


class PasswordlessLogin(unittest.TestCase):
    """AUTH OAUTHBEARER/XOAUTH2 through the stack's real Postfix and Dovecot."""

    @classmethod
    def setUpClass(cls):
        OAuthTokenSources.setUpClass()
        cls.login = OAUTH["OAUTH_LOGIN"]
        cls.token, _ = probe([f"kv=secret/{KV_PATH}", "field=client_secret",
                              f"endpoint={OAUTH['HYDRA_PUBLIC']}/oauth2/token",
                              f"client_id={cls.login}", "scope=smtp"])
        sync_keys()

    @classmethod
    def tearDownClass(cls):
        OAuthTokenSources.tearDownClass()

    def test_no_password_exists_for_the_login(self):
        self.assertEqual(psql(f"SELECT count(*) FROM credentials WHERE username = '{self.login}'"),
                         ["0"])
        self.assertEqual(psql(f"SELECT login FROM sender_logins WHERE address = "
                              f"'{OAUTH['OAUTH_SENDER']}'"), [self.login])

    def test_both_mechanisms_log_in_and_the_mail_is_delivered(self):
        for mechanism in ("OAUTHBEARER", "XOAUTH2"):
            with self.subTest(mechanism=mechanism):
                code, smtp = token_login(mechanism, self.login, self.token)
                self.assertEqual(code, 235)
                marker = f"oauth-{mechanism}-{os.urandom(4).hex()}"
                message = (f"From: {OAUTH['OAUTH_SENDER']}\r\nTo: rcpt@example.test\r\n"
                           f"Subject: {marker}\r\n\r\npasswordless\r\n")
                refused = smtp.sendmail(OAUTH["OAUTH_SENDER"], ["rcpt@example.test"], message)
                self.assertEqual(refused, {})
                smtp.quit()
                self.assertTrue(stacklib.wait_for(
                    lambda: any(marker in read_text(m)
                                    for m in stacklib.maildir_messages("rcpt@example.test")),
                    timeout=20), "the mail was not delivered")

    def test_sender_login_maps_still_bind_senders(self):
        code, smtp = token_login("OAUTHBEARER", self.login, self.token)
        self.assertEqual(code, 235)
        code, reply = smtp.docmd("MAIL FROM:<app@example.test>")
        self.assertEqual(code, 250)  # Postfix checks the sender at RCPT
        code, reply = smtp.docmd("RCPT TO:<rcpt@example.test>")
        self.assertEqual(code, 553, reply)
        self.assertIn(b"not owned by user", reply)
        smtp.quit()

    def test_tampered_expired_and_foreign_tokens_get_535(self):
        header, claims, signature = self.token.split(".")
        payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
        payload["sub"] = "someone-else"
        forged_claims = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
        cases = [
            ("signature changed", self.login, f"{header}.{claims}.{flipped}"),
            ("claims changed", "someone-else", f"{header}.{forged_claims}.{signature}"),
            ("token of another login", "example-app-basic", self.token),
            ("not a JWT", self.login, "not-a-token"),
        ]
        for name, user, token in cases:
            with self.subTest(case=name):
                code, smtp = token_login("OAUTHBEARER", user, token)
                self.assertEqual(code, 535)
                smtp.close()

    def test_expired_token_gets_535(self):
        # A client whose tokens live 2 s (Hydra's per-client lifespan), then wait them out.
        hydra_client("example-app-short", client_secret=OAuthTokenSources.secret,
                     token_endpoint_auth_method="client_secret_post",
                     client_credentials_grant_access_token_lifespan="2s")
        token, _ = probe([f"kv=secret/{KV_PATH}", "field=client_secret",
                          f"endpoint={OAUTH['HYDRA_PUBLIC']}/oauth2/token",
                          "client_id=example-app-short", "scope=smtp"])
        psql("INSERT INTO sender_logins (address, login) VALUES ('short@example.test', "
             "'example-app-short') ON CONFLICT DO NOTHING")
        code, smtp = token_login("XOAUTH2", "example-app-short", token)
        self.assertEqual(code, 235)
        smtp.quit()
        time.sleep(3.2)
        code, smtp = token_login("XOAUTH2", "example-app-short", token)
        self.assertEqual(code, 535)
        smtp.close()

    def test_key_rotation_fails_no_send(self):
        old_token = self.token
        # The next key is published (and synced) before anything is signed with it.
        status, answer = http_json("POST", f"{OAUTH['HYDRA_ADMIN']}/admin/keys/hydra.jwt.access-token",
                                   body={"alg": "RS256", "use": "sig", "kid": f"rotated-{os.urandom(3).hex()}"})
        self.assertEqual(status, 201, answer)
        sync_keys()
        new_token, _ = probe([f"kv=secret/{KV_PATH}", "field=client_secret",
                              f"endpoint={OAUTH['HYDRA_PUBLIC']}/oauth2/token",
                              f"client_id={self.login}", "scope=smtp"])
        self.assertNotEqual(json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"],
                            json.loads(base64.urlsafe_b64decode(old_token.split(".")[0] + "=="))["kid"])
        for name, token in (("old key", old_token), ("new key", new_token)):
            with self.subTest(token=name):
                code, smtp = token_login("OAUTHBEARER", self.login, token)
                self.assertEqual(code, 235)
                smtp.quit()


class SidecarWithOAuth2(unittest.TestCase):
    """The real smtp-sidecar with an [[oauth2]] client against Hydra, Postfix, Dovecot."""
    TOKEN_SECONDS = 20
    MARGIN_SECONDS = 8  # refresh at 12 s (60 %), well before the token's end

    @classmethod
    def setUpClass(cls):
        OAuthTokenSources.setUpClass()
        cls.login = OAUTH["OAUTH_LOGIN"]
        sync_keys()
        # The sidecar's AppRole (example-app) may read the client material too.
        role = bao("read", "-format=json", "auth/approle/role/example-app")["data"]
        cls.original_policies = ",".join(role["token_policies"])
        bao("write", "auth/approle/role/example-app",
            f"token_policies={cls.original_policies},smtp-sidecar-example-app-oauth")

    @classmethod
    def tearDownClass(cls):
        bao("write", "auth/approle/role/example-app", f"token_policies={cls.original_policies}")
        OAuthTokenSources.tearDownClass()

    def register(self, **fields):
        """The login's Hydra client (its id is the token's sub = the SMTP login)."""
        hydra_client(self.login, client_credentials_grant_access_token_lifespan=f"{self.TOKEN_SECONDS}s",
                     **fields)

    def sidecar(self, port, authentication="client_secret_post", field="client_secret"):
        config = f"""
[[oauth2]]
name = "hydra"
token_endpoint = "{OAUTH['HYDRA_PUBLIC']}/oauth2/token"
client_id = "{self.login}"
scope = "smtp"
authentication = "{authentication}"
kv_mount = "secret"
kv_path = "{KV_PATH}"
kv_field = "{field}"
refresh_margin_seconds = {self.MARGIN_SECONDS}
"""
        s = Sidecar(extra_config=config,
                    env={"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH": "oauth2:hydra",
                         "SMTP_SIDECAR_SMTP_PORT": str(port),
                         # Every message on a new connection, so every send logs in.
                         "SMTP_SIDECAR_SMTP_MAX_MESSAGES_PER_CONNECTION": "1"})
        self.addCleanup(s.cleanup)
        return s

    def send(self, s, label):
        marker = f"oauth-sidecar-{label}-{os.urandom(4).hex()}"
        sender = OAUTH["OAUTH_SENDER"]
        status, body, _ = s.send_raw(
            f"From: {sender}\r\nTo: rcpt@example.test\r\nSubject: {marker}\r\n\r\n{label}\r\n".encode(),
            sender, ["rcpt@example.test"])
        self.assertEqual(status, 200, (body, s.output()[-3000:]))
        self.assertEqual(body["status"], "sent", body)
        return marker

    def assert_delivered(self, markers):
        def arrived():
            texts = [read_text(m) for m in stacklib.maildir_messages("rcpt@example.test")]
            return all(any(marker in t for t in texts) for marker in markers)
        self.assertTrue(stacklib.wait_for(arrived, timeout=30), "not every mail was delivered")

    def postfix_logins(self, since, mechanism):
        """Postfix's 'sasl_method=<mechanism>, sasl_username=<login>' lines after `since`."""
        with open(os.path.join(ENV["LOG_DIR"], "postfix.log"), errors="replace") as f:
            f.seek(since)
            text = f.read()
        return text.count(f"sasl_method={mechanism}, sasl_username={self.login}")

    def postfix_log_size(self):
        return os.path.getsize(os.path.join(ENV["LOG_DIR"], "postfix.log"))

    def check_refresh_before_expiry(self, port, mechanism, **client):
        s = self.sidecar(port, **client)
        log_start = self.postfix_log_size()
        s.start()
        markers = [self.send(s, "first")]
        # The keeper's second token, before the first one ends (the log's times).
        self.assertTrue(stacklib.wait_for(lambda: len(s.events("oauth2_token_obtained")) >= 2,
                                          timeout=self.TOKEN_SECONDS + 5, interval=0.2),
                        s.output())
        obtained = [event_time(e) for e in s.events("oauth2_token_obtained")]
        self.assertLess(obtained[1] - obtained[0], self.TOKEN_SECONDS)
        markers.append(self.send(s, "second"))
        # After the first token's end: still no failed send.
        time.sleep(max(0.0, obtained[0] + self.TOKEN_SECONDS + 1 - time.time()))
        markers.append(self.send(s, "third"))
        sent = s.events("message_sent")
        self.assertEqual([e["outcome"] for e in sent], ["accepted"] * 3, sent)
        tokens = [e["lease_id"] for e in sent]
        self.assertEqual(tokens[0], "oauth2:hydra#1")
        self.assertNotEqual(tokens[2], "oauth2:hydra#1")
        self.assertEqual(s.events("credential_refused_by_smtp_server"), [])
        rotated = [e for e in s.events("credential_rotated") if e.get("reason") == "oauth2_refresh"]
        self.assertGreaterEqual(len(rotated), 1)
        self.assert_delivered(markers)
        self.assertTrue(stacklib.wait_for(lambda: self.postfix_logins(log_start, mechanism) >= 3,
                                          timeout=10), f"Postfix did not log 3 {mechanism} logins")
        output = s.output()
        self.assertNotIn(OAuthTokenSources.secret, output)
        self.assertNotIn("eyJ", output)  # no JWT (token or assertion) in the log

    def test_oauthbearer_with_a_client_secret_refreshes_before_expiry(self):
        self.register(client_secret=OAuthTokenSources.secret,
                      token_endpoint_auth_method="client_secret_post")
        self.check_refresh_before_expiry(OAUTH["SMTP_OAUTH_PORT"], "OAUTHBEARER")

    def test_xoauth2_with_a_private_key_jwt_refreshes_before_expiry(self):
        # The client is registered with the public half of the RSA key whose private
        # half only OpenBao KV holds (field rsa_key).
        self.register(token_endpoint_auth_method="private_key_jwt",
                      token_endpoint_auth_signing_alg="RS256",
                      jwks={"keys": [OAuthTokenSources.rsa_jwk]})
        self.check_refresh_before_expiry(OAUTH["SMTP_XOAUTH2_PORT"], "XOAUTH2",
                                         authentication="private_key_jwt", field="rsa_key")

    def test_a_token_the_server_stops_taking_gets_one_refresh_and_one_retry(self):
        # Tokens long enough that no refresh comes in between.
        hydra_client(self.login, client_secret=OAuthTokenSources.secret,
                     token_endpoint_auth_method="client_secret_post",
                     client_credentials_grant_access_token_lifespan="300s")
        s = self.sidecar(OAUTH["SMTP_OAUTH_PORT"])
        s.start()
        markers = [self.send(s, "before")]
        # The signing key of the sidecar's token is withdrawn: Hydra signs with a new
        # one, Dovecot no longer has the old one (its key cache goes with a reload).
        self.assertEqual(len(s.events("oauth2_token_obtained")), 1)
        status, keys = http_json("GET", f"{OAUTH['HYDRA_ADMIN']}/admin/keys/hydra.jwt.access-token")
        self.assertEqual(status, 200, keys)
        old_kids = [k["kid"] for k in keys["keys"]]
        status, answer = http_json("POST", f"{OAUTH['HYDRA_ADMIN']}/admin/keys/hydra.jwt.access-token",
                                   body={"alg": "RS256", "use": "sig",
                                         "kid": f"after-withdrawal-{os.urandom(3).hex()}"})
        self.assertEqual(status, 201, answer)
        for kid in old_kids:
            http_json("DELETE", f"{OAUTH['HYDRA_ADMIN']}/admin/keys/hydra.jwt.access-token/{kid}")
        sync_keys()
        # Dovecot keeps the keys it has used in memory (its oauth2 key cache) for as long
        # as its auth process lives, and Postfix's smtpd processes stay connected to it:
        # the token-login Dovecot is restarted (stack-oauth start brings it back and
        # reloads Postfix), as an operator withdrawing a key would.
        pid_file = os.path.join(os.path.dirname(OAUTH["DOVECOT_OAUTH2_CONF"]), "dovecot", "run",
                                "master.pid")
        with open(pid_file) as f:
            master = int(f.read().strip())
        subprocess.run(["doveadm", "-c", OAUTH["DOVECOT_OAUTH2_CONF"], "stop"], check=True,
                       capture_output=True)

        def gone():
            try:
                os.kill(master, 0)
                return False
            except ProcessLookupError:
                return True
        self.assertTrue(stacklib.wait_for(gone, timeout=10), "the token-login Dovecot did not stop")
        subprocess.run([os.path.join(REPO, "scripts", "stack-oauth"), "start"], check=True,
                       capture_output=True)
        markers.append(self.send(s, "after"))  # 535, one new token, one retry: sent
        sent = s.events("message_sent")
        self.assertEqual([(e["outcome"], e["lease_id"]) for e in sent],
                         [("accepted", "oauth2:hydra#1"), ("auth_refused", "oauth2:hydra#1"),
                          ("accepted", "oauth2:hydra#2")], sent)
        # Dovecot answered the refused OAUTHBEARER with its 334 error JSON, the relay
        # acknowledged it, and the 535 that followed is what the worker reported.
        self.assertEqual(sent[1]["smtp_code"], 535, sent[1])
        self.assertIn("AUTH OAUTHBEARER refused", sent[1]["detail"])
        refused = s.events("credential_refused_by_smtp_server")
        self.assertEqual([(e["lease_id"], e["kind"]) for e in refused],
                         [("oauth2:hydra#1", "oauth2_token")])
        self.assertEqual(len(s.events("oauth2_token_obtained")), 2)  # one refresh, no loop
        self.assert_delivered(markers)


class DoctorWithOAuth2(unittest.TestCase):
    """doctor's token step and the token's SMTP login, against Hydra, Postfix, Dovecot."""

    @classmethod
    def setUpClass(cls):
        SidecarWithOAuth2.setUpClass()
        cls.login = OAUTH["OAUTH_LOGIN"]
        hydra_client(cls.login, client_secret=OAuthTokenSources.secret,
                     token_endpoint_auth_method="client_secret_post")

    @classmethod
    def tearDownClass(cls):
        SidecarWithOAuth2.tearDownClass()

    def doctor(self, expect_rc, port=None, endpoint=None, field="client_secret", scope="smtp",
               sasl_user=None):
        secret_id = bao("write", "-format=json", "-f",
                        "auth/approle/role/example-app/secret-id")["data"]["secret_id"]
        tmp = tempfile.mkdtemp(prefix="doctor-oauth-", dir="/tmp")
        self.addCleanup(subprocess.run, ["rm", "-rf", tmp])
        secret_file = os.path.join(tmp, "secret-id")
        with open(secret_file, "w") as f:
            f.write(secret_id)
        config = f"""
[[oauth2]]
name = "hydra"
token_endpoint = "{endpoint or OAUTH['HYDRA_PUBLIC'] + '/oauth2/token'}"
client_id = "{self.login}"
scope = "{scope}"
kv_path = "{KV_PATH}"
kv_field = "{field}"
sasl_user = "{sasl_user or self.login}"
"""
        s = Sidecar(secret_id_file=secret_file, extra_config=config)
        self.addCleanup(s.cleanup)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        env.update({"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH": "oauth2:hydra",
                    "SMTP_SIDECAR_SMTP_PORT": str(port or OAUTH["SMTP_OAUTH_PORT"])})
        proc = subprocess.run([s.binary, "doctor", "-c", s.config_path], capture_output=True,
                              text=True, env=env, timeout=120)
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, expect_rc, out)
        self.assertNotIn(OAuthTokenSources.secret, out)
        self.assertNotIn("eyJ", out)  # no token in doctor's output
        return out

    def line(self, out, status, step):
        lines = out.splitlines()
        for i, text in enumerate(lines):
            if text.startswith(f"[{status}] {step}:"):
                hint = lines[i + 1] if i + 1 < len(lines) and "hint:" in lines[i + 1] else ""
                return text + "\n" + hint
        self.fail(f"no [{status}] {step} line in:\n{out}")

    def test_a_working_client_gets_a_token_that_logs_in(self):
        for port in (OAUTH["SMTP_OAUTH_PORT"], OAUTH["SMTP_XOAUTH2_PORT"]):
            with self.subTest(port=port):
                out = self.doctor(0, port=port)
                self.assertIn("issued a token for scope smtp", self.line(out, " ok ", "token"))
                self.assertIn("AUTH accepted", self.line(out, " ok ", "smtp"))

    def test_each_failure_is_named_in_plain_words(self):
        cases = [
            ("unreachable", dict(endpoint="http://127.0.0.1:9/oauth2/token"), "token",
             "unreachable"),
            ("invalid client", dict(field="wrong_secret"), "token",
             "the token endpoint refused the client: invalid client"),
            ("scope refused", dict(scope="admin"), "token", "the token endpoint refused the scope admin"),
            ("OAUTHBEARER rejected", dict(sasl_user="someone-else"), "smtp",
             "OAUTHBEARER rejected by the server (535"),
            ("XOAUTH2 rejected", dict(sasl_user="someone-else", port=OAUTH["SMTP_XOAUTH2_PORT"]),
             "smtp", "XOAUTH2 rejected by the server (535"),
        ]
        for name, args, step, words in cases:
            with self.subTest(case=name):
                out = self.doctor(1, **args)
                self.assertIn(words, self.line(out, "FAIL", step))


class DoctorNamesTheSesRegion(unittest.TestCase):
    """doctor with a credential path that answers an AWS IAM key (the ses kind): the
    region is named when it has no SES SMTP endpoint; otherwise the login is derived as
    the keeper does and logs in (the stack's Postfix/Dovecot playing SES with the
    password of an independent derivation, as in test_ses_login.py)."""
    MOUNT, POLICY = "ses-kv", "ses-kv-doctor-read"

    def setUp(self):
        from seslib import play_ses, serve_iam_key_from_kv, ses_smtp_password
        self.access_key = "AKIA" + os.urandom(8).hex().upper()
        self.secret_key = base64.b64encode(os.urandom(30)).decode()
        serve_iam_key_from_kv(self, self.MOUNT, "doctor-app", self.POLICY, self.access_key,
                              self.secret_key)
        self.login = play_ses(self, self.access_key,
                              ses_smtp_password(self.secret_key, "eu-west-1"))

    def doctor(self, region, expect_rc):
        secret_id = bao("write", "-format=json", "-f",
                        "auth/approle/role/example-app/secret-id")["data"]["secret_id"]
        tmp = tempfile.mkdtemp(prefix="doctor-ses-", dir="/tmp")
        self.addCleanup(subprocess.run, ["rm", "-rf", tmp])
        secret_file = os.path.join(tmp, "secret-id")
        with open(secret_file, "w") as f:
            f.write(secret_id)
        s = Sidecar(secret_id_file=secret_file)
        self.addCleanup(s.cleanup)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        env.update({"SMTP_SIDECAR_VAULT_CREDENTIAL_PATH": f"{self.MOUNT}/doctor-app",
                    "SMTP_SIDECAR_VAULT_SES_REGION": region,
                    "SMTP_SIDECAR_VAULT_SES_PROPAGATION_SECONDS": "1"})
        proc = subprocess.run([s.binary, "doctor", "-c", s.config_path], capture_output=True,
                              text=True, env=env, timeout=120)
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, expect_rc, out)
        self.assertNotIn(self.secret_key, out)
        return out

    def test_a_region_without_ses_smtp_is_named(self):
        out = self.doctor("xx-nowhere-1", 1)
        self.assertIn("[FAIL] ses: SES region xx-nowhere-1 has no SES SMTP endpoint", out)

    def test_the_ses_login_is_derived_and_logs_in(self):
        out = self.doctor("eu-west-1", 0)
        self.assertIn("[ ok ] ses: SES region eu-west-1 (email-smtp.eu-west-1.amazonaws.com)", out)
        self.assertIn("the SES SMTP login derived for eu-west-1", out)
        self.assertIn("AUTH accepted", out)


def event_time(event):
    """A log line's "ts" (UTC, milliseconds) as seconds since the epoch."""
    import datetime
    return datetime.datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def sync_keys():
    subprocess.run([os.path.join(REPO, "scripts", "stack-oauth"), "sync-keys"], check=True,
                   capture_output=True)


HYDRA_BIN = os.environ.get("SIDECAR_HYDRA_BIN", os.path.join(REPO, ".hydra-bin", "hydra"))

if __name__ == "__main__":
    if not os.path.exists(HYDRA_BIN) or not os.path.exists(PROBE):
        print("SKIP: ORY Hydra is not installed (scripts/install-hydra) or oauth_token_probe "
              "is not built")
        sys.exit(77)
    # Idempotent; also brings back the token port when another test restarted the stack
    # (scripts/stack start renders master.cf anew).
    subprocess.run([os.path.join(REPO, "scripts", "stack-oauth"), "start"], check=True,
                   capture_output=True)
    OAUTH.update(oauth_env())
    unittest.main(verbosity=2)
