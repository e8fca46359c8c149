"""End-to-end: smtp-sidecar-sendmail against a real smtp-sidecar and the real stack.

Needs the stack running and bootstrapped (scripts/test does both). Every message goes
through the real binary (SMTP_SIDECAR_SENDMAIL_BIN), the sidecar's Unix socket, Postfix
(AUTH with a leased login) and Dovecot's Maildir. The last test drives it from a real
program that calls sendmail: `mail` from bsd-mailx.
"""
import email
import email.policy
import os
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

from stacklib import REPO, Sidecar, delivered, fresh_secret_id, maildir_messages, role_pids, wait_for

SENDER = "app@example.test"  # the example app's login may send as this address only
BINARY = os.environ.get("SMTP_SIDECAR_SENDMAIL_BIN",
                        os.path.join(REPO, "build", "dev", "sendmail", "smtp-sidecar-sendmail"))


def rcpt(tag):
    return f"sm-{tag}-{uuid.uuid4().hex[:8]}@example.test"


class SendmailTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fresh_secret_id()
        cls.sidecar = Sidecar().start()

    @classmethod
    def tearDownClass(cls):
        cls.sidecar.cleanup()

    def sendmail(self, args, message, socket=None, env=None, timeout=60):
        """Runs the binary with the sidecar's socket in SMTP_SIDECAR_SOCKET."""
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        run_env["SMTP_SIDECAR_SOCKET"] = socket or self.sidecar.socket
        run_env.update(env or {})
        if isinstance(message, str):
            message = message.encode()
        return subprocess.run([BINARY, *args], input=message, capture_output=True,
                              env=run_env, timeout=timeout)

    def assertExit(self, proc, code):
        self.assertEqual(proc.returncode, code,
                         f"exit {proc.returncode}, stderr: {proc.stderr.decode(errors='replace')}")

    def test_recipients_as_arguments_with_f(self):
        a, b = rcpt("arg"), rcpt("arg")
        proc = self.sendmail(["-f", SENDER, a, f"Bee <{b}>"],
                             "Subject: arguments\n\nHello from sendmail.\n")
        self.assertExit(proc, 0)
        self.assertEqual(proc.stderr, b"")
        for address in (a, b):
            msg = delivered(address)
            self.assertEqual(msg["Subject"], "arguments")
            self.assertEqual(msg["Return-Path"], f"<{SENDER}>")
            # From, Date and Message-ID were missing: added.
            self.assertEqual(msg["From"].addresses[0].addr_spec, SENDER)
            self.assertIsNotNone(msg["Date"])
            self.assertTrue(msg["Message-ID"].endswith("@example.test>"))
            self.assertEqual(msg.get_content().strip(), "Hello from sendmail.")
        # -fsender (attached) works the same; LF line endings became CRLF on the wire,
        # and Postfix stored them as LF again.
        c = rcpt("attached")
        self.assertExit(self.sendmail([f"-f{SENDER}", c], "Subject: attached\n\nx\n"), 0)
        with open(wait_for(lambda: maildir_messages(c))[-1], "rb") as f:
            raw = f.read()
        self.assertIn(b"Subject: attached\n", raw)

    def test_t_reads_to_cc_bcc_and_removes_bcc(self):
        to, cc, bcc, arg = rcpt("to"), rcpt("cc"), rcpt("bcc"), rcpt("targ")
        message = (f"From: App <{SENDER}>\nTo: Someone <{to}>\nCc: {cc}\n"
                   f"Bcc: {bcc}\nSubject: with -t\n\nbody\n")
        self.assertExit(self.sendmail(["-t", "-i", "-f", SENDER, arg], message), 0)
        for address in (to, cc, bcc, arg):
            msg = delivered(address)
            self.assertEqual(msg["Subject"], "with -t")
            self.assertIsNone(msg["Bcc"], f"Bcc leaked to {address}")
            self.assertEqual(msg["From"].addresses[0].display_name, "App")

    def test_full_name_only_when_the_message_has_no_from(self):
        a = rcpt("fname")
        self.assertExit(self.sendmail(["-F", "Jörg's Cron", "-f", SENDER, a],
                                      "Subject: full name\n\nx\n"), 0)
        msg = delivered(a)
        self.assertEqual(msg["From"].addresses[0].display_name, "Jörg's Cron")
        self.assertEqual(msg["From"].addresses[0].addr_spec, SENDER)
        b = rcpt("fname-kept")
        self.assertExit(self.sendmail(["-F", "Ignored", "-f", SENDER, b],
                                      f"From: Original <{SENDER}>\nSubject: kept\n\nx\n"), 0)
        self.assertEqual(str(delivered(b)["From"]), f"Original <{SENDER}>")

    def test_a_lone_dot_ends_the_message_unless_i(self):
        message = "Subject: dots\n\nfirst\n..double stays\n.\nafter the dot\n"
        a = rcpt("dot")
        self.assertExit(self.sendmail(["-f", SENDER, a], message), 0)
        body = delivered(a).get_content()
        self.assertIn("first", body)
        self.assertIn("..double stays", body)
        self.assertNotIn("after the dot", body)
        for flag in ("-i", "-oi"):
            b = rcpt("nodot")
            self.assertExit(self.sendmail([flag, "-f", SENDER, b], message), 0)
            body = delivered(b).get_content()
            self.assertIn("\n.\nafter the dot", body, flag)
            self.assertIn("..double stays", body)

    def test_ignored_flags_are_accepted(self):
        a = rcpt("noop")
        proc = self.sendmail(["-odi", "-oem", "-v", "-B", "8BITMIME", "-N", "never", "-bm",
                              "-f", SENDER, "--", a], "Subject: no-ops\n\nx\n")
        self.assertExit(proc, 0)
        delivered(a)

    def test_usage_errors_exit_64(self):
        for args in (["-q"], ["-bp"], ["-bd"], ["-Z", rcpt("x")], []):
            with self.subTest(args=args):
                proc = self.sendmail(args, "Subject: x\n\nx\n")
                self.assertExit(proc, 64)
                self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1)

    def test_rejected_recipients_exit_69(self):
        bad = "bad!char@example.test"  # the mailbox map refuses it: 550 at RCPT
        proc = self.sendmail(["-f", SENDER, bad], "Subject: refused\n\nx\n")
        self.assertExit(proc, 69)
        self.assertIn(bad, proc.stderr.decode())
        self.assertIn("550", proc.stderr.decode())
        good = rcpt("partial")
        proc = self.sendmail(["-f", SENDER, good, bad], "Subject: partly\n\nx\n")
        self.assertExit(proc, 69)
        self.assertIn(bad, proc.stderr.decode())
        self.assertNotIn(good, proc.stderr.decode())
        delivered(good)
        # A sender the login does not own: Postfix refuses at MAIL FROM.
        proc = self.sendmail(["-f", "someone-else@example.test", rcpt("owner")], "Subject: x\n\nx\n")
        self.assertExit(proc, 69)
        self.assertIn("Sender address rejected", proc.stderr.decode())

    def test_data_errors_exit_65(self):
        proc = self.sendmail(["--max-size=100", "-f", SENDER, rcpt("big")],
                             "Subject: big\n\n" + "x" * 200 + "\n")
        self.assertExit(proc, 65)
        self.assertIn("larger than 100 bytes", proc.stderr.decode())
        proc = self.sendmail(["-f", SENDER, rcpt("long")], "Subject: long\n\n" + "y" * 2000 + "\n")
        self.assertExit(proc, 65)
        self.assertIn("422 invalid_message", proc.stderr.decode())

    def test_sidecar_size_limit_answer_arrives_while_the_body_is_still_sent(self):
        """The sidecar answers 413 before reading a too-large body and stops reading;
        the client reads while it writes, so it gets the answer, not a broken pipe."""
        s = Sidecar(extra_config="max_message_bytes = 4096").start()
        try:
            line = "z" * 70 + "\n"
            proc = self.sendmail(["-f", SENDER, rcpt("413")],
                                 "Subject: big\n\n" + line * 60000, socket=s.socket)
            self.assertExit(proc, 65)
            self.assertIn("413 message_too_large", proc.stderr.decode())
        finally:
            s.cleanup()

    def test_missing_socket_exits_75(self):
        proc = self.sendmail(["-f", SENDER, rcpt("nosock")], "Subject: x\n\nx\n",
                             socket="/nonexistent/smtp.sock")
        self.assertExit(proc, 75)
        self.assertIn("/nonexistent/smtp.sock", proc.stderr.decode())
        # --socket wins over the environment.
        proc = self.sendmail(["--socket=/nonexistent/other.sock", rcpt("nosock")], "x")
        self.assertExit(proc, 75)
        self.assertIn("other.sock", proc.stderr.decode())

    def test_stopped_sidecar_exits_75_and_a_hung_one_times_out_with_75(self):
        s = Sidecar().start()
        try:
            message = "Subject: stopped\n\nx\n"
            # Hung: the worker is stopped; the connection waits in the backlog.
            worker = list(role_pids(s.proc.pid).values())
            for pid in worker:
                os.kill(pid, signal.SIGSTOP)
            started = time.monotonic()
            proc = self.sendmail(["--timeout=2", "-f", SENDER, rcpt("hung")], message,
                                 socket=s.socket)
            for pid in worker:
                os.kill(pid, signal.SIGCONT)
            self.assertExit(proc, 75)
            self.assertIn("no answer", proc.stderr.decode())
            self.assertLess(time.monotonic() - started, 10)
            # Killed (no clean shutdown): the socket file stays, nobody listens.
            killed = [s.proc.pid, *role_pids(s.proc.pid).values()]
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            s.proc.wait()
            # SIGKILL is delivered asynchronously: until the worker is gone (or a zombie,
            # its descriptors closed) its listening socket may still take a connection.
            def gone(pid):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        return f.read().rsplit(")", 1)[1].split()[0] == "Z"
                except FileNotFoundError:
                    return True
            self.assertTrue(wait_for(lambda: all(gone(pid) for pid in killed), timeout=10))
            self.assertTrue(os.path.exists(s.socket))
            proc = self.sendmail(["-f", SENDER, rcpt("stopped")], message, socket=s.socket)
            self.assertExit(proc, 75)
            self.assertIn("not listening", proc.stderr.decode())
        finally:
            s.cleanup()
        # A clean stop removes the socket: a restart looks the same, so 75 too.
        s = Sidecar().start()
        try:
            s.stop()
            proc = self.sendmail(["-f", SENDER, rcpt("clean")], "Subject: x\n\nx\n",
                                 socket=s.socket)
            self.assertExit(proc, 75)
        finally:
            s.cleanup()

    def test_bsd_mailx_sends_through_it(self):
        """`mail` (bsd-mailx) calls `sendmail -i -t -f ...` with a message on stdin."""
        to, cc = rcpt("mailx"), rcpt("mailx-cc")
        with tempfile.TemporaryDirectory(prefix="sendmail-e2e-") as home:
            mailrc = os.path.join(home, "mailrc")
            with open(mailrc, "w") as f:
                f.write(f"set sendmail={BINARY}\nset sendwait\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
            env.update({"MAILRC": mailrc, "HOME": home, "SMTP_SIDECAR_SOCKET": self.sidecar.socket})
            proc = subprocess.run(["mail", "-s", "from mailx ✓", "-r", SENDER, "-c", cc, to],
                                  input="Sent by bsd-mailx.\n.\nnot part of it\n".encode(),
                                  capture_output=True, env=env, timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stderr)
        for address in (to, cc):
            msg = delivered(address)
            self.assertEqual(msg["Subject"], "from mailx ✓")
            self.assertEqual(msg["From"].addresses[0].addr_spec, SENDER)
            self.assertIn("Sent by bsd-mailx.", msg.get_content())


if __name__ == "__main__":
    unittest.main(verbosity=2)
