"""End-to-end: the configuration surface helps instead of tripping (issue 13, point 6).

On the real binary and, where a sidecar starts, against the real stack:
- the sendmail client's SMTP_SIDECAR_SOCKET in a shared environment is ignored by the
  daemon and by doctor (they used to refuse "unknown environment variable"), while a
  misspelt variable is still refused;
- --check-config reports what start-up refuses: root without process.user, a CA file
  that does not exist (named with its path), an unknown socket group; start-up itself
  refuses the missing file at once, with the same words, exit 78;
- `doctor --help` lists -c;
- /v1/ready says why mail cannot be sent after a send found the SMTP server unreachable
  (a closed port) or its certificate untrusted (a CA that did not sign it),
  and is ready again once [smtp] is fixed (SIGHUP) and the server answers;
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

from stacklib import ENV, RUN_AS, Sidecar, wait_for


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


class Readiness(unittest.TestCase):
    MESSAGE = b"From: app@example.test\r\nTo: someone@example.test\r\nSubject: r\r\n\r\nx\r\n"

    def not_ready_after_a_send(self, sidecar):
        sidecar.start()
        status, _, _ = sidecar.send_raw(self.MESSAGE, "app@example.test", ["someone@example.test"])
        self.assertNotEqual(status, 200)
        status, body, headers = sidecar.request("GET", "/v1/ready")
        self.assertEqual(status, 503, body)
        self.assertEqual(body["status"], "not_ready")
        self.assertIn("Retry-After", headers)
        self.assertTrue(sidecar.events("smtp_unreachable"), sidecar.output())
        return body["reason"]

    def test_a_closed_smtp_port_makes_ready_say_why_until_fixed(self):
        port = closed_port()
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        rewrite(sidecar, f"port = {ENV['SMTP_STARTTLS_PORT']}", f"port = {port}")
        reason = self.not_ready_after_a_send(sidecar)
        self.assertIn(f"the SMTP server {ENV['SMTP_HOST']}:{port} did not answer", reason)
        # Fixed: [smtp] applies on SIGHUP; the next send reaches the server.
        rewrite(sidecar, f"port = {port}", f"port = {ENV['SMTP_STARTTLS_PORT']}")
        sidecar.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: sidecar.request("GET", "/v1/ready")[0] == 200, timeout=10)
        self.assertEqual(sidecar.request("GET", "/v1/ready")[0], 200)
        status, body, _ = sidecar.send_raw(self.MESSAGE, "app@example.test",
                                           ["someone@example.test"])
        self.assertEqual(status, 200, body)
        self.assertEqual(sidecar.request("GET", "/v1/ready")[0], 200)

    def test_an_untrusted_certificate_makes_ready_say_why(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        # A CA of its own that never signed the stack's certificate.
        other_ca = os.path.join(sidecar.dir, "other-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", os.path.join(sidecar.dir, "other-ca.key"), "-subj",
                        "/CN=not the stack's CA", "-days", "1", "-out", other_ca],
                       check=True, capture_output=True)
        with open(sidecar.config_path) as f:
            config = f.read()
        start = config.index('ca_file = "', config.index("[smtp]"))
        end = config.index("\n", start)
        with open(sidecar.config_path, "w") as f:
            f.write(config[:start] + f'ca_file = "{other_ca}"' + config[end:])
        reason = self.not_ready_after_a_send(sidecar)
        self.assertIn("TLS with the SMTP server", reason)
        self.assertIn("smtp.ca_file", reason)


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
