"""End-to-end: smtp-sidecar against real OpenBao, PostgreSQL, Dovecot and Postfix.

Needs the stack running and bootstrapped (scripts/test does both). Each test starts its
own sidecar process with its own socket.
"""
import email
import email.policy
import json
import os
import signal
import unittest
import uuid

from stacklib import (CREDENTIAL_PATH, ENV, Sidecar, bao, fresh_secret_id, logins, maildir_messages, psql,
                      smtp_login, wait_for)

SENDER = "app@example.test"


def message(subject, body, to):
    return (f"From: Example App <{SENDER}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4()}@example.test>\r\n\r\n{body}").encode()


class SidecarTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fresh_secret_id()
        cls.logins_before = logins()
        cls.sidecar = Sidecar().start()

    @classmethod
    def tearDownClass(cls):
        cls.sidecar.cleanup()

    def lease_id(self):
        leased = self.sidecar.events("credential_leased")
        self.assertTrue(leased, self.sidecar.output())
        return leased[-1]["lease_id"]

    def test_health_and_ready(self):
        status, body, _ = self.sidecar.request("GET", "/v1/health")
        self.assertEqual((status, body["status"]), (200, "ok"))
        status, body, _ = self.sidecar.request("GET", "/v1/ready")
        self.assertEqual((status, body["status"]), (200, "ready"))

    def test_mail_is_delivered_with_its_body_intact(self):
        rcpt = f"rcpt-{uuid.uuid4().hex[:8]}@example.test"
        body = "Line one\r\n.leading dot stays\r\nUnicode: gr\u00fc\u00dfe\r\n" + "x" * 900 + "\r\n"
        raw = message("e2e body check", body, rcpt).replace(
            b"\r\n\r\n", b"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n", 1)
        status, payload, _ = self.sidecar.send_raw(raw, SENDER, [rcpt])
        self.assertEqual(status, 200, payload)
        self.assertEqual(payload["status"], "sent")
        self.assertEqual(payload["smtp"]["code"], 250)
        files = wait_for(lambda: maildir_messages(rcpt))
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            delivered = email.message_from_bytes(f.read(), policy=email.policy.default)
        self.assertEqual(delivered["Subject"], "e2e body check")
        self.assertEqual(delivered["From"].addresses[0].addr_spec, SENDER)
        self.assertEqual(delivered.get_payload(decode=False).replace("\r\n", "\n"),
                         body.replace("\r\n", "\n"))
        self.assertIn("ESMTPSA", delivered["Received"])  # authenticated over TLS

    def test_the_lease_exists_in_openbao(self):
        lease_id = self.lease_id()
        self.assertTrue(lease_id.startswith(CREDENTIAL_PATH + "/"), lease_id)
        info = bao("lease", "lookup", "-format=json", lease_id)["data"]
        self.assertEqual(info["id"], lease_id)
        self.assertGreater(info["ttl"], 0)
        new_logins = logins() - self.logins_before
        self.assertEqual(len(new_logins), 1, "the sidecar's lease created one login")

    def test_a_sender_the_login_does_not_own_is_refused(self):
        status, payload, _ = self.sidecar.send_raw(message("spoof", "x\r\n", "a@example.test"),
                                                   "ceo@example.test", ["a@example.test"])
        self.assertEqual(status, 502, payload)
        self.assertEqual(payload["error"]["code"], "smtp_rejected")
        self.assertEqual(payload["error"]["smtp"]["code"], 553)
        self.assertIn("not owned by user", payload["error"]["smtp"]["message"])

    def test_http_errors(self):
        cases = [
            ("wrong content type", "POST", "/v1/messages?from=app@example.test&to=a@example.test",
             b"Subject: x\r\n\r\nb", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
            ("missing recipient", "POST", "/v1/messages?from=app@example.test",
             b"Subject: x\r\n\r\nb", {"Content-Type": "message/rfc822"}, 400, "missing_recipient"),
            ("header injection", "POST",
             "/v1/messages?from=app@example.test&to=a@example.test%0D%0ARCPT%20TO:%3Cb@c%3E",
             b"Subject: x\r\n\r\nb", {"Content-Type": "message/rfc822"}, 422, "invalid_address"),
            ("not a message", "POST", "/v1/messages?from=app@example.test&to=a@example.test",
             b"hello", {"Content-Type": "message/rfc822"}, 422, "invalid_message"),
            ("unknown path", "GET", "/v1/nothing", b"", {}, 404, "not_found"),
            ("wrong method", "GET", "/v1/messages", b"", {}, 405, "method_not_allowed"),
        ]
        for name, method, target, body, headers, want_status, want_code in cases:
            with self.subTest(name):
                status, payload, _ = self.sidecar.request(method, target, body, headers)
                self.assertEqual(status, want_status, payload)
                self.assertEqual(payload["error"]["code"], want_code)

    def test_too_large_is_413(self):
        big = b"Subject: big\r\n\r\n" + (b"a" * 998 + b"\r\n") * (26 * 1024)
        status, payload, _ = self.sidecar.send_raw(big, SENDER, ["a@example.test"])
        self.assertEqual(status, 413, payload)
        self.assertEqual(payload["error"]["code"], "message_too_large")

    def test_zz_revoked_lease_disables_the_login_and_the_sidecar_recovers(self):
        # Named zz so it runs last in this class: it revokes the sidecar's own lease.
        old_lease = self.lease_id()
        bao("lease", "revoke", old_lease)
        self.assertEqual(logins() - self.logins_before, set(), "the login is gone")
        rcpt = f"after-revoke-{uuid.uuid4().hex[:8]}@example.test"
        status, payload, _ = self.sidecar.send_raw(message("after revoke", "x\r\n", rcpt),
                                                   SENDER, [rcpt])
        # Postfix refused the revoked login (535); the keeper leased a new one and the
        # message went out with it.
        self.assertEqual(status, 200, payload)
        refused = self.sidecar.events("credential_refused_by_smtp_server")
        self.assertEqual([e["lease_id"] for e in refused], [old_lease])
        sent = [e for e in self.sidecar.events("message_sent") if e["smtp_code"] == 535]
        self.assertEqual(sent[-1]["lease_id"], old_lease)
        self.assertNotEqual(self.lease_id(), old_lease)
        self.assertTrue(wait_for(lambda: maildir_messages(rcpt)))


class LeaseRevocationAtPostfixTest(unittest.TestCase):
    def test_revoked_login_gets_535_at_postfix(self):
        secret = bao("read", "-format=json", CREDENTIAL_PATH)
        user, password = secret["data"]["username"], secret["data"]["password"]
        self.assertEqual(psql(f"SELECT count(*) FROM credentials WHERE username = '{user}'"), ["1"])
        self.assertEqual(smtp_login(user, password), 235)
        bao("lease", "revoke", secret["lease_id"])
        self.assertEqual(psql(f"SELECT count(*) FROM credentials WHERE username = '{user}'"), ["0"])
        self.assertEqual(psql(f"SELECT count(*) FROM sender_logins WHERE login = '{user}'"), ["0"])
        self.assertEqual(smtp_login(user, password), 535)


class StartupAndShutdownTest(unittest.TestCase):
    def test_wrong_secret_id_is_a_clear_startup_error(self):
        sidecar = Sidecar()
        bad = os.path.join(sidecar.dir, "bad_secret_id")
        with open(bad, "w") as f:
            f.write(str(uuid.uuid4()) + "\n")
        os.chmod(bad, 0o600)
        sidecar = Sidecar(secret_id_file=bad)
        try:
            sidecar.start(wait=False)
            rc = sidecar.proc.wait(timeout=30)
            out = sidecar.output()
            self.assertEqual(rc, 78, out)  # EX_CONFIG: restarting cannot fix it
            self.assertIn("vault login", out)
            self.assertIn("invalid role or secret ID", out)
            self.assertNotIn(open(bad).read().strip(), out, "the secret_id is never printed")
        finally:
            sidecar.cleanup()

    def test_sigterm_revokes_the_lease_and_the_login(self):
        fresh_secret_id()
        before = logins()
        sidecar = Sidecar().start()
        try:
            lease_id = sidecar.events("credential_leased")[-1]["lease_id"]
            mine = logins() - before
            self.assertEqual(len(mine), 1)
            self.assertEqual(sidecar.stop(signal.SIGTERM), 0, sidecar.output())
            self.assertTrue(sidecar.events("lease_revoked"), sidecar.output())
            proc = bao("lease", "lookup", lease_id, check=False)
            self.assertNotEqual(proc.returncode, 0, "the lease is gone from OpenBao")
            self.assertEqual(logins() & mine, set(), "the login is gone from PostgreSQL")
            self.assertFalse(os.path.exists(sidecar.socket))
        finally:
            sidecar.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
