"""Fault matrix: one real fault per row, under a steady stream of asynchronous
submissions, against the real stack (OpenBao, PostgreSQL, Dovecot, Postfix). A client
thread submits one message every LOAD_INTERVAL s and, like a real client, submits a
refused one again after a moment (503/429, or no socket while the sidecar restarts),
until it is accepted (202). Each row's figure: accepted, delivered, lost, duplicated,
and seconds during which submissions were refused. Lost = 0 is asserted in every row,
duplicated = 0 in every row but kill -9 of the supervisor (at most the sends in flight:
at-least-once); docs/OPERATIONS.md keeps the table of a run.

Durations (seconds; defaults as issue 14 asks): FAULT_VAULT_STOP_SECONDS (90),
FAULT_PG_DOWN_SECONDS (30), FAULT_DOVECOT_DOWN_SECONDS (30), FAULT_POSTFIX_DOWN_SECONDS
(60), FAULT_LOAD_SECONDS (load before and after each fault, 3).
"""
import os
import signal
import subprocess
import threading
import time
import unittest
import uuid

from stacklib import (ENV, REPO, Sidecar, approle_tokens, live_leases, maildir_messages, postfix,
                      role_pids, wait_for)

SENDER = "app@example.test"
LOAD_INTERVAL = 0.25
FIGURES = []


def seconds(name, default):
    return float(os.environ.get(name, default))


VAULT_STOP = seconds("FAULT_VAULT_STOP_SECONDS", 90)
PG_DOWN = seconds("FAULT_PG_DOWN_SECONDS", 30)
DOVECOT_DOWN = seconds("FAULT_DOVECOT_DOWN_SECONDS", 30)
POSTFIX_DOWN = seconds("FAULT_POSTFIX_DOWN_SECONDS", 60)
AROUND = seconds("FAULT_LOAD_SECONDS", 3)


def flush_postfix_queue():
    subprocess.run(["postqueue", "-c", ENV["POSTFIX_CONF_DIR"], "-f"], capture_output=True)


def pid_file(*parts):
    with open(os.path.join(ENV["STACK_DIR"], *parts)) as f:
        return int(f.readline().strip())


def stack_start():
    subprocess.run([os.path.join(REPO, "scripts", "stack"), "start"], check=True,
                   capture_output=True)


def spooled_sidecar():
    s = Sidecar()
    with open(s.config_path, "a") as f:
        f.write(f'[spool]\ndirectory = "{os.path.join(s.dir, "spool")}"\n'
                'transit_key = "example-app-spool"\n')
    return s


class Load:
    """The client: submits until stopped; every message is submitted until accepted."""

    def __init__(self, sidecar, tag):
        self.sidecar = sidecar
        self.tag = tag
        self.accepted = []  # recipients whose message got a 202
        self.refused_seconds = 0.0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def submit(self, rcpt):
        message = (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: fault {rcpt}\r\n\r\nbody\r\n").encode()
        try:
            status, _, _ = self.sidecar.request(
                "POST", f"/v1/messages?from={SENDER}&to={rcpt}", body=message,
                headers={"Content-Type": "message/rfc822", "Prefer": "respond-async"})
            return status
        except OSError:
            return None  # no socket: the sidecar is restarting

    def run(self):
        n = 0
        while not self.stopping.is_set():
            rcpt = f"{self.tag}-{n}-{uuid.uuid4().hex[:6]}@example.test"
            n += 1
            refused_since = None
            while True:
                status = self.submit(rcpt)
                if status == 202:
                    self.accepted.append(rcpt)
                    break
                refused_since = refused_since or time.monotonic()
                if self.stopping.wait(0.2):
                    break
            if refused_since is not None:
                self.refused_seconds += time.monotonic() - refused_since
            self.stopping.wait(LOAD_INTERVAL)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=30)


class FaultMatrixTest(unittest.TestCase):
    def setUp(self):
        stack_start()  # whatever a failed row left stopped
        self.sidecar = spooled_sidecar().start()
        self.addCleanup(self.sidecar.cleanup)
        self.addCleanup(stack_start)
        self.assertTrue(wait_for(lambda: self.sidecar.events("spool_recovered"), timeout=30),
                        self.sidecar.output()[-3000:])

    @classmethod
    def tearDownClass(cls):
        # The suites after this one share the stack: a Postfix whose lookups failed while
        # PostgreSQL or Dovecot was down keeps deferring (minimal_backoff_time, 300 s) and
        # its qmgr remembers the dead destinations. A reload restarts its daemons; the
        # flush sends what waits.
        stack_start()
        subprocess.run(["postfix", "-c", ENV["POSTFIX_CONF_DIR"], "reload"], capture_output=True)
        flush_postfix_queue()
        if FIGURES:
            print("\n| fault | accepted | delivered | lost | duplicated | seconds refused |")
            print("|---|---|---|---|---|---|")
            for r in FIGURES:
                print(f"| {r['fault']} | {r['accepted']} | {r['delivered']} | {r['lost']} | "
                      f"{r['duplicated']} | {r['refused']:.1f} |")

    def row(self, fault, inject, duplicates_allowed=0):
        """Load, the fault (inject() returns when it is over), load; then every accepted
        message must arrive exactly once."""
        with Load(self.sidecar, fault.split()[0].lower().replace("-", "")) as load:
            time.sleep(AROUND)
            inject()
            time.sleep(AROUND)
        accepted = list(load.accepted)
        self.assertGreater(len(accepted), 0)
        # A message Postfix took while its own lookups failed (PostgreSQL down) waits in
        # its deferred queue (minimal_backoff_time, 300 s): flushed, as an operator would.
        wait_for(lambda: flush_postfix_queue() or all(maildir_messages(r) for r in accepted),
                 timeout=120, interval=1.0)
        time.sleep(1.0)  # a duplicate would arrive now
        copies = {r: len(maildir_messages(r)) for r in accepted}
        figure = {"fault": fault, "accepted": len(accepted),
                  "delivered": sum(1 for n in copies.values() if n >= 1),
                  "lost": sum(1 for n in copies.values() if n == 0),
                  "duplicated": sum(n - 1 for n in copies.values() if n > 1),
                  "refused": load.refused_seconds}
        FIGURES.append(figure)
        print(f"\nfigure: {figure}")
        self.assertEqual(figure["lost"], 0, self.sidecar.output()[-3000:])
        # At least once: a process killed between the server's 250 and the spool's
        # final write sends those messages again (docs/OPERATIONS.md, the duplicate
        # window): at most the sends that were in flight.
        self.assertLessEqual(figure["duplicated"], duplicates_allowed)

    def restart_if_gone(self):
        """The platform's restart (systemd Restart=, a container restart) when the
        sidecar stopped: a new process on the same spool, with a newly delivered
        wrapped secret_id (as the unit's ExecStartPre, compose's bootstrap service and
        the pod's delivery container do)."""
        if self.sidecar.proc.poll() is not None:
            self.sidecar.start()

    def keeper_crash_row(self, sig, fault):
        """The keeper dies without revoking anything (issue 14 (2)): the supervisor
        starts another, which takes over the dead one's token and lease from the
        hand-off memory. Asserted: the sidecar never exits; a synchronous send succeeds
        within 5 s of the kill (on the new keeper's answer); no token or lease is
        orphaned (OpenBao: the role's tokens are as many as before, and each lease the
        dead keeper held is revoked or is the one the new keeper took over)."""
        tokens_before = approle_tokens()
        leases_before = live_leases()
        held = {e["lease_id"] for e in self.sidecar.events("credential_leased")} & leases_before
        self.assertEqual(len(held), 1, (held, leases_before))
        figures = {}

        def send_now():
            rcpt = f"resume-{uuid.uuid4().hex[:8]}@example.test"
            message = f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: resume\r\n\r\nx\r\n".encode()
            try:
                status = self.sidecar.request(
                    "POST", f"/v1/messages?from={SENDER}&to={rcpt}", body=message,
                    headers={"Content-Type": "message/rfc822"})[0]
            except OSError:
                return False
            return status == 200

        def inject():
            supervisor = self.sidecar.proc.pid
            keeper = role_pids(supervisor)["keeper"]
            killed = time.monotonic()
            os.kill(keeper, sig)
            resumed = wait_for(lambda: role_pids(supervisor).get("keeper") not in (None, keeper)
                               and send_now(), timeout=20, interval=0.1)
            figures["resumed"] = time.monotonic() - killed
            self.assertTrue(resumed, self.sidecar.output()[-3000:])
            self.assertIsNone(self.sidecar.proc.poll(), "the sidecar exited")
        self.row(fault, inject)
        print(f"\n{fault}: sending resumed {figures['resumed']:.2f} s after the signal")
        self.assertLess(figures["resumed"], 5.0)
        self.assertIsNone(self.sidecar.proc.poll(), "the sidecar exited")
        self.assertTrue(self.sidecar.events("handoff_taken_over"), self.sidecar.output()[-3000:])
        adopted = {e["lease_id"] for e in self.sidecar.events("handoff_lease_adopted")}
        leases_after = live_leases()
        for lease in held:
            self.assertTrue(lease not in leases_after or lease in adopted,
                            f"{lease} orphaned: {leases_after}")
        self.assertEqual(len(leases_after), len(leases_before), (leases_before, leases_after))
        self.assertEqual(len(approle_tokens()), len(tokens_before))

    def test_kill_9_of_the_keeper(self):
        self.keeper_crash_row(signal.SIGKILL, "kill -9 keeper")

    def test_sigsegv_of_the_keeper(self):
        self.keeper_crash_row(signal.SIGSEGV, "SIGSEGV keeper")

    def test_sigabrt_of_the_keeper(self):
        self.keeper_crash_row(signal.SIGABRT, "SIGABRT keeper")

    def test_kill_9_of_the_supervisor(self):
        def inject():
            roles = role_pids(self.sidecar.proc.pid)
            os.kill(self.sidecar.proc.pid, signal.SIGKILL)
            self.sidecar.proc.wait()
            # Its roles follow it (PR_SET_PDEATHSIG); a restart must not find them.
            for pid in roles.values():
                wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10)
            self.restart_if_gone()
        # The roles die with it (SIGKILL): sends in flight may be repeated.
        self.row("kill -9 supervisor", inject, duplicates_allowed=8)

    def test_openbao_stopped(self):
        def inject():
            pid = pid_file("vault", "openbao.pid")
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(VAULT_STOP)
            finally:
                os.kill(pid, signal.SIGCONT)
        self.row(f"OpenBao SIGSTOP {VAULT_STOP:.0f} s", inject)

    def test_postgresql_down(self):
        def inject():
            os.kill(pid_file("postgres", "data", "postmaster.pid"), signal.SIGINT)  # fast stop
            time.sleep(PG_DOWN)
            stack_start()
        self.row(f"PostgreSQL down {PG_DOWN:.0f} s", inject)

    def test_dovecot_down(self):
        def inject():
            os.kill(pid_file("dovecot", "run", "master.pid"), signal.SIGTERM)
            time.sleep(DOVECOT_DOWN)
            stack_start()
        self.row(f"Dovecot down {DOVECOT_DOWN:.0f} s", inject)

    def test_postfix_down(self):
        def inject():
            postfix("stop")
            time.sleep(POSTFIX_DOWN)
            postfix("start")
        self.row(f"Postfix down {POSTFIX_DOWN:.0f} s", inject)


if __name__ == "__main__":
    unittest.main()
