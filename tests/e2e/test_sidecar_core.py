"""End-to-end: the sidecar core (JSON submissions, MIME, privilege-separated roles).

Needs the stack running and bootstrapped (scripts/test does both).
"""
import base64
import email
import email.policy
import os
import signal
import time
import unittest
import uuid

from stacklib import (ENV, Sidecar, delivered, fresh_secret_id, maildir_messages, postfix,
                      role_pids, wait_for)

SENDER = "app@example.test"


class CoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fresh_secret_id()
        cls.sidecar = Sidecar().start()

    @classmethod
    def tearDownClass(cls):
        cls.sidecar.cleanup()

    def post_json(self, body):
        import json
        return self.sidecar.request("POST", "/v1/messages", json.dumps(body).encode(),
                                    {"Content-Type": "application/json"})

    def test_smtp_connection_is_reused_for_messages_with_the_same_credential(self):
        log_path = os.path.join(ENV["LOG_DIR"], "postfix.log")

        def connects():
            with open(log_path, errors="replace") as f:
                return sum(1 for line in f if "/submission/smtpd" in line and "]: connect from" in line)

        # A first message opens (and keeps) the connection.
        status, _, _ = self.sidecar.send_raw(b"Subject: warm\r\n\r\nx\r\n", SENDER,
                                             ["reuse-warm@example.test"])
        self.assertEqual(status, 200)
        before = connects()
        started = time.monotonic()
        for i in range(20):
            status, body, _ = self.sidecar.send_raw(
                f"Subject: reuse {i}\r\n\r\nbody\r\n".encode(), SENDER, [f"reuse-{i}@example.test"])
            self.assertEqual(status, 200, body)
        elapsed = time.monotonic() - started
        self.assertEqual(connects() - before, 0, "a new SMTP connection was opened")
        print(f"\n  20 sequential sends on one reused connection: {elapsed * 1000 / 20:.1f} ms each")

    def test_sighup_reloads_smtp_settings_and_refuses_a_broken_file(self):
        s = Sidecar().start()
        try:
            with open(s.config_path) as f:
                original = f.read()
            # Switch to implicit TLS on the submissions port while running.
            with open(s.config_path, "w") as f:
                f.write(original.replace(f"port = {ENV['SMTP_STARTTLS_PORT']}",
                                         f"port = {ENV['SMTP_TLS_PORT']}")
                        .replace('tls = "starttls"', 'tls = "implicit"'))
            log_path = os.path.join(ENV["LOG_DIR"], "postfix.log")

            def implicit_tls_sessions():
                with open(log_path, errors="replace") as f:
                    return f.read().count("submissions/smtpd")

            before = implicit_tls_sessions()
            s.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: s.events("worker_reloaded"), timeout=10), s.output())
            status, body, _ = s.send_raw(b"Subject: after reload\r\n\r\nx\r\n", SENDER,
                                         ["reload@example.test"])
            self.assertEqual(status, 200, body)
            self.assertGreater(implicit_tls_sessions(), before)
            # A file that does not validate is refused; the sidecar keeps going.
            with open(s.config_path, "w") as f:
                f.write(original.replace('tls = "starttls"', 'tls = "bogus"'))
            s.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: s.events("config_reload_refused"), timeout=10))
            status, body, _ = s.send_raw(b"Subject: still\r\n\r\nx\r\n", SENDER,
                                         ["reload@example.test"])
            self.assertEqual(status, 200, body)
            self.assertIsNone(s.proc.poll())
        finally:
            s.cleanup()

    def test_vault_traffic_does_not_grow_with_mail_volume(self):
        import json
        audit_log = ENV["VAULT_AUDIT_LOG"]  # the stack's OpenBao audits every request

        def requests():
            if not os.path.exists(audit_log):
                return 0
            with open(audit_log) as f:
                return sum(1 for line in f if json.loads(line).get("type") == "request")

        self.sidecar.send_raw(b"Subject: warm\r\n\r\nx\r\n", SENDER, ["volume-warm@example.test"])
        before = requests()
        for i in range(50):
            status, body, _ = self.sidecar.send_raw(
                f"Subject: volume {i}\r\n\r\nx\r\n".encode(), SENDER, [f"volume-{i}@example.test"])
            self.assertEqual(status, 200, body)
        self.assertEqual(requests() - before, 0, "Vault was asked during the sends")

    def test_json_message_with_utf8_alternative_and_attachment(self):
        rcpt = f"json-{uuid.uuid4().hex[:8]}@example.test"
        hidden = f"bcc-{uuid.uuid4().hex[:8]}@example.test"
        attachment = bytes(range(256)) * 40
        subject = "Grüße aus Köln – ünïcödé ✓ " * 3
        status, payload, _ = self.post_json({
            "from": {"name": "Jörg's App", "address": SENDER},
            "to": [f"Rëcipient <{rcpt}>"],
            "bcc": [hidden],
            "reply_to": "support@example.test",
            "subject": subject,
            "text": "Hallo Welt.\nZweite Zeile mit Ümlaut.\n" + "lang " * 100,
            "html": "<p>Hallo <b>Welt</b> – ✓</p>",
            "headers": {"X-Campaign": "spring-2026"},
            "attachments": [{"filename": "report ü.bin", "content_type": "application/octet-stream",
                             "content": base64.b64encode(attachment).decode()}],
        })
        self.assertEqual(status, 200, payload)
        self.assertEqual(payload["status"], "sent")
        self.assertEqual(sorted(r["address"] for r in payload["recipients"]), sorted([rcpt, hidden]))
        self.assertTrue(all(r["code"] == 250 for r in payload["recipients"]))

        msg = delivered(rcpt)
        self.assertEqual(msg["Subject"], subject)
        self.assertEqual(msg["From"].addresses[0].display_name, "Jörg's App")
        self.assertEqual(msg["To"].addresses[0].display_name, "Rëcipient")
        self.assertEqual(msg["Reply-To"].addresses[0].addr_spec, "support@example.test")
        self.assertEqual(msg["X-Campaign"], "spring-2026")
        self.assertIsNotNone(msg["Date"])
        self.assertTrue(msg["Message-ID"].endswith("@example.test>"))
        self.assertIsNone(msg["Bcc"])
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        body = msg.get_body(preferencelist=("plain",))
        self.assertIn("Zweite Zeile mit Ümlaut.", body.get_content())
        self.assertIn("Hallo <b>Welt</b> – ✓", msg.get_body(preferencelist=("html",)).get_content())
        alternative = next(p for p in msg.iter_parts() if p.get_content_type() == "multipart/alternative")
        self.assertEqual([p.get_content_type() for p in alternative.iter_parts()],
                         ["text/plain", "text/html"])
        attachments = list(msg.iter_attachments())
        self.assertEqual(len(attachments), 1)
        self.assertEqual(attachments[0].get_filename(), "report ü.bin")
        self.assertEqual(attachments[0].get_content(), attachment)
        for line in open(maildir_messages(rcpt)[-1], "rb").read().split(b"\n"):
            self.assertLessEqual(len(line.rstrip(b"\r")), 998)

        hidden_copy = delivered(hidden)
        self.assertIsNone(hidden_copy["Bcc"])
        self.assertEqual(hidden_copy["Message-ID"], msg["Message-ID"])

    def test_json_errors(self):
        cases = [
            ("malformed", b"{", 400, "malformed_json"),
            ("injection", b'{"from":"app@example.test","to":"a@example.test","text":"x",'
                          b'"subject":"x\\r\\nBcc: victim@example.test"}', 422, "invalid_header"),
            ("reserved header", b'{"from":"app@example.test","to":"a@example.test","text":"x",'
                                b'"headers":{"Message-ID":"<x@y>"}}', 422, "invalid_header"),
        ]
        for name, body, want_status, want_code in cases:
            with self.subTest(name):
                status, payload, _ = self.sidecar.request(
                    "POST", "/v1/messages", body, {"Content-Type": "application/json"})
                self.assertEqual(status, want_status, payload)
                self.assertEqual(payload["error"]["code"], want_code)

    def test_async_submission_is_accepted_then_sent(self):
        rcpt = f"async-{uuid.uuid4().hex[:8]}@example.test"
        status, payload, headers = self.sidecar.request(
            "POST", f"/v1/messages?from={SENDER}&to={rcpt}",
            f"From: <{SENDER}>\r\nSubject: async\r\n\r\nx\r\n".encode(),
            {"Content-Type": "message/rfc822", "Prefer": "respond-async"})
        self.assertEqual(status, 202, payload)
        self.assertEqual(headers["Location"], "/v1/messages/" + payload["id"])
        final = wait_for(lambda: self.final_status(payload["id"]))
        self.assertEqual(final["status"], "sent", final)
        self.assertEqual(final["attempts"], 1)
        self.assertEqual(final["smtp"]["code"], 250)
        self.assertTrue(wait_for(lambda: maildir_messages(rcpt)))
        status, payload, _ = self.sidecar.request("GET", "/v1/messages/" + "0" * 32)
        self.assertEqual((status, payload["error"]["code"]), (404, "not_found"))

    def final_status(self, message_id):
        status, payload, _ = self.sidecar.request("GET", "/v1/messages/" + message_id)
        self.assertEqual(status, 200, payload)
        return payload if payload["status"] in ("sent", "failed") else None

    def test_partly_refused_recipients_are_reported_one_by_one(self):
        good = f"good-{uuid.uuid4().hex[:8]}@example.test"
        bad = "bad!char@example.test"  # the mailbox map refuses it: 550 at RCPT
        status, payload, _ = self.sidecar.send_raw(
            f"From: <{SENDER}>\r\nSubject: partial\r\n\r\nx\r\n".encode(), SENDER, [good, bad])
        self.assertEqual(status, 200, payload)
        self.assertEqual(payload["status"], "partially_sent")
        by_address = {r["address"]: r for r in payload["recipients"]}
        self.assertEqual(by_address[good]["status"], "accepted")
        self.assertEqual(by_address[bad]["status"], "rejected")
        self.assertEqual(by_address[bad]["code"], 550)
        self.assertTrue(wait_for(lambda: maildir_messages(good)))

    def test_y_smtp_server_down_sync_503_async_delivered_later_queue_full_429(self):
        sidecar = Sidecar(extra_config="max_queue = 2").start()
        rcpt = f"down-{uuid.uuid4().hex[:8]}@example.test"
        raw = f"From: <{SENDER}>\r\nSubject: while down\r\n\r\nx\r\n".encode()
        try:
            postfix("stop")
            status, payload, headers = sidecar.send_raw(raw, SENDER, [rcpt])
            self.assertEqual(status, 503, payload)
            self.assertEqual(payload["error"]["code"], "smtp_unavailable")
            self.assertIn("Retry-After", headers)
            ids = []
            for _ in range(2):
                status, payload, _ = sidecar.request(
                    "POST", f"/v1/messages?from={SENDER}&to={rcpt}", raw,
                    {"Content-Type": "message/rfc822", "Prefer": "respond-async"})
                self.assertEqual(status, 202, payload)
                ids.append(payload["id"])
            status, payload, headers = sidecar.request(
                "POST", f"/v1/messages?from={SENDER}&to={rcpt}", raw,
                {"Content-Type": "message/rfc822", "Prefer": "respond-async"})
            self.assertEqual((status, payload["error"]["code"]), (429, "queue_full"))
            self.assertIn("Retry-After", headers)
            retrying = wait_for(lambda: sidecar.request("GET", "/v1/messages/" + ids[0])[1]
                                if sidecar.request("GET", "/v1/messages/" + ids[0])[1]["status"]
                                == "retrying" else None)
            self.assertEqual(retrying["outcome"], "temporary_failure")
        finally:
            postfix("start")
        try:
            for message_id in ids:
                final = wait_for(lambda: (lambda p: p if p["status"] in ("sent", "failed") else None)(
                    sidecar.request("GET", "/v1/messages/" + message_id)[1]), timeout=30)
                self.assertEqual(final["status"], "sent", final)
                self.assertGreaterEqual(final["attempts"], 2)
            self.assertTrue(wait_for(lambda: len(maildir_messages(rcpt)) == 2))
        finally:
            sidecar.cleanup()

    def test_z_killed_worker_is_restarted_and_the_socket_keeps_serving(self):
        roles = role_pids(self.sidecar.proc.pid)
        self.assertEqual(set(roles), {"keeper", "worker"})
        os.kill(roles["worker"], signal.SIGKILL)
        rcpt = f"restart-{uuid.uuid4().hex[:8]}@example.test"
        # The socket belongs to the supervisor: this connection waits in the backlog
        # until the new worker accepts it.
        started = time.monotonic()
        status, payload, _ = self.sidecar.send_raw(
            f"From: <{SENDER}>\r\nSubject: after restart\r\n\r\nx\r\n".encode(), SENDER, [rcpt])
        if status == 503:  # the new worker may answer before the keeper link is up
            time.sleep(0.5)
            status, payload, _ = self.sidecar.send_raw(
                f"From: <{SENDER}>\r\nSubject: after restart\r\n\r\nx\r\n".encode(), SENDER, [rcpt])
        self.assertEqual(status, 200, payload)
        self.assertLess(time.monotonic() - started, 10)
        new_roles = role_pids(self.sidecar.proc.pid)
        self.assertNotEqual(new_roles["worker"], roles["worker"])
        self.assertEqual(new_roles["keeper"], roles["keeper"], "the keeper kept its lease")
        self.assertTrue(self.sidecar.events("role_restarted"))
        self.assertTrue(wait_for(lambda: maildir_messages(rcpt)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
