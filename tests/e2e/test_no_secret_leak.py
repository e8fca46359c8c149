"""End-to-end: the no-secret proof.

One whole flow (login with a response-wrapped secret_id, lease, 100 sends, rotation of
the SMTP login before its max TTL, more sends, SIGTERM and revocation) runs under
`strace -f`, which records every byte every sidecar process writes. Then:

- no secret byte (the Vault token, the wrapping token, the secret_id, every SMTP
  password, their base64 forms and the AUTH PLAIN string) is written to any file, pipe,
  log or socket in clear. The one exception is by design: the keeper hands the SMTP
  username and password to the worker over their private socketpair (ipc.h). Vault and
  SMTP see them only inside TLS: every byte written to a TCP socket of Vault is a TLS
  record, and to the SMTP server nothing but the greeting dialogue precedes STARTTLS;
- no byte reaches the kernel by a call that strace cannot show (sendfile, splice...);
- the secret_id file is gone once read (vault.remove_secret_id_file);
- after the rotation, when the old lease is revoked, the keeper's and the worker's whole
  memory (every readable mapping, read through /proc/PID/mem as root) holds no copy of
  the revoked password in any of its forms: not ours, not libcurl's, not OpenSSL's, not
  the JSON parser's;
- between sends, the worker holds the current password (and its AUTH PLAIN string, if
  at all) only in locked memory (mappings the kernel reports as mlock'ed, VmFlags "lo":
  SecretBytes), nowhere else: the relay client builds the AUTH line there and writes it
  to the TLS stream from there (issue 16, point 3).

The secrets themselves come from a raw audit device of OpenBao (the stack's usual audit
log hashes them; SIDECAR_STACK_VAULT_AUDIT_RAW=1 adds one that does not). OpenBao must speak TLS here: run this suite through
tests/e2e/run-on-tls-stack, which starts a private stack with `bao server -dev-tls`.
"""
import base64
import json
import os
import re
import signal
import subprocess
import time
import unittest
import uuid

from stacklib import ENV, Sidecar, wait_for

SENDER = "app@example.test"
MESSAGES_BEFORE_ROTATION = 100
WRITE_CALLS = "write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,sendmmsg"
# Calls that move bytes without showing them: the sidecar must never use them.
OPAQUE_CALLS = "sendfile,splice,vmsplice,tee,copy_file_range"

CALL = re.compile(r"^(\d+)\s+(\w+)\((\d+)<(.*?)>,")
HEX_STRING = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')


def forms(secret):
    """The ways a secret could leave a process: itself and base64 (AUTH LOGIN sends
    base64(password); the base64 of a token would be an encoding slip)."""
    raw = secret.encode()
    return {raw, base64.b64encode(raw)}


def auth_plain(username, password):
    return base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode())


def process_pids(config_path):
    """{name: pid} of the sidecar processes started with this config."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"smtp-sidecar") or config_path.encode() not in argv:
            continue
        role = argv[argv.index(b"--role") + 1].decode() if b"--role" in argv else "supervisor"
        found[role] = int(entry)
    return found


def locked_mappings(pid):
    """The address ranges ("start-end", as in /proc/PID/maps) the kernel keeps mlock'ed."""
    locked, current = set(), None
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                current = head
            elif head == "VmFlags:" and " lo" in f" {line.split(':', 1)[1]}":
                locked.add(current)
    return locked


def read_memory(pid):
    """Every readable mapping of `pid`, as (description, bytes)."""
    regions = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else "[anon]"
            if "r" not in fields[1] or name in ("[vvar]", "[vsyscall]"):
                continue
            try:
                mem.seek(start)
                regions.append((f"{fields[0]} {fields[1]} {name}", mem.read(end - start)))
            except OSError:
                continue  # guard pages and the like
    return regions


class NoSecretLeakTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not ENV.get("VAULT_CACERT"):
            raise unittest.SkipTest("OpenBao speaks plain HTTP here: run this suite through "
                                    "tests/e2e/run-on-tls-stack")
        cls.audit_log = ENV.get("VAULT_AUDIT_RAW_LOG", "")
        if not os.path.exists(cls.audit_log):
            raise unittest.SkipTest("no raw audit log (SIDECAR_STACK_VAULT_AUDIT_RAW=1): run "
                                    "this suite through tests/e2e/run-on-tls-stack")
        cls.work = f"/tmp/no-secret-leak-{uuid.uuid4().hex[:8]}"
        os.makedirs(cls.work)
        cls.run_flow()
        cls.secrets = cls.secrets_from_audit_log()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "sidecar", None):
            cls.sidecar.cleanup()

    @classmethod
    def run_flow(cls):
        cls.trace = os.path.join(cls.work, "strace.log")
        sidecar = cls.sidecar = Sidecar(env={"SMTP_SIDECAR_VAULT_ROTATION_GRACE_SECONDS": "2"})
        sidecar.command_prefix = ["strace", "-f", "-qq", "-o", cls.trace, "-s", "4194304",
                                  "-xx", "-yy", "-e", f"trace={WRITE_CALLS},{OPAQUE_CALLS}",
                                  "-e", "signal=none"]
        sidecar.start()
        cls.pids = process_pids(sidecar.config_path)
        cls.sent = [cls.send(i) for i in range(MESSAGES_BEFORE_ROTATION)]
        # The bootstrap of run-on-tls-stack gives logins a short max TTL: the keeper
        # rotates before it, and revokes the old lease after the grace.
        rotated = wait_for(lambda: sidecar.events("credential_rotated"), timeout=60)
        if not rotated:
            raise AssertionError("no rotation within 60 s:\n" + sidecar.output())
        cls.old_lease = rotated[0]["old_lease_id"]
        if not wait_for(lambda: any(e["lease_id"] == cls.old_lease
                                    for e in sidecar.events("lease_revoked")), timeout=30):
            raise AssertionError("the old lease was not revoked:\n" + sidecar.output())
        cls.sent += [cls.send(i) for i in range(MESSAGES_BEFORE_ROTATION, MESSAGES_BEFORE_ROTATION + 10)]
        time.sleep(0.5)  # the retired lease's SMTP connections have closed by now
        cls.memory = {role: read_memory(pid) for role, pid in cls.pids.items()
                      if role in ("keeper", "worker")}
        cls.worker_locked = locked_mappings(cls.pids["worker"])
        os.kill(cls.pids["supervisor"], signal.SIGTERM)
        cls.exit_code = sidecar.proc.wait(timeout=60)  # strace exits with the supervisor

    @classmethod
    def send(cls, i):
        rcpt = f"leak-{i}@example.test"
        message = (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: leak test {i}\r\n\r\n"
                   f"body {i}\r\n").encode()
        status, _, _ = cls.sidecar.send_raw(message, SENDER, [rcpt])
        return status

    @classmethod
    def secrets_from_audit_log(cls):
        """{label: value} of every secret OpenBao handed out or received in the flow,
        and the SMTP logins as (lease_id, username, password)."""
        secrets, logins = {}, []
        with open(cls.audit_log) as f:
            for line in f:
                entry = json.loads(line)
                if entry.get("type") != "response":
                    continue
                path = entry["request"].get("path", "")
                request = entry["request"].get("data") or {}
                response = entry.get("response") or {}
                data = response.get("data") or {}
                n = len(secrets)
                if path.endswith("/login"):
                    secrets[f"secret_id ({path}) #{n}"] = request["secret_id"]
                    secrets[f"vault token #{n}"] = response["auth"]["client_token"]
                elif path == "sys/wrapping/unwrap":
                    secrets["wrapping token"] = entry["request"]["client_token"]
                    secrets["unwrapped secret_id"] = data["secret_id"]
                elif "/creds/" in path and "password" in data:
                    logins.append((response["secret"]["lease_id"], data["username"],
                                   data["password"]))
        cls.logins = logins
        for lease_id, username, password in logins:
            secrets[f"SMTP password of {lease_id}"] = password
        return secrets

    def needles(self):
        found = {}
        for label, value in self.secrets.items():
            for form in forms(value):
                found[form] = label
        for lease_id, username, password in self.logins:
            found[auth_plain(username, password)] = f"AUTH PLAIN of {lease_id}"
        return found

    def test_the_flow_ran(self):
        self.assertEqual(self.sent, [200] * len(self.sent), self.sidecar.output())
        self.assertEqual(self.exit_code, 0, self.sidecar.output())
        self.assertGreaterEqual(len(self.logins), 2, "no rotation to a second login")
        self.assertTrue(any(label.startswith("vault token") for label in self.secrets))
        self.assertIn("unwrapped secret_id", self.secrets)

    def test_the_secret_id_file_is_gone(self):
        self.assertFalse(os.path.exists(self.sidecar.secret_id_file))

    def test_no_secret_is_written_anywhere_in_clear(self):
        needles = self.needles()
        # The password (and username) go from keeper to worker over the private
        # socketpair by design; nothing else may carry any secret.
        private_channel_only = {password.encode() for _, _, password in self.logins}
        calls = 0
        leaks = []
        handed_to_worker = set()
        vault_port = ENV["VAULT_ADDR"].rsplit(":", 1)[1]
        smtp_port = ENV["SMTP_STARTTLS_PORT"]
        vault_plain = []
        smtp_plain_before_tls = []
        with open(self.trace, errors="replace") as f:
            for line in f:
                opaque = re.match(r"^\d+\s+(" + OPAQUE_CALLS.replace(",", "|") + r")\(", line)
                self.assertIsNone(opaque, f"bytes moved where strace cannot see them: {line[:200]}")
                m = CALL.match(line)
                if not m:
                    continue
                calls += 1
                pid, call, fd, target = m.groups()
                data = b"".join(bytes.fromhex(s.replace("\\x", ""))
                                for s in HEX_STRING.findall(line))
                for needle, label in needles.items():
                    if needle not in data:
                        continue
                    if needle in private_channel_only and target.startswith("UNIX"):
                        handed_to_worker.add(needle)
                    else:
                        leaks.append(f"{label} written by pid {pid} with {call} to {target}")
                if target.startswith("TCP") and f":{vault_port}]" in target and data:
                    if data[0] not in (0x14, 0x15, 0x16, 0x17):  # TLS record types
                        vault_plain.append(data[:40])
                if target.startswith("TCP") and f":{smtp_port}]" in target and data:
                    if data[0] not in (0x14, 0x15, 0x16, 0x17):
                        smtp_plain_before_tls.append(data[:40])
        self.assertGreater(calls, 500, "strace recorded too little to prove anything")
        # The control: the search does find a password where it is meant to be.
        self.assertEqual(handed_to_worker, private_channel_only,
                         "a password never seen on the keeper-worker channel: is the "
                         "trace complete?")
        self.assertEqual(leaks, [])
        self.assertEqual(vault_plain, [], "bytes to OpenBao outside TLS")
        # In clear to the SMTP server: only EHLO and STARTTLS, before the handshake.
        for chunk in smtp_plain_before_tls:
            self.assertRegex(chunk, rb"^(EHLO|STARTTLS|QUIT)", chunk)
        print(f"\n  {calls} write calls inspected; {len(needles)} secret forms "
              f"({len(self.logins)} SMTP logins); no leak")

    def test_no_copy_of_the_revoked_password_in_keeper_or_worker_memory(self):
        revoked = [entry for entry in self.logins if entry[0] == self.old_lease]
        self.assertEqual(len(revoked), 1, f"{self.old_lease} not in the audit log")
        _, username, password = revoked[0]
        needles = {**{form: "password" for form in forms(password)},
                   auth_plain(username, password): "AUTH PLAIN"}
        scanned = 0
        found = []
        for role, regions in self.memory.items():
            for description, data in regions:
                scanned += len(data)
                for needle, label in needles.items():
                    at = data.find(needle)
                    if at >= 0:
                        found.append(f"{label} in the {role}'s {description} at +{at:#x}")
        self.assertGreater(scanned, 1 << 20)
        self.assertEqual(found, [])
        # The control: the current password is found, in the keeper's locked memory.
        current = [entry for entry in self.logins if entry[0] != self.old_lease][-1]
        self.assertTrue(any(current[2].encode() in data
                            for _, data in self.memory["keeper"]),
                        "the scan does not even find the current password")
        print(f"\n  {scanned / (1 << 20):.1f} MiB of keeper and worker memory scanned; "
              f"no copy of the revoked password")

    def test_the_current_password_in_the_worker_only_in_locked_memory(self):
        _, username, password = [e for e in self.logins if e[0] != self.old_lease][-1]
        needles = {**{form: "password" for form in forms(password)},
                   auth_plain(username, password): "AUTH PLAIN"}
        outside, inside = [], 0
        for description, data in self.memory["worker"]:
            mapping = description.split()[0]
            for needle, label in needles.items():
                at = data.find(needle)
                if at < 0:
                    continue
                if mapping in self.worker_locked:
                    inside += 1
                else:
                    outside.append(f"{label} in the worker's {description} at +{at:#x}")
        self.assertEqual(outside, [])
        # The control: the worker does hold it, in its one locked copy (SecretBytes).
        self.assertGreater(inside, 0, "the scan does not find the worker's current password")
        print(f"\n  the worker's current password: {inside} copies, all in locked memory "
              f"({len(self.worker_locked)} locked mappings)")


if __name__ == "__main__":
    unittest.main()
