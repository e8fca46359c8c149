"""Restarts need no person (issue 14 (2)): the systemd unit's ExecStartPre
(deploy/systemd/smtp-sidecar-deliver-approle) re-delivers the app's AppRole role_id and a
new response-wrapped secret_id before every start, with the app's narrow delivery
identity (its own AppRole, policies/smtp-approle-delivery-example-app.hcl).

No systemd runs as PID 1 here, so the unit is run the way tests/deploy/run-package runs
it: its ExecStartPre line as the unit says ("+": as root, with the delivery
configuration it names), then its ExecStart's daemon (as the sidecar's user when the
tests run as root, with the unit's wrapped, removed-after-reading secret_id file).
Asserted: four starts in a row — the first, two `systemctl restart`s (SIGTERM, then the
unit again) and a Restart=on-failure after kill -9 of the whole sidecar — each unwraps
a freshly delivered secret_id, becomes ready and delivers a mail, and nobody minted
anything between them; the clean stops left no token of the app's role behind; a
delivery that was never read is destroyed by the next one (its secret_id accessor is
gone from OpenBao).
"""
import os
import re
import shlex
import signal
import subprocess
import tempfile
import unittest
import urllib.error
import uuid

from stacklib import (CLI, ENV, REPO, RUN_AS, Sidecar, approle_tokens, bao, delivered,
                      vault_api, wait_for)

HELPER = os.path.join(REPO, "deploy", "systemd", "smtp-sidecar-deliver-approle")
UNIT = os.environ.get("SIDECAR_UNIT_FILE",
                      os.path.join(REPO, "build", "dev", "deploy", "systemd",
                                   "smtp-sidecar.service"))
SENDER = "app@example.test"


def unit_values(key):
    with open(UNIT) as f:
        return [line.split("=", 1)[1].strip() for line in f if line.startswith(key + "=")]


class RestartDeliveryTest(unittest.TestCase):
    def setUp(self):
        pre = unit_values("ExecStartPre")
        self.assertEqual(len(pre), 1, pre)
        words = shlex.split(pre[0])
        # "+": full privileges (root), so the delivery identity's files stay root-only.
        self.assertTrue(words[0].startswith("+"), pre[0])
        self.assertEqual(os.path.basename(words[0][1:]), os.path.basename(HELPER))
        self.assertTrue(words[1].endswith("/delivery.conf"), pre[0])

        self.sidecar = Sidecar()
        self.addCleanup(self.sidecar.cleanup)
        self.sidecar.wrapped = False  # the unit's ExecStartPre delivers, not the test
        role_id = os.path.join(self.sidecar.dir, "role_id")
        secret_id = os.path.join(self.sidecar.dir, "secret_id")
        with open(self.sidecar.config_path) as f:
            config = f.read()
        lines = []
        for line in config.splitlines():
            if line.startswith("role_id_file"):
                line = f'role_id_file = "{role_id}"'
            elif line.startswith("secret_id_file"):
                line = f'secret_id_file = "{secret_id}"'
            lines.append(line)
        with open(self.sidecar.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.secret_id = secret_id

        # The delivery configuration, root's only (as /etc/smtp-sidecar/delivery.conf).
        self.conf_dir = tempfile.mkdtemp(prefix="delivery-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.conf_dir])
        self.conf = os.path.join(self.conf_dir, "delivery.conf")
        approle = os.path.join(ENV["STACK_DIR"], "approle", "delivery")
        owner = RUN_AS or subprocess.run(["id", "-un"], capture_output=True,
                                         text=True).stdout.strip()
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"VAULT_ADDR={shlex.quote(ENV['VAULT_ADDR'])}\n"
                    f"VAULT_CACERT={shlex.quote(ENV.get('VAULT_CACERT', ''))}\n"
                    "APPROLE_ROLE=example-app\n"
                    f"DELIVERY_ROLE_ID_FILE={approle}/role-id\n"
                    f"DELIVERY_SECRET_ID_FILE={approle}/secret-id\n"
                    f"TARGET_DIR={self.sidecar.dir}\n"
                    f"TARGET_OWNER={owner}\n"
                    "WRAP_TTL=120s\n")

    def exec_start_pre(self):
        proc = subprocess.run([HELPER, self.conf], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(os.path.getsize(self.secret_id) > 0)

    def send_one(self):
        rcpt = f"restart-{uuid.uuid4().hex[:8]}@example.test"
        message = f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: restart\r\n\r\nx\r\n".encode()
        status = self.sidecar.send_raw(message, SENDER, [rcpt])[0]
        self.assertEqual(status, 200, self.sidecar.output()[-2000:])
        self.assertTrue(wait_for(lambda: delivered(rcpt), timeout=30), rcpt)

    def start_as_the_unit_does(self):
        self.exec_start_pre()
        self.sidecar.start()
        self.assertEqual(len(self.sidecar.events("secret_id_unwrapped")), 1,
                         self.sidecar.output()[-2000:])
        self.assertFalse(os.path.exists(self.secret_id), "read once, then removed")
        self.send_one()

    def test_every_start_gets_a_fresh_secret_id_without_a_person(self):
        tokens_before = approle_tokens()
        self.start_as_the_unit_does()  # systemctl start
        # The role's secret_id_ttl (24 h in the bootstrap), from the unwrap: no warning.
        left = secret_id_metric(self.sidecar)
        self.assertIsNotNone(left, "no smtp_sidecar_secret_id_expires_seconds")
        self.assertGreater(left, 3600)
        self.assertEqual(self.sidecar.events("secret_id_expiring"), [])
        for _ in range(2):  # systemctl restart: stop (SIGTERM, KillMode=mixed), start
            self.assertEqual(self.sidecar.stop(signal.SIGTERM), 0, self.sidecar.output()[-2000:])
            self.assertEqual(approle_tokens(), tokens_before, "a clean stop revokes its token")
            self.start_as_the_unit_does()
        # Restart=on-failure after the whole sidecar was killed: its lease and token are
        # left to their TTLs (nobody could revoke them), the next start needs nobody.
        self.sidecar.stop(signal.SIGKILL)
        self.start_as_the_unit_does()
        self.assertEqual(self.sidecar.stop(signal.SIGTERM), 0)

    def test_an_unread_delivery_is_destroyed_by_the_next(self):
        accessor_file = os.path.join(self.sidecar.dir, ".secret_id.accessor")
        self.exec_start_pre()
        with open(accessor_file) as f:
            first = f.read().strip()
        self.assertTrue(first)
        lookup = "auth/approle/role/example-app/secret-id-accessor/lookup"
        self.assertIsNotNone(vault_api("POST", lookup, {"secret_id_accessor": first}))
        self.exec_start_pre()
        with open(accessor_file) as f:
            second = f.read().strip()
        self.assertNotEqual(first, second)
        try:
            gone = vault_api("POST", lookup, {"secret_id_accessor": first}) is None
        except urllib.error.HTTPError:
            gone = True
        self.assertTrue(gone, "the unread secret_id still exists")
        self.assertIsNotNone(vault_api("POST", lookup, {"secret_id_accessor": second}))


def secret_id_metric(sidecar):
    """smtp_sidecar_secret_id_expires_seconds from GET /metrics, or None."""
    status, body, _ = sidecar.request("GET", "/metrics")
    assert status == 200, status
    text = body.decode() if isinstance(body, bytes) else str(body)
    for line in text.splitlines():
        if line.startswith("smtp_sidecar_secret_id_expires_seconds "):
            return float(line.split()[1])
    return None


def configmap_block(key):
    """A literal block (`key: |`) of deploy/kubernetes/configmap.yaml's data, as the API
    server would hand it to the container (indentation removed). No YAML library: the
    file's blocks are plain `|` scalars indented by four spaces."""
    with open(os.path.join(REPO, "deploy", "kubernetes", "configmap.yaml")) as f:
        lines = f.read().split("\n")
    start = lines.index(f"  {key}: |") + 1
    block = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block).rstrip("\n") + "\n"


class SecretIdExpiryTest(unittest.TestCase):
    """A secret_id nearing its expiry is reported while there is time (issue 14 (2)):
    the unwrap's secret_id_ttl becomes smtp_sidecar_secret_id_expires_seconds, and a
    secret_id that will not outlive the current token (here: 60 s against a 5 min
    token) is a warning at once, naming what to do."""

    def test_a_short_lived_secret_id_is_reported(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        sidecar.wrapped = False
        token = bao("write", "-wrap-ttl=120s", "-field=wrapping_token",
                    "auth/approle/role/example-app/secret-id", "ttl=60s").stdout.strip()
        fd = os.open(sidecar.secret_id_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        sidecar.start()
        unwrapped = sidecar.events("secret_id_unwrapped")
        self.assertEqual([e.get("secret_id_ttl_seconds") for e in unwrapped], [60])
        left = secret_id_metric(sidecar)
        self.assertIsNotNone(left)
        self.assertTrue(0 < left <= 60, left)
        self.assertTrue(wait_for(lambda: sidecar.events("secret_id_expiring"), timeout=10),
                        sidecar.output()[-2000:])
        warning = sidecar.events("secret_id_expiring")[0]
        self.assertTrue(0 < warning["seconds_left"] <= 60, warning)


class PodDeliveryContainerTest(unittest.TestCase):
    """The pod's delivery container (deploy/kubernetes: a native sidecar running
    deliver-approle.sh from the ConfigMap) re-delivers when smtp-sidecar consumed the
    wrapped secret_id, so a restart of the smtp-sidecar container alone (init containers
    do not run again) starts without a person. The ConfigMap's script runs here as
    written, with two lines swapped because this stack has no Kubernetes: the OpenBao
    address, and the Kubernetes-auth login, replaced by a login of the same delivery
    policy's AppRole (the stack's delivery identity)."""

    def setUp(self):
        script = configmap_block("deliver-approle.sh")
        self.sidecar = Sidecar()
        self.addCleanup(self.sidecar.cleanup)
        self.sidecar.wrapped = False
        self.dir = self.sidecar.dir
        approle = os.path.join(ENV["STACK_DIR"], "approle", "delivery")
        env_line = f"export BAO_ADDR={shlex.quote(ENV['VAULT_ADDR'])}"
        if ENV.get("VAULT_CACERT"):
            env_line += f" BAO_CACERT={shlex.quote(ENV['VAULT_CACERT'])}"
        script, n_env = re.subn(r"^export BAO_ADDR=.*$", env_line, script, flags=re.M)
        script, n_login = re.subn(
            r"bao write -field=token auth/kubernetes/login \\\n.*\n.*jwt=@\S+\)",
            f"bao write -field=token auth/approle/login role_id=@{approle}/role-id "
            f"secret_id=@{approle}/secret-id)", script)
        script, n_dir = re.subn(r"dir=/run/approle", f"dir={self.dir}", script)
        self.assertEqual((n_env, n_login, n_dir), (1, 1, 1), script)
        with open(self.sidecar.config_path) as f:
            config = f.read()
        config = re.sub(r'^role_id_file = .*$', f'role_id_file = "{self.dir}/role-id"', config,
                        flags=re.M)
        config = re.sub(r'^secret_id_file = .*$', f'secret_id_file = "{self.dir}/secret-id"',
                        config, flags=re.M)
        with open(self.sidecar.config_path, "w") as f:
            f.write(config)
        env = dict(os.environ, PATH=os.path.dirname(CLI) + ":" + os.environ["PATH"])
        self.delivery = subprocess.Popen(["/bin/sh", "-c", script], env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True)
        self.addCleanup(self.delivery.wait)
        self.addCleanup(self.delivery.terminate)
        secret_id = os.path.join(self.dir, "secret-id")
        self.assertTrue(wait_for(lambda: os.path.exists(secret_id), timeout=30),
                        "the delivery container delivered nothing")

    def test_a_restart_of_the_sidecar_container_alone_needs_no_person(self):
        secret_id = os.path.join(self.dir, "secret-id")
        for start in range(3):  # the pod's start, then two container restarts
            # The startupProbe: the sidecar container starts once the file is there.
            self.assertTrue(wait_for(lambda: os.path.exists(secret_id), timeout=15),
                            f"start {start}: nothing re-delivered")
            self.sidecar.start()
            self.assertEqual(len(self.sidecar.events("secret_id_unwrapped")), 1,
                             self.sidecar.output()[-2000:])
            rcpt = f"pod-{uuid.uuid4().hex[:8]}@example.test"
            message = f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: pod\r\n\r\nx\r\n".encode()
            self.assertEqual(self.sidecar.send_raw(message, SENDER, [rcpt])[0], 200)
            self.assertTrue(wait_for(lambda: delivered(rcpt), timeout=30), rcpt)
            # The container is stopped (SIGTERM, as the kubelet does) or killed.
            self.sidecar.stop(signal.SIGTERM if start < 2 else signal.SIGKILL)
        self.assertIsNone(self.delivery.poll(), "the delivery container exited")


if __name__ == "__main__":
    unittest.main()
