"""End-to-end: the SMTP intake (issue 15) with real clients, into the real stack's Maildir.

Needs the stack running and bootstrapped (scripts/test does both). One sidecar serves
SMTP on a Unix socket and on loopback TCP (127.0.0.1 and ::1); each test drives a real
client: Python smtplib, swaks with PIPELINING, Go net/smtp, Django's SMTP EmailBackend,
nodemailer's SMTP transport, Symfony Mailer with its default `sendmail -bs`, PHP mail()
without -f, and Debian cron's exact sendmail argv. Each message goes through the
sidecar's dispatcher, Postfix (AUTH with a leased login) and Dovecot into the Maildir,
where the test reads it back: UTF-8 subjects, attachments (sha256 compared), Bcc
delivered and removed. Cron runs as its argv here, not as the cron daemon (the daemon
would run the job minutes later as a fork of itself; the argv is what reaches sendmail).
"""
import email
import email.policy
import hashlib
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import unittest
import uuid
from email.message import EmailMessage

from stacklib import REPO, Sidecar, fresh_secret_id, maildir_messages, wait_for

SENDER = "app@example.test"  # the example app's login may send as this address only
PORT = int(os.environ.get("SIDECAR_TEST_SMTP_INTAKE_PORT", "23525"))
SENDMAIL = os.environ.get("SMTP_SIDECAR_SENDMAIL_BIN",
                          os.path.join(REPO, "build", "dev", "sendmail", "smtp-sidecar-sendmail"))
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients")
CLIENTS_VENV = os.environ.get("SIDECAR_CLIENTS_VENV", os.path.join(REPO, ".venv-clients"))
CRON_ALIAS = "cron-root@example.test"
OPS_ALIAS = "ops-team@example.test"
LIMITED_UID = 65534   # nobody: a profile allowing one message per minute
UNKNOWN_UID = 23999   # no profile


def rcpt(tag):
    return f"si-{tag}-{uuid.uuid4().hex[:8]}@example.test"


def message_with(address, token, timeout=20):
    """The message in `address`'s Maildir whose raw text or (decoded) Subject contains
    `token`, parsed."""
    def find():
        for path in maildir_messages(address):
            with open(path, "rb") as f:
                raw = f.read()
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            if token.encode() in raw or token in str(msg["Subject"] or ""):
                return msg
        return None
    msg = wait_for(find, timeout=timeout)
    assert msg, f"no message with {token} delivered to {address}"
    return msg


def run_as(uid, argv, **kwargs):
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv],
                          capture_output=True, timeout=60, **kwargs)


class SmtpIntakeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fresh_secret_id()
        cls.tmp = tempfile.mkdtemp(prefix="smtp-intake-")
        os.chmod(cls.tmp, 0o755)
        extra = f"""smtp_socket = "SMTP_SOCKET"
smtp_port = {PORT}
smtp_host_name = "sidecar.test"

[[profile]]
name = "tests"
uids = [0]
senders = ["{SENDER}"]
default_sender = "{SENDER}"
aliases = {{ root = "{CRON_ALIAS}", ops = "{OPS_ALIAS}" }}

[[profile]]
name = "limited"
uids = [{LIMITED_UID}]
senders = ["{SENDER}"]
rate_per_minute = 1
burst = 1
"""
        cls.sidecar = Sidecar(extra_config=extra)
        cls.smtp_socket = os.path.join(cls.sidecar.dir, "submit.sock")
        with open(cls.sidecar.config_path) as f:
            config = f.read().replace("SMTP_SOCKET", cls.smtp_socket)
        with open(cls.sidecar.config_path, "w") as f:
            f.write(config)
        cls.sidecar.start()

    @classmethod
    def tearDownClass(cls):
        cls.sidecar.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers ----
    def unix_smtp(self):
        client = smtplib.SMTP(timeout=30)
        client.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.sock.settimeout(30)
        client.sock.connect(self.smtp_socket)
        client.file = None
        code, _ = client.getreply()
        self.assertEqual(code, 220)
        return client

    def assertDelivered(self, address, token):
        msg = message_with(address, token)
        self.assertEqual(msg["Return-Path"], f"<{SENDER}>")
        return msg

    # ---- Python smtplib ----
    def test_smtplib_unix_socket_utf8_attachment_bcc(self):
        to, cc, bcc = rcpt("to"), rcpt("cc"), rcpt("bcc")
        token = uuid.uuid4().hex
        payload = os.urandom(150_000)  # base64 lines, well past one pipelined buffer
        msg = EmailMessage()
        msg["From"] = f"App <{SENDER}>"
        msg["To"] = to
        msg["Cc"] = cc
        msg["Bcc"] = bcc
        msg["Subject"] = f"Grüße, Jörg — ☃ {token}"
        msg.set_content("Hello in UTF-8: Grüße ☃\n.leading dot line\n")
        msg.add_attachment(payload, maintype="application", subtype="octet-stream",
                           filename="blob.bin")
        with self.unix_smtp() as client:
            code, ehlo = client.ehlo("client.test")
            self.assertEqual(code, 250)
            for extension in (b"SIZE", b"PIPELINING", b"8BITMIME", b"SMTPUTF8",
                              b"ENHANCEDSTATUSCODES"):
                self.assertIn(extension, ehlo)
            # send_message keeps Bcc out of the message; the raw one below keeps it in.
            refused = client.send_message(msg)
            self.assertEqual(refused, {})
        for address in (to, cc, bcc):
            got = self.assertDelivered(address, token)
            self.assertEqual(got["Subject"], f"Grüße, Jörg — ☃ {token}")
            self.assertIsNone(got["Bcc"])
            attachment = next(got.iter_attachments())
            self.assertEqual(hashlib.sha256(attachment.get_content()).hexdigest(),
                             hashlib.sha256(payload).hexdigest())
            self.assertIn(".leading dot line", got.get_body(("plain",)).get_content())

    def test_raw_bcc_header_is_removed_by_the_intake(self):
        to, bcc = rcpt("rawto"), rcpt("rawbcc")
        token = uuid.uuid4().hex
        raw = (f"From: {SENDER}\r\nTo: {to}\r\nBcc: {bcc}\r\nSubject: raw {token}\r\n\r\n"
               "..two dots\r\n").encode()
        with self.unix_smtp() as client:
            client.ehlo("client.test")
            self.assertEqual(client.sendmail(SENDER, [to, bcc], raw), {})
        for address in (to, bcc):
            got = self.assertDelivered(address, token)
            self.assertIsNone(got["Bcc"])
            self.assertIn(".two dots", got.get_content())  # sent as "...two dots"

    def test_smtplib_tcp_ipv4_and_ipv6(self):
        for host in ("127.0.0.1", "::1"):
            to = rcpt("tcp")
            token = uuid.uuid4().hex
            with smtplib.SMTP(host, PORT, timeout=30) as client:
                client.ehlo("client.test")
                client.sendmail(SENDER, [to], f"From: {SENDER}\r\nSubject: tcp {token}\r\n\r\nx\r\n")
            self.assertDelivered(to, token)

    def test_reply_after_data_is_the_next_hops_answer(self):
        with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as client:
            client.ehlo("client.test")
            client.mail(SENDER)
            client.rcpt(rcpt("answer"))
            code, text = client.data(f"From: {SENDER}\r\nSubject: answer\r\n\r\nx\r\n")
        self.assertEqual(code, 250)
        self.assertIn(b"next hop", text)
        self.assertIn(b"queued as", text.lower())  # Postfix's own words

    # ---- refusals with proper replies ----
    def test_profile_refusals(self):
        with self.unix_smtp() as client:
            client.ehlo("client.test")
            code, text = client.mail("someone-else@example.test")
            self.assertEqual((code, text[:5]), (550, b"5.7.1"))
            code, text = client.mail(SENDER, ["SIZE=999999999999"])
            self.assertEqual((code, text[:5]), (552, b"5.3.4"))
            self.assertEqual(client.mail(SENDER)[0], 250)
            code, text = client.rcpt("nobody-alias")  # a local name without an alias
            self.assertEqual((code, text[:5]), (550, b"5.1.1"))
            for i in range(100):
                self.assertEqual(client.rcpt(f"r{i}@example.test")[0], 250)
            code, text = client.rcpt("r100@example.test")
            self.assertEqual((code, text[:5]), (452, b"4.5.3"))
            client.rset()
            # A From the profile does not allow: refused after DATA.
            client.mail(SENDER)
            client.rcpt(rcpt("from"))
            code, text = client.data("From: evil@example.test\r\nSubject: x\r\n\r\nx\r\n")
            self.assertEqual((code, text[:5]), (550, b"5.7.1"))

    def test_bare_lf_cannot_smuggle_a_second_message(self):
        victim = rcpt("smuggled")
        with socket.create_connection(("127.0.0.1", PORT), timeout=30) as s:
            f = s.makefile("rb")
            self.assertTrue(f.readline().startswith(b"220"))
            s.sendall(b"EHLO c\r\nMAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<" +
                      rcpt("carrier").encode() + b">\r\nDATA\r\n")
            s.sendall(b"Subject: carrier\r\n\r\nbody\n.\nMAIL FROM:<" + SENDER.encode() +
                      b">\r\nRCPT TO:<" + victim.encode() + b">\r\nDATA\r\nSubject: smuggled\r\n"
                      b"\r\nx\r\n.\r\n")
            replies = f.read()
        self.assertIn(b"521 5.5.2", replies)
        self.assertEqual(wait_for(lambda: maildir_messages(victim), timeout=2), [])

    def test_rate_limit_and_unknown_peer_over_tcp(self):
        script = ("import smtplib,sys\n"
                  f"c=smtplib.SMTP('127.0.0.1',{PORT},timeout=30)\n"
                  "c.ehlo('x')\n"
                  f"print(c.mail('{SENDER}'))\n")
        limited = run_as(LIMITED_UID, ["python3", "-c", script + "c.rcpt('" + rcpt("lim") + "')\n"
                                       "print(c.data(b'From: " + SENDER + "\\r\\nSubject: l\\r\\n\\r\\nx\\r\\n'))\n"
                                       "c.rset()\n"
                                       f"print(c.mail('{SENDER}'))\n"])
        out = limited.stdout.decode()
        self.assertEqual(limited.returncode, 0, limited.stderr.decode())
        lines = out.strip().splitlines()
        self.assertTrue(lines[1].startswith("(250"), out)
        self.assertTrue(lines[2].startswith("(451, b'4.7.1"), out)  # one per minute
        unknown = run_as(UNKNOWN_UID, ["python3", "-c",
                                       "import smtplib\n"
                                       "try:\n"
                                       f"  smtplib.SMTP('127.0.0.1',{PORT},timeout=30)\n"
                                       "except smtplib.SMTPConnectError as e:\n"
                                       "  print(e.smtp_code, e.smtp_error.decode())\n"])
        self.assertIn(f"554 5.7.1 no profile allows uid {UNKNOWN_UID}", unknown.stdout.decode())

    # ---- swaks with PIPELINING ----
    def test_swaks_pipelining(self):
        to = rcpt("swaks")
        token = uuid.uuid4().hex
        proc = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(PORT),
                               "--pipeline", "--from", SENDER, "--to", to,
                               "--header", f"Subject: swaks {token}", "--body", "from swaks"],
                              capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout.decode() + proc.stderr.decode())
        self.assertIn(b"PIPELINING", proc.stdout)
        self.assertDelivered(to, token)

    # ---- Go net/smtp ----
    def test_go_net_smtp(self):
        # Debian's golang-go (scripts/install-deps.sh), whose standard library comes
        # compiled: the client builds in seconds even with an empty build cache.
        go = "/usr/bin/go" if os.path.exists("/usr/bin/go") else shutil.which("go")
        self.assertIsNotNone(go, "go is installed by scripts/install-deps.sh (golang-go)")
        to = rcpt("go")
        token = uuid.uuid4().hex
        cache = os.environ.get("SIDECAR_GO_CACHE", os.path.join(REPO, "build", "go-cache"))
        env = dict(os.environ, GOCACHE=cache, GO111MODULE="off", GOFLAGS="")
        proc = subprocess.run([go, "run", os.path.join(CLIENTS, "netsmtp.go"),
                               f"127.0.0.1:{PORT}", SENDER, to, f"go {token}"],
                              capture_output=True, timeout=300, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertDelivered(to, token)

    # ---- Django's SMTP EmailBackend ----
    def test_django_email_backend(self):
        python = os.path.join(CLIENTS_VENV, "bin", "python")
        self.assertTrue(os.path.exists(python), "scripts/install-deps.sh makes .venv-clients")
        to, bcc = rcpt("django"), rcpt("djbcc")
        token = uuid.uuid4().hex
        proc = subprocess.run([python, os.path.join(CLIENTS, "django_send.py"), str(PORT),
                               SENDER, to, bcc, token], capture_output=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        for address in (to, bcc):
            got = self.assertDelivered(address, token)
            self.assertEqual(got["Subject"], f"Django ✓ {token}")
            self.assertIsNone(got["Bcc"])
            attachment = next(got.iter_attachments())
            self.assertEqual(hashlib.sha256(attachment.get_content()).hexdigest(),
                             hashlib.sha256(b"django attachment\n" * 1000).hexdigest())

    # ---- nodemailer's SMTP transport ----
    def test_nodemailer_smtp_transport(self):
        script = os.path.join(CLIENTS, "nodemailer_send.js")
        self.assertTrue(os.path.isdir(os.path.join(CLIENTS, "node_modules", "nodemailer")),
                        "scripts/install-deps.sh runs npm ci in tests/e2e/clients")
        to, bcc = rcpt("node"), rcpt("nodebcc")
        token = uuid.uuid4().hex
        proc = subprocess.run(["node", script, str(PORT), SENDER, to, bcc, token],
                              capture_output=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        for address in (to, bcc):
            got = self.assertDelivered(address, token)
            self.assertEqual(got["Subject"], f"nodemailer ✓ {token}")
            self.assertIsNone(got["Bcc"])
            attachment = next(got.iter_attachments())
            self.assertEqual(hashlib.sha256(attachment.get_content()).hexdigest(),
                             hashlib.sha256(b"nodemailer attachment\n" * 1000).hexdigest())

    # ---- sendmail callers ----
    def sendmail_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        env["SMTP_SIDECAR_SOCKET"] = self.sidecar.socket
        env["SMTP_SIDECAR_LISTEN_SMTP_SOCKET"] = self.smtp_socket
        return env

    def test_symfony_mailer_default_sendmail_bs(self):
        to, bcc = rcpt("symfony"), rcpt("sybcc")
        token = uuid.uuid4().hex
        proc = subprocess.run(["php", os.path.join(CLIENTS, "symfony_send.php"), SENDMAIL,
                               SENDER, to, bcc, token], capture_output=True, timeout=120,
                              env=self.sendmail_env())
        self.assertEqual(proc.returncode, 0, proc.stdout.decode() + proc.stderr.decode())
        for address in (to, bcc):
            got = self.assertDelivered(address, token)
            self.assertEqual(got["Subject"], f"Symfony ✓ {token}")
            self.assertIsNone(got["Bcc"])

    def test_php_mail_without_f(self):
        to = rcpt("phpmail")
        token = uuid.uuid4().hex
        # PHP's default sendmail_path is "sendmail -t -i"; no -f: the profile's sender.
        proc = subprocess.run(["php", "-d", f"sendmail_path={SENDMAIL} -t -i", "-r",
                               f"exit(mail('{to}', 'php mail {token}', 'hello from mail()') ? 0 : 1);"],
                              capture_output=True, timeout=60, env=self.sendmail_env())
        self.assertEqual(proc.returncode, 0, proc.stdout.decode() + proc.stderr.decode())
        got = self.assertDelivered(to, token)
        self.assertEqual(got["From"].addresses[0].addr_spec, SENDER)

    def test_cron_exact_argv(self):
        token = uuid.uuid4().hex
        # What Debian's cron (3.0pl1) writes to the pipe for a job of root's with output.
        job_mail = (f"From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host> echo {token}\n"
                    "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
                    "Content-Transfer-Encoding: 8bit\nX-Cron-Env: <SHELL=/bin/sh>\n\n"
                    f"{token} Grüße from cron\n")
        argv = [SENDMAIL, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"]
        proc = subprocess.run(argv, input=job_mail.encode(), capture_output=True, timeout=60,
                              env=self.sendmail_env())
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        got = self.assertDelivered(CRON_ALIAS, token)
        self.assertEqual(got["From"].addresses[0].addr_spec, SENDER)
        self.assertIn("Grüße from cron", got.get_content())
        # MAILTO=ops: the other alias.
        token2 = uuid.uuid4().hex
        proc = subprocess.run([SENDMAIL, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "ops"],
                              input=job_mail.replace(token, token2).encode(), capture_output=True,
                              timeout=60, env=self.sendmail_env())
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertDelivered(OPS_ALIAS, token2)


if __name__ == "__main__":
    unittest.main()
