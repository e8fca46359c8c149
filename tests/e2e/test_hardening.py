"""End-to-end: how every smtp-sidecar process hardens itself (sidecar/base/src/hardening.cc).

Checked from outside, through /proc, on a sidecar running against the real stack: the
privilege drop from root, no core dumps, not dumpable, no new privileges, umask 077, the
socket's owner and mode, root refused without process.user, and a secret_id handed over
in the environment that is gone from every process's environment and argv.

Needs the stack running and bootstrapped (scripts/test does both).
"""
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import unittest
import uuid

from stacklib import RUN_AS, Sidecar, bao, delivered, role_pids

KEEPER_USER, WORKER_USER = "smtp-sidecar-keeper", "smtp-sidecar-worker"
# CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7): what a supervisor whose roles have their
# own users keeps (sidecar/base/src/hardening.cc); /proc shows capability sets in hex.
ROLE_SWITCHING_CAPS = (1 << 5) | (1 << 6) | (1 << 7)


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def core_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    return None


def plain_secret_id():
    return bao("write", "-format=json", "-f",
               "auth/approle/role/example-app/secret-id")["data"]["secret_id"]


@unittest.skipUnless(RUN_AS, "the privilege drop is tested when the tests run as root")
class HardeningTest(unittest.TestCase):
    def test_every_process_is_hardened_and_runs_as_the_named_user(self):
        sidecar = Sidecar().start()
        self.addCleanup(sidecar.cleanup)
        user = pwd.getpwnam(RUN_AS)
        roles = role_pids(sidecar.proc.pid)
        self.assertEqual(set(roles), {"keeper", "worker"})
        for name, pid in [("supervisor", sidecar.proc.pid), *roles.items()]:
            with self.subTest(process=name):
                status = proc_status(pid)
                self.assertEqual(status["Uid"].split(), [str(user.pw_uid)] * 4)
                self.assertEqual(status["Gid"].split(), [str(user.pw_gid)] * 4)
                self.assertEqual(status["NoNewPrivs"], "1")
                # Filtered (mode 2): the supervisor's filter, and each role's own under it
                # (sidecar/base/seccomp.h; tests/sidecar/base/seccomp_test.cc tries the
                # forbidden calls).
                self.assertEqual(status["Seccomp"], "2")
                self.assertEqual(status["Seccomp_filters"], "1" if name == "supervisor" else "2")
                self.assertEqual(status["Umask"], "0077")
                self.assertEqual(core_limit(pid), ["0", "0"])
                # Not dumpable: the kernel gives its /proc files to root, so the user it
                # runs as cannot read its memory or attach to it.
                self.assertEqual(os.stat(f"/proc/{pid}/mem").st_uid, 0)
        sock = os.stat(sidecar.socket)
        self.assertTrue(stat.S_ISSOCK(sock.st_mode))
        self.assertEqual(stat.S_IMODE(sock.st_mode), 0o660)
        self.assertEqual(sock.st_uid, user.pw_uid)

    def test_roles_with_their_own_users_keep_the_approle_files_from_the_worker(self):
        secret_id = plain_secret_id()
        secret_file = tempfile.NamedTemporaryFile("w", delete=False, dir="/tmp")
        secret_file.write(secret_id)
        secret_file.close()
        self.addCleanup(os.unlink, secret_file.name)
        sidecar = Sidecar(secret_id_file=secret_file.name,
                          process_config=f'keeper_user = "{KEEPER_USER}"\n'
                                         f'worker_user = "{WORKER_USER}"')
        self.addCleanup(sidecar.cleanup)
        keeper, worker = pwd.getpwnam(KEEPER_USER), pwd.getpwnam(WORKER_USER)
        # The AppRole files in a directory only the keeper's user can enter.
        approle = tempfile.mkdtemp(prefix="sidecar-approle-", dir="/tmp")
        self.addCleanup(shutil.rmtree, approle, True)
        with open(sidecar.config_path) as f:
            config = f.read()
        for name in ("role-id", "secret-id"):
            staged = os.path.join(sidecar.dir, "staged-" + name)
            moved = os.path.join(approle, name)
            shutil.move(staged, moved)
            os.chown(moved, keeper.pw_uid, keeper.pw_gid)
            config = config.replace(staged, moved)
        os.chown(approle, keeper.pw_uid, keeper.pw_gid)
        os.chmod(approle, 0o700)
        with open(sidecar.config_path, "w") as f:
            f.write(config)
        # The configuration and the CA bundles are for the whole group.
        os.chmod(sidecar.dir, 0o750)
        for name in os.listdir(sidecar.dir):
            os.chmod(os.path.join(sidecar.dir, name), 0o640)
        sidecar.start()
        roles = role_pids(sidecar.proc.pid)
        self.assertEqual(set(roles), {"keeper", "worker"}, sidecar.output())
        expected = {"supervisor": pwd.getpwnam(RUN_AS).pw_uid, "keeper": keeper.pw_uid,
                    "worker": worker.pw_uid}
        for name, pid in [("supervisor", sidecar.proc.pid), *roles.items()]:
            with self.subTest(process=name):
                status = proc_status(pid)
                self.assertEqual(status["Uid"].split(), [str(expected[name])] * 4)
                self.assertEqual(status["NoNewPrivs"], "1")
                caps = ROLE_SWITCHING_CAPS if name == "supervisor" else 0
                self.assertEqual(int(status["CapEff"], 16), caps)
                self.assertEqual(int(status["CapPrm"], 16), caps)
        self.assertEqual(int(proc_status(sidecar.proc.pid)["CapBnd"], 16), ROLE_SWITCHING_CAPS)
        # The worker's user cannot read them (nor list the directory)...
        for path in (approle, os.path.join(approle, "role-id")):
            refused = subprocess.run(
                ["setpriv", f"--reuid={worker.pw_uid}", f"--regid={worker.pw_gid}",
                 "--init-groups", "cat" if path != approle else "ls", path],
                capture_output=True, text=True)
            self.assertNotEqual(refused.returncode, 0, refused.stdout)
            self.assertIn("Permission denied", refused.stderr)
        # ...and the sidecar sends, then stops cleanly (the supervisor can signal both).
        rcpt = f"roles-{uuid.uuid4().hex[:8]}@example.test"
        status, payload, _ = sidecar.send_raw(
            f"From: app@example.test\r\nTo: {rcpt}\r\nSubject: roles\r\n\r\nbody\r\n",
            "app@example.test", [rcpt])
        self.assertEqual(status, 200, payload)
        self.assertTrue(delivered(rcpt))
        self.assertEqual(sidecar.stop(), 0, sidecar.output())

    def test_root_without_process_user_is_refused(self):
        sidecar = Sidecar()
        self.addCleanup(sidecar.cleanup)
        with open(sidecar.config_path) as f:
            config = f.read()
        with open(sidecar.config_path, "w") as f:
            f.write(config.replace(f'[process]\nuser = "{RUN_AS}"\n', ""))
        sidecar.start(wait=False)
        self.assertEqual(sidecar.proc.wait(timeout=30), 78, sidecar.output())
        self.assertIn("refusing to run as root", sidecar.output())
        self.assertFalse(os.path.exists(sidecar.socket))

    def test_a_secret_id_from_the_environment_leaves_no_trace_in_proc(self):
        secret_id = plain_secret_id()
        sidecar = Sidecar(env={"SMTP_SIDECAR_SECRET_ID": secret_id})
        self.addCleanup(sidecar.cleanup)
        sidecar.wrapped = False
        with open(sidecar.config_path) as f:
            lines = f.read().splitlines()
        with open(sidecar.config_path, "w") as f:
            f.write("\n".join(line for line in lines if not line.startswith(
                ("secret_id_file", "secret_id_wrapped", "approle_role", "remove_secret_id"))))
        sidecar.start()
        status, payload, _ = sidecar.request("GET", "/v1/ready")
        self.assertEqual(status, 200, payload)
        self.assertTrue(sidecar.events("vault_login"), sidecar.output())
        needle = secret_id.encode()
        for name, pid in [("supervisor", sidecar.proc.pid),
                          *role_pids(sidecar.proc.pid).items()]:
            with self.subTest(process=name):
                for view in ("environ", "cmdline"):
                    with open(f"/proc/{pid}/{view}", "rb") as f:
                        content = f.read()
                    self.assertNotIn(needle, content, f"secret_id in /proc/{name}/{view}")
                    self.assertNotIn(b"SMTP_SIDECAR_SECRET_ID", content)
        self.assertNotIn(secret_id, sidecar.output())


if __name__ == "__main__":
    unittest.main()
