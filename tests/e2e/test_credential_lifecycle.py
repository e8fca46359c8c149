"""End-to-end: the credential lifecycle against real OpenBao, PostgreSQL and Postfix.

Short TTLs are set by re-running the bootstrap with SIDECAR_BOOTSTRAP_* (the defaults
are restored afterwards), so renewal, rotation before the lease's and the token's max
TTL, and an OpenBao that stops answering for a minute all happen within the test.
Needs the stack running and bootstrapped (scripts/test does both).
"""
import os
import signal
import subprocess
import time
import unittest
import uuid

from stacklib import ENV, REPO, Sidecar, bao, logins, maildir_messages, wait_for
from test_metrics import parse_exposition, total, value

SENDER = "app@example.test"


def bootstrap(**ttls):
    env = dict(os.environ)
    env.update({f"SIDECAR_BOOTSTRAP_{k.upper()}": v for k, v in ttls.items()})
    subprocess.run([os.path.join(REPO, "scripts", "vault-bootstrap")], check=True,
                   capture_output=True, text=True, env=env)


def vault_pid():
    with open(os.path.join(ENV["STACK_DIR"], "vault", "openbao.pid")) as f:
        return int(f.read().strip())


def send(sidecar, tag):
    rcpt = f"lifecycle-{tag}@example.test"
    msg = (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: {tag}\r\n\r\nbody {tag}\r\n").encode()
    status, body, _ = sidecar.send_raw(msg, SENDER, [rcpt])
    return status, body, rcpt


def events_per_metric(sidecar):
    """{metric series: count} of the lifecycle log events that each counter counts."""
    rotations = {}
    for e in sidecar.events("credential_rotated"):
        rotations[e["reason"]] = rotations.get(e["reason"], 0) + 1
    counts = {
        ("smtp_sidecar_lease_renewals_total", ()): len(sidecar.events("lease_renewed")),
        ("smtp_sidecar_lease_renewal_failures_total", ()): len(sidecar.events("lease_renew_failed")),
        ("smtp_sidecar_token_renewals_total", ()): len(sidecar.events("token_renewed")),
        ("smtp_sidecar_token_renewal_failures_total", ()): len(sidecar.events("token_renew_failed")),
        ("smtp_sidecar_vault_logins_total", ()): len(sidecar.events("vault_login")),
    }
    for reason in ("max_ttl", "token_max_ttl", "refused"):
        counts[("smtp_sidecar_credential_rotations_total", (("reason", reason),))] = \
            rotations.get(reason, 0)
    return counts


class LifecycleTest(unittest.TestCase):
    def assert_metrics_match_events(self):
        """The keeper's counters on /metrics agree with its log: each counter lies
        between the events logged before the scrape and those logged after it."""
        def scrape():
            # The keeper answers between Vault requests; one that is still waiting for
            # a slow OpenBao misses the 2 s deadline (keeper_up 0): ask again.
            before = events_per_metric(self.sidecar)
            status, body, _ = self.sidecar.request("GET", "/metrics")
            self.assertEqual(status, 200)
            families = parse_exposition(body.decode())
            if value(families, "smtp_sidecar_keeper_up") != 1:
                return None
            return before, families, events_per_metric(self.sidecar)
        scraped = wait_for(scrape, timeout=30, interval=0.5)
        self.assertTrue(scraped, "the keeper did not answer a scrape")
        before, families, after = scraped
        for (name, labels), logged in before.items():
            figure = value(families, name, **dict(labels))
            self.assertGreaterEqual(figure, logged, name)
            self.assertLessEqual(figure, after[(name, labels)], name)
        return families

    def tearDown(self):
        if getattr(self, "sidecar", None):
            self.sidecar.cleanup()
        bootstrap()  # default TTLs and a fresh secret_id for the other suites

    def stream(self, seconds, interval):
        """Sends one message per interval for `seconds`; returns the failures."""
        failures, sent = [], 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tag = uuid.uuid4().hex[:10]
            status, body, _ = send(self.sidecar, tag)
            sent += 1
            if status != 200:
                failures.append((time.monotonic(), status, body))
            time.sleep(interval)
        return sent, failures

    def test_renewal_and_rotation_before_max_ttl_under_a_steady_stream(self):
        # Token 12 s (max 36 s), login 15 s (max 40 s): within 60 s the lease is renewed,
        # the token is renewed, the token reaches its max TTL (new login, new lease),
        # and a lease reaches its max TTL (rotation).
        bootstrap(token_ttl="12s", token_max_ttl="36s", creds_ttl="15s", creds_max_ttl="40s")
        self.sidecar = Sidecar(extra_config="", env={
            "SMTP_SIDECAR_VAULT_ROTATION_GRACE_SECONDS": "3"}).start()
        before = logins()
        sent, failures = self.stream(seconds=60, interval=0.25)
        self.assertEqual(failures, [], f"{len(failures)} of {sent} sends failed")
        self.assertGreater(sent, 100)

        s = self.sidecar
        self.assertTrue(s.events("lease_renewed"), "no lease renewal observed")
        self.assertTrue(s.events("token_renewed"), "no token renewal observed")
        reasons = {e["reason"] for e in s.events("credential_rotated")}
        print(f"\n  {sent} sends, 0 failed; lease renewals {len(s.events('lease_renewed'))}, "
              f"token renewals {len(s.events('token_renewed'))}, logins "
              f"{len(s.events('vault_login'))}, rotations {len(s.events('credential_rotated'))} "
              f"({', '.join(sorted(reasons))})")
        self.assertIn("token_max_ttl", reasons)
        self.assertGreaterEqual(len(s.events("vault_login")), 2)
        families = self.assert_metrics_match_events()
        self.assertGreater(value(families, "smtp_sidecar_messages_total", outcome="sent",
                                 mode="sync"), 100)
        self.assertGreater(value(families, "smtp_sidecar_vault_requests_total",
                                 operation="lease_renew", status_class="2xx"), 0)
        self.assertGreater(value(families, "smtp_sidecar_vault_requests_total",
                                 operation="lease_revoke", status_class="2xx"), 0)
        # The connections logged in with a revoked lease are closed.
        retired = {e["lease_id"] for e in s.events("smtp_connections_retired")}
        self.assertTrue(retired, "no SMTP connection was retired with its lease")
        # Every login the sidecar had has been revoked except the current one. The
        # sidecar keeps running (and may rotate again meanwhile): wait out the grace of
        # whichever rotation is the last.
        def all_old_leases_revoked():
            revoked = {e["lease_id"] for e in s.events("lease_revoked")}
            rotated = {e["old_lease_id"] for e in s.events("credential_rotated")}
            return rotated <= revoked and len(logins() - before) == 1
        self.assertTrue(wait_for(all_old_leases_revoked, timeout=20, interval=0.5),
                        f"logins left in the mail database: {sorted(logins() - before)}\n"
                        + s.output()[-4000:])
        self.sidecar.stop()
        self.assertEqual(logins() - before, set())

    def test_openbao_unresponsive_for_a_minute_sending_continues(self):
        # Leases long enough to outlive the outage; renewals fall inside it.
        bootstrap(token_ttl="90s", token_max_ttl="10m", creds_ttl="90s", creds_max_ttl="10m")
        self.sidecar = Sidecar(env={"SMTP_SIDECAR_VAULT_REQUEST_TIMEOUT_SECONDS": "2"}).start()
        pid = vault_pid()
        os.kill(pid, signal.SIGSTOP)  # hung, not gone: connections open, nothing answers
        try:
            sent, failures = self.stream(seconds=62, interval=1.0)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual(failures, [], f"{len(failures)} of {sent} sends failed during the outage")
        failed = self.sidecar.events("lease_renew_failed") + self.sidecar.events("token_renew_failed")
        self.assertTrue(failed, "no renewal fell inside the outage")
        families = self.assert_metrics_match_events()
        self.assertGreater(total(families, "smtp_sidecar_vault_requests_total",
                                 status_class="error"), 0)
        self.assertEqual(value(families, "smtp_sidecar_leases_active"), 1)
        print(f"\n  {sent} sends during a 62 s OpenBao outage, 0 failed; "
              f"{len(failed)} renewal attempts failed meanwhile")
        # Back: renewals succeed again and the credential is the same one.
        self.assertTrue(wait_for(lambda: any(e for e in self.sidecar.events("lease_renewed")),
                                 timeout=40), "no renewal after OpenBao came back")
        self.assertEqual(len(self.sidecar.events("credential_leased")), 1)
        status, _, rcpt = send(self.sidecar, "after-outage")
        self.assertEqual(status, 200)
        self.assertTrue(wait_for(lambda: maildir_messages(rcpt)))


if __name__ == "__main__":
    unittest.main()
