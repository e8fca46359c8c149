"""End-to-end: the configuration surface helps instead of tripping (issue 13, point 6).

On the real binary and, where a sidecar starts, against the real stack:
- the sendmail client's SMTP_SIDECAR_SOCKET in a shared environment is ignored by the
  daemon and by doctor (they used to refuse "unknown environment variable"), while a
  misspelt variable is still refused;
- --check-config reports what start-up refuses: root without process.user, a CA file
  that does not exist (named with its path), an unknown socket group; start-up itself
  refuses the missing file at once, with the same words, exit 78;
- `doctor --help` lists -c;
- /v1/ready says why mail cannot be sent before any is sent (the worker's reachability
  probe, no AUTH): a closed port, a CA that did not sign the server's certificate, a
  certificate for another name; the reason is doctor's cause and hint word for word, and
  a send's answer and log line carry the same cause; ready again once [smtp] is fixed
  (SIGHUP) without a send; smtp_sidecar_smtp_reachable follows;
- started as root with process.user and no listen.socket_group, the socket belongs to
  that user's group (not root's), and the socket_ready line says who may connect.

Needs the stack running and bootstrapped (scripts/test does both).
"""
import grp
import os
import pwd
import signal
import socket
import subprocess
import unittest

from stacklib import ENV, RUN_AS, Sidecar, wait_for, wrapped_secret_id
from test_doctor import ScriptedSmtp, make_ca_and_cert


def run(sidecar, *args, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
    full_env.update(env or {})
    return subprocess.run([sidecar.binary, *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


def placeholder_secret_id(sidecar):
    """--check-config only checks that the secret_id file can be read; start() replaces
    this with a real response-wrapped secret_id."""
    with open(sidecar.secret_id_file, "w") as f:
        f.write("placeholder\n")


def rewrite(sidecar, old, new):
    with open(sidecar.config_path) as f:
        config = f.read()
    if old not in config:
        raise AssertionError(f"{old!r} not in the test's config")
    with open(sidecar.config_path, "w") as f:
        f.write(config.replace(old, new))


class ClientVariables(unittest.TestCase):
    def test_the_sendmail_clients_socket_variable_is_ignored(self):
        client_env = {"SMTP_SIDECAR_SOCKET": "/run/smtp-sidecar/smtp.sock"}
        sidecar = Sidecar(env=client_env)
        self.addCleanup(sidecar.cleanup)
        placeholder_secret_id(sidecar)
        check = run(sidecar, "--check-config", "-c", sidecar.config_path, env=client_env)
        self.assertEqual(check.returncode, 0, check.stderr)
        sidecar.start()  # ready: the daemon did not refuse the variable
        self.assertEqual(sidecar.request("GET", "/v1/ready")[0], 200)
        # doctor: its config step passes (the later steps are test_doctor's business).
        doctor = run(sidecar, "doctor", "-c", sidecar.config_path, env=client_env)
        self.assertIn("[ ok ] config", doctor.stdout, doctor.stdout + doctor.stderr)

    def test_a_misspelt_variable_is_still_refused(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        check = run(sidecar, "--check-config", "-c", sidecar.config_path,
                    env={"SMTP_SIDECAR_SMTP_PROT": "587"})
        self.assertEqual(check.returncode, 78)
        self.assertIn("unknown environment variable SMTP_SIDECAR_SMTP_PROT", check.stderr)


class CheckConfig(unittest.TestCase):
    @unittest.skipUnless(RUN_AS, "root's refusal is tested when the tests run as root")
    def test_root_without_process_user_is_reported(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        rewrite(sidecar, f'[process]\nuser = "{RUN_AS}"\n', "")
        check = run(sidecar, "--check-config", "-c", sidecar.config_path)
        self.assertEqual(check.returncode, 78, check.stdout + check.stderr)
        self.assertIn("refusing to run as root", check.stderr)
        self.assertIn("start-up would refuse it", check.stderr)
        self.assertNotIn("is valid", check.stdout)

    def test_a_missing_ca_file_is_named_by_check_config_and_by_start_up(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        missing = os.path.join(sidecar.dir, "no-such-mail-ca.pem")
        with open(sidecar.config_path) as f:
            config = f.read()
        start = config.index('ca_file = "', config.index("[smtp]"))
        end = config.index("\n", start)
        with open(sidecar.config_path, "w") as f:
            f.write(config[:start] + f'ca_file = "{missing}"' + config[end:])
        check = run(sidecar, "--check-config", "-c", sidecar.config_path)
        self.assertEqual(check.returncode, 78, check.stdout + check.stderr)
        self.assertIn(f"smtp.ca_file {missing}: No such file or directory", check.stderr)
        sidecar.start(wait=False)
        self.assertEqual(sidecar.proc.wait(timeout=30), 78, sidecar.output())
        self.assertIn(f"smtp.ca_file {missing}: No such file or directory", sidecar.output())
        self.assertFalse(os.path.exists(sidecar.socket))

    def test_an_unknown_socket_group_is_reported(self):
        sidecar = Sidecar(extra_config='socket_group = "no-such-group-e2e"')
        self.addCleanup(sidecar.cleanup)
        check = run(sidecar, "--check-config", "-c", sidecar.config_path)
        self.assertEqual(check.returncode, 78, check.stdout + check.stderr)
        self.assertIn("listen.socket_group no-such-group-e2e: no such group", check.stderr)

    def test_a_good_config_is_valid(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        placeholder_secret_id(sidecar)
        check = run(sidecar, "--check-config", "-c", sidecar.config_path)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("is valid", check.stdout)


def closed_port():
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SENDMAIL = os.environ.get("SMTP_SIDECAR_SENDMAIL_BIN",
                          os.path.join(os.path.dirname(__file__), "..", "..", "build", "dev",
                                       "sendmail", "smtp-sidecar-sendmail"))


def metric(sidecar, name):
    """The value of an unlabelled (or the first labelled) sample of `name`."""
    status, body, _ = sidecar.request("GET", "/metrics")
    assert status == 200, status
    text = body.decode() if isinstance(body, bytes) else str(body)
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line
    raise AssertionError(f"no {name} in /metrics:\n{text}")


def doctor_smtp_line(sidecar):
    """doctor's SMTP cause and hint for the sidecar's config (run before the sidecar
    starts: doctor looks the wrapped secret_id up, the sidecar unwraps it)."""
    wrapped_secret_id(sidecar.secret_id_file)
    out = run(sidecar, "doctor", "-c", sidecar.config_path).stdout
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("[FAIL] smtp: "):
            hint = lines[i + 1].split("hint: ", 1)[1] if i + 1 < len(lines) else ""
            return line[len("[FAIL] smtp: "):], hint
    raise AssertionError("doctor found no SMTP failure:\n" + out)


class Readiness(unittest.TestCase):
    """/v1/ready from the start: the worker's reachability probe (connect, EHLO, TLS
    verified, NOOP, QUIT; never AUTH) finds what would stop every send before any mail
    is sent, in doctor's words; a send's answer then says the same."""

    MESSAGE = b"From: app@example.test\r\nTo: someone@example.test\r\nSubject: r\r\n\r\nx\r\n"

    def not_ready_before_any_send(self, sidecar, *phrases):
        sidecar.start(wait=False)
        last = {}

        def says_why():
            try:
                status, body, headers = sidecar.request("GET", "/v1/ready")
            except OSError:
                return False
            last.update(status=status, body=body, headers=headers)
            return status == 503 and all(p in (body or {}).get("reason", "") for p in phrases)
        self.assertTrue(wait_for(says_why, timeout=20), f"{last}\n{sidecar.output()[-3000:]}")
        self.assertEqual(last["body"]["status"], "not_ready")
        self.assertIn("Retry-After", last["headers"])
        self.assertEqual(sidecar.events("message_sent"), [], "a mail was sent")
        probes = [e for e in sidecar.events("smtp_unreachable") if e.get("check") == "probe"]
        self.assertTrue(probes, sidecar.output())
        self.assertIn("smtp_sidecar_smtp_reachable 0", metric(sidecar, "smtp_sidecar_smtp_reachable"))
        return last["body"]["reason"]

    def test_the_good_case_is_ready_and_reachable(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        sidecar.start()  # waits for 200: the probe reached the stack's Postfix
        self.assertIn("smtp_sidecar_smtp_reachable 1", metric(sidecar, "smtp_sidecar_smtp_reachable"))
        self.assertTrue(wait_for(lambda: 'result="reached"} 1' in metric_lines(sidecar), timeout=5))
        self.assertTrue(sidecar.events("smtp_reachable"), sidecar.output())

    def test_a_closed_smtp_port_makes_ready_say_why_until_fixed(self):
        port = closed_port()
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        rewrite(sidecar, f"port = {ENV['SMTP_STARTTLS_PORT']}", f"port = {port}")
        cause, hint = doctor_smtp_line(sidecar)
        self.assertIn(f"SMTP connection refused at {ENV['SMTP_HOST']}:{port}", cause)
        reason = self.not_ready_before_any_send(sidecar, "SMTP connection refused")
        self.assertEqual(reason, f"{cause}; {hint}")  # doctor's words, exactly
        # A send's answer and its log line say the same.
        status, body, _ = sidecar.send_raw(self.MESSAGE, "app@example.test",
                                           ["someone@example.test"])
        self.assertEqual(status, 503, body)
        self.assertIn(cause, body["error"]["message"])
        self.assertIn(cause, sidecar.events("message_sent")[-1]["detail"])
        # Bounded: probes back off (2 s, 4 s, ...), a handful in the first seconds.
        self.assertLess(len(sidecar.events("smtp_unreachable")), 10)
        # Fixed: [smtp] applies on SIGHUP; the probe finds the server, no mail needed.
        rewrite(sidecar, f"port = {port}", f"port = {ENV['SMTP_STARTTLS_PORT']}")
        sidecar.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: sidecar.request("GET", "/v1/ready")[0] == 200, timeout=10),
                        sidecar.output()[-2000:])
        self.assertIn("smtp_sidecar_smtp_reachable 1", metric(sidecar, "smtp_sidecar_smtp_reachable"))
        status, body, _ = sidecar.send_raw(self.MESSAGE, "app@example.test",
                                           ["someone@example.test"])
        self.assertEqual(status, 200, body)
        self.assertEqual(sidecar.request("GET", "/v1/ready")[0], 200)

    def test_an_untrusted_certificate_makes_ready_say_why(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        # A CA of its own that never signed the stack's certificate.
        other_ca, _, _ = make_ca_and_cert(sidecar.dir, "other.invalid")
        rewrite_ca_file(sidecar, sidecar.stage(other_ca, "other-ca.pem"))
        cause, hint = doctor_smtp_line(sidecar)
        self.assertIn("not signed by a CA in smtp.ca_file", cause)
        reason = self.not_ready_before_any_send(sidecar, "not signed by a CA in smtp.ca_file")
        self.assertEqual(reason, f"{cause}; {hint}")

    def test_a_certificate_for_another_name_gives_doctors_words_everywhere(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        # A TLS server (Python's OpenSSL) whose certificate, from the test's own CA,
        # names other.invalid, not the 127.0.0.1 the sidecar connects to.
        ca, cert, key = make_ca_and_cert(sidecar.dir, "other.invalid")
        peer = ScriptedSmtp(starttls=(cert, key))
        self.addCleanup(peer.close)
        rewrite(sidecar, f"port = {ENV['SMTP_STARTTLS_PORT']}", f"port = {peer.port}")
        rewrite_ca_file(sidecar, sidecar.stage(ca, "other-ca.pem"))
        cause, hint = doctor_smtp_line(sidecar)
        self.assertIn(f"does not cover the name {ENV['SMTP_HOST']}", cause)
        reason = self.not_ready_before_any_send(sidecar, "does not cover the name")
        self.assertEqual(reason, f"{cause}; {hint}")
        print(f"\n  /v1/ready before any send: 503, reason: {reason}")
        self.assertNotIn("AUTH", peer.commands)  # neither doctor nor the probe logged in
        # The HTTP answer of a send.
        status, body, _ = sidecar.send_raw(self.MESSAGE, "app@example.test",
                                           ["someone@example.test"])
        self.assertEqual(status, 502, body)
        self.assertEqual(body["error"]["code"], "smtp_tls_failed")
        self.assertIn(cause, body["error"]["message"])
        self.assertIn(cause, sidecar.events("message_sent")[-1]["detail"])
        # sendmail's message (what a cron job or PHP's mail() shows its user).
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        env["SMTP_SIDECAR_SOCKET"] = sidecar.socket
        proc = subprocess.run([SENDMAIL, "-f", "app@example.test", "someone@example.test"],
                              input=self.MESSAGE, capture_output=True, env=env, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(cause, proc.stderr.decode(errors="replace"))
        self.assertNotIn("AUTH", peer.commands)
        self.assertNotIn("MAIL", peer.commands)


def metric_lines(sidecar):
    status, body, _ = sidecar.request("GET", "/metrics")
    return body.decode() if isinstance(body, bytes) else str(body)


def rewrite_ca_file(sidecar, path):
    with open(sidecar.config_path) as f:
        config = f.read()
    start = config.index('ca_file = "', config.index("[smtp]"))
    end = config.index("\n", start)
    with open(sidecar.config_path, "w") as f:
        f.write(config[:start] + f'ca_file = "{path}"' + config[end:])


class DoctorHelp(unittest.TestCase):
    def test_doctor_help_lists_c(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        out = run(sidecar, "doctor", "--help")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"-c,\s*--config")


@unittest.skipUnless(RUN_AS, "the privilege drop is tested when the tests run as root")
class SocketGroup(unittest.TestCase):
    def test_default_group_is_the_process_users(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        sidecar.start()
        user = pwd.getpwnam(RUN_AS)
        st = os.stat(sidecar.socket)
        self.assertEqual((st.st_uid, st.st_gid), (user.pw_uid, user.pw_gid))
        ready = sidecar.events("socket_ready")
        self.assertEqual(len(ready), 1, sidecar.output())
        self.assertEqual(ready[0]["group"], grp.getgrgid(user.pw_gid).gr_name)
        self.assertEqual(ready[0]["mode"], "0660")
        self.assertIn("may connect", ready[0]["detail"])

    def test_a_named_group_is_kept(self):
        group = grp.getgrgid(0).gr_name  # root's group: exists everywhere
        sidecar = Sidecar(extra_config=f'socket_group = "{group}"')
        self.addCleanup(sidecar.cleanup)
        sidecar.start()
        self.assertEqual(os.stat(sidecar.socket).st_gid, 0)
        self.assertEqual(sidecar.events("socket_ready")[0]["group"], group)


if __name__ == "__main__":
    unittest.main()
