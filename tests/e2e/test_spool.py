"""The durable spool against the real stack (OpenBao Transit, Postfix, Dovecot): what was
answered 202 survives a kill -9 of the worker, a SIGTERM of the whole sidecar with Postfix
down, a full filesystem and corrupt files; nothing is lost, nothing is sent twice.

Each fault row prints a figure line (accepted, delivered, lost, duplicated, seconds of
503) and the class prints the table at the end (docs/OPERATIONS.md keeps a copy).
Durations: SPOOL_TEST_OUTAGE_SECONDS (how long Postfix stays down after the fault, 3).
"""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest
import uuid

from stacklib import (ENV, REPO, Sidecar, give_to_sidecar_user, maildir_messages, postfix,
                      role_pids, wait_for)

SENDER = "app@example.test"
OUTAGE = float(os.environ.get("SPOOL_TEST_OUTAGE_SECONDS", "3"))
FIGURES = []


def spool_config(sidecar, transit_key="example-app-spool", extra=""):
    return (f'[spool]\ndirectory = "{os.path.join(sidecar.dir, "spool")}"\n'
            f'transit_key = "{transit_key}"\n{extra}')


def spooled_sidecar(extra="", transit_key="example-app-spool"):
    s = Sidecar()
    with open(s.config_path, "a") as f:
        f.write(spool_config(s, transit_key, extra))
    return s


def flush_postfix_queue():
    subprocess.run(["postqueue", "-c", ENV["POSTFIX_CONF_DIR"], "-f"], capture_output=True)


def postfix_running():
    return subprocess.run(["postfix", "-c", ENV["POSTFIX_CONF_DIR"], "status"],
                          capture_output=True).returncode == 0


def submit_async(sidecar, rcpt, body_bytes=0):
    message = (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: spool {rcpt}\r\n\r\n"
               + ("x" * 76 + "\r\n") * (body_bytes // 78) + "body\r\n").encode()
    return sidecar.request("POST", f"/v1/messages?from={SENDER}&to={rcpt}", body=message,
                           headers={"Content-Type": "message/rfc822",
                                    "Prefer": "respond-async"})


def openbao_pid():
    with open(os.path.join(ENV["STACK_DIR"], "vault", "openbao.pid")) as f:
        return int(f.readline().strip())


def restart_openbao_and_bootstrap(sidecar):
    """OpenBao restarted in dev mode (every token, AppRole and Transit key gone) and
    scripts/vault-bootstrap run again (a new role_id, a new Transit key of the same
    name); the sidecar's staged role_id replaced, as the platform's delivery would."""
    pid = openbao_pid()
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=30)
    subprocess.run([os.path.join(REPO, "scripts", "stack"), "start"], check=True,
                   capture_output=True)
    subprocess.run([os.path.join(REPO, "scripts", "vault-bootstrap")], check=True,
                   capture_output=True)
    staged = os.path.join(sidecar.dir, "staged-role-id")
    if os.path.exists(staged):
        shutil.copyfile(ENV["APPROLE_ROLE_ID_FILE"], staged)
        give_to_sidecar_user(staged)


def with_vault_request_timeout(sidecar, seconds):
    with open(sidecar.config_path) as f:
        text = f.read()
    with open(sidecar.config_path, "w") as f:
        f.write(text.replace("[vault]\n", f"[vault]\nrequest_timeout_seconds = {seconds}\n", 1))


def wait_spool_ready(sidecar, count=1, timeout=30):
    ok = wait_for(lambda: len(sidecar.events("spool_recovered")) >= count, timeout=timeout)
    assert ok, "the spool did not get its key:\n" + sidecar.output()[-3000:]


class SpoolTest(unittest.TestCase):
    def setUp(self):
        if not postfix_running():
            postfix("start")
        self.addCleanup(lambda: postfix_running() or postfix("start"))

    @classmethod
    def tearDownClass(cls):
        if FIGURES:
            print("\n| fault | accepted | delivered | lost | duplicated | seconds of 503 |")
            print("|---|---|---|---|---|---|")
            for row in FIGURES:
                print("| {fault} | {accepted} | {delivered} | {lost} | {duplicated} | {s503} |"
                      .format(**row))

    def count(self, fault, recipients, s503=0.0, quarantined_ok=()):
        """Waits for every recipient's message, then records and checks the figure."""
        expected = [r for r in recipients if r not in quarantined_ok]
        # A message Postfix took while its own lookups failed (PostgreSQL down) waits in
        # its deferred queue (minimal_backoff_time, 300 s): flushed, as an operator would.
        wait_for(lambda: flush_postfix_queue() or all(maildir_messages(r) for r in expected),
                 timeout=120, interval=0.5)
        time.sleep(1.0)  # a duplicate would arrive now
        copies = {r: len(maildir_messages(r)) for r in expected}
        row = {"fault": fault, "accepted": len(recipients),
               "delivered": sum(1 for n in copies.values() if n >= 1),
               "lost": sum(1 for n in copies.values() if n == 0),
               "duplicated": sum(n - 1 for n in copies.values() if n > 1),
               "s503": f"{s503:.1f}"}
        FIGURES.append(row)
        print(f"\nfigure: {row}")
        self.assertEqual(row["lost"], 0, copies)
        self.assertEqual(row["duplicated"], 0, copies)

    def wait_sent(self, sidecar, ids, timeout=90):
        def all_sent():
            for i in ids:
                status, body, _ = sidecar.request("GET", f"/v1/messages/{i}")
                if status != 200 or body.get("status") != "sent":
                    return False
            return True
        self.assertTrue(wait_for(all_sent, timeout=timeout, interval=0.2),
                        [sidecar.request("GET", f"/v1/messages/{i}")[1] for i in ids])

    def backlog(self, sidecar, n, tag):
        rcpts = [f"{tag}-{i}-{uuid.uuid4().hex[:8]}@example.test" for i in range(n)]
        ids = []
        for r in rcpts:
            status, body, headers = submit_async(sidecar, r)
            self.assertEqual(status, 202, body)
            ids.append(body["id"])
        return rcpts, ids

    def test_kill_9_of_the_worker_with_a_backlog_loses_nothing(self):
        s = spooled_sidecar().start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        postfix("stop")
        rcpts, ids = self.backlog(s, 10, "kill9")
        old = role_pids(s.proc.pid)["worker"]
        os.kill(old, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: role_pids(s.proc.pid).get("worker", old) != old,
                                 timeout=15), s.output()[-2000:])
        wait_spool_ready(s, count=2)
        recovered = s.events("spool_recovered")[-1]
        self.assertEqual(recovered["pending"], 10, recovered)
        # The ids still answer after the restart.
        for i in ids:
            status, body, _ = s.request("GET", f"/v1/messages/{i}")
            self.assertEqual(status, 200, body)
        time.sleep(OUTAGE)
        postfix("start")
        self.wait_sent(s, ids)
        self.count("kill -9 worker, Postfix down", rcpts)
        self.assertEqual(s.proc.poll(), None)

    def test_kill_9_of_the_worker_during_group_commits_loses_no_202(self):
        """Concurrent clients keep the group commit busy (batches of several messages);
        the worker is killed mid-stream. Every id answered 202 must be delivered once."""
        s = spooled_sidecar().start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        # Postfix down: nothing is sent before the kill, so the figure is the spool's
        # alone (a send whose 250 came before its final status would be a duplicate).
        postfix("stop")
        tag = uuid.uuid4().hex[:8]
        accepted, lock, stop = [], threading.Lock(), threading.Event()

        def client(n):
            for i in range(400):  # bounded; the kill ends it sooner
                if stop.is_set():
                    return
                rcpt = f"batch-{tag}-{n}-{i}@example.test"
                try:
                    status, body, _ = submit_async(s, rcpt)
                except OSError:  # the worker died under the request: no answer, not ours
                    continue
                if status == 202:
                    with lock:
                        accepted.append((rcpt, body["id"]))
        clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for c in clients:
            c.start()
        wait_for(lambda: len(accepted) >= 60, timeout=30, interval=0.05)
        _, metrics, _ = s.request("GET", "/metrics")
        figures = {line.split()[0]: float(line.split()[1]) for line in metrics.decode().splitlines()
                   if line.startswith("smtp_sidecar_spool_commit_")}
        old = role_pids(s.proc.pid)["worker"]
        os.kill(old, signal.SIGKILL)
        stop.set()
        for c in clients:
            c.join(timeout=30)
        self.assertTrue(wait_for(lambda: role_pids(s.proc.pid).get("worker", old) != old,
                                 timeout=15), s.output()[-2000:])
        wait_spool_ready(s, count=2)
        # The clients' writes shared batches (group commit), and every 202 was recovered.
        batches = figures["smtp_sidecar_spool_commit_batches_total"]
        writes = figures["smtp_sidecar_spool_commit_writes_total"]
        print(f"\nfigure: {writes:.0f} spool writes in {batches:.0f} batches before the kill; "
              f"{len(accepted)} answered 202")
        self.assertLess(batches, writes)
        recovered = s.events("spool_recovered")[-1]
        self.assertGreaterEqual(recovered["pending"], len(accepted), recovered)
        postfix("start")
        self.wait_sent(s, [i for _, i in accepted], timeout=120)
        self.count("kill -9 worker during group commits (8 clients)", [r for r, _ in accepted])

    def test_sigterm_with_postfix_down_then_a_new_sidecar_sends_it_all(self):
        s = spooled_sidecar().start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        postfix("stop")
        rcpts, ids = self.backlog(s, 20, "sigterm")
        # A synchronous send waiting for the server when the stop comes: answered 503 at
        # once (the client still has the message and can retry), not held for the drain.
        sync_answer = {}

        def sync_send():
            started_sync = time.monotonic()
            sync_answer["status"], sync_answer["body"], _ = s.send_raw(
                f"From: {SENDER}\r\nSubject: sync at stop\r\n\r\nbody\r\n".encode(),
                SENDER, ["sync-at-stop@example.test"])
            sync_answer["seconds"] = time.monotonic() - started_sync
        sender = threading.Thread(target=sync_send)
        sender.start()
        time.sleep(0.5)
        started = time.monotonic()
        self.assertEqual(s.stop(signal.SIGTERM), 0)
        stop_seconds = time.monotonic() - started
        sender.join(timeout=10)
        # Messages waiting for their next attempt are on disk, and so is every one the
        # relay holds: after a 1 s grace their attempts are abandoned (the next start
        # sends them), so the stop is quick although connections back off.
        self.assertLess(stop_seconds, 5, s.output()[-2000:])
        self.assertEqual(sync_answer.get("status"), 503, sync_answer)
        self.assertIn("stopping", sync_answer["body"]["error"]["message"])
        print(f"\nfigure: SIGTERM with Postfix down took {stop_seconds:.1f} s; the sync send "
              f"was answered 503 after {sync_answer['seconds']:.1f} s")
        kept = s.events("spool_kept")
        self.assertTrue(kept and kept[-1]["messages"] == 20, s.output()[-2000:])
        self.assertEqual(s.events("async_messages_lost"), [])
        time.sleep(OUTAGE)
        postfix("start")
        s.start()  # the platform's restart: a new process, the same spool
        wait_spool_ready(s)
        self.wait_sent(s, ids)
        self.count("SIGTERM with Postfix down, then restart", rcpts)
        # Finished statuses survive a restart too (retention).
        s.stop()
        s.start()
        wait_spool_ready(s)
        status, body, _ = s.request("GET", f"/v1/messages/{ids[0]}")
        self.assertEqual((status, body.get("status")), (200, "sent"), body)

    def test_a_corrupt_or_tampered_spool_file_is_quarantined_and_the_rest_is_sent(self):
        s = spooled_sidecar().start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        postfix("stop")
        rcpts, ids = self.backlog(s, 3, "corrupt")
        self.assertEqual(s.stop(signal.SIGTERM), 0)
        messages = os.path.join(s.dir, "spool", "messages")
        tampered = os.path.join(messages, ids[0] + ".msg")
        with open(tampered, "r+b") as f:
            f.seek(-10, os.SEEK_END)
            byte = f.read(1)
            f.seek(-10, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0x01]))
        with open(os.path.join(messages, "f" * 32 + ".msg"), "wb") as f:
            f.write(b"SCSPOOL1 truncated by a crash")
        postfix("start")
        s.start()
        wait_spool_ready(s)
        quarantined = s.events("spool_file_quarantined")
        self.assertEqual(len(quarantined), 2, s.output()[-3000:])
        reasons = " ".join(q["reason"] for q in quarantined)
        self.assertIn("authentication failed", reasons)
        self.assertIn("truncated", reasons)
        self.assertEqual(len(os.listdir(os.path.join(s.dir, "spool", "quarantine"))), 2)
        self.wait_sent(s, ids[1:])
        status, metrics, _ = s.request("GET", "/metrics")
        self.assertIn(b"smtp_sidecar_spool_quarantined_total 2", metrics)
        self.count("corrupt and tampered spool files", rcpts, quarantined_ok=(rcpts[0],))
        FIGURES[-1]["fault"] += " (1 tampered: quarantined, not sent)"

    def test_spool_full_by_count_is_429_with_retry_after(self):
        s = spooled_sidecar(extra="max_messages = 2\n").start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        postfix("stop")
        rcpts, ids = self.backlog(s, 2, "full")
        status, body, headers = submit_async(s, "full-refused@example.test")
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "spool_full")
        self.assertIn("Retry-After", headers)
        postfix("start")
        self.wait_sent(s, ids)
        self.count("spool full (max_messages = 2)", rcpts)

    def test_spool_filesystem_full_is_503_and_nothing_accepted_is_lost(self):
        s = spooled_sidecar()
        self.addCleanup(s.cleanup)
        spool = os.path.join(s.dir, "spool")
        os.makedirs(spool)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k,mode=0700", "tmpfs", spool],
                       check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", spool])
        s.start()
        wait_spool_ready(s)
        postfix("stop")
        rcpts, ids = [], []
        started_503 = None
        for i in range(20):
            rcpt = f"fsfull-{i}-{uuid.uuid4().hex[:8]}@example.test"
            status, body, headers = submit_async(s, rcpt, body_bytes=60 * 1024)
            if status == 202:
                rcpts.append(rcpt)
                ids.append(body["id"])
                continue
            self.assertEqual(status, 503, body)
            self.assertEqual(body["error"]["code"], "spool_unavailable")
            self.assertIn("Retry-After", headers)
            started_503 = time.monotonic()
            break
        self.assertIsNotNone(started_503, "the 320 KiB tmpfs never filled")
        self.assertGreater(len(ids), 0)
        self.assertTrue(any("spool disk full" in e["error"] for e in s.events("spool_write_failed")))
        postfix("start")
        self.wait_sent(s, ids)
        # Room again: the next message is taken.
        while True:
            status, body, _ = submit_async(s, rcpts[0].replace("fsfull-0", "fsfull-after"))
            if status == 202 or time.monotonic() - started_503 > 30:
                break
            time.sleep(0.2)
        seconds_503 = time.monotonic() - started_503
        self.assertEqual(status, 202, body)
        self.count("spool filesystem full (320 KiB tmpfs)", rcpts, s503=seconds_503)
        self.assertEqual(s.proc.poll(), None)

    def test_an_idempotency_key_returns_the_first_message_even_after_a_restart(self):
        s = spooled_sidecar().start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        postfix("stop")
        rcpt = f"idem-{uuid.uuid4().hex[:8]}@example.test"
        key = {"Idempotency-Key": "order-" + uuid.uuid4().hex}

        def submit():
            message = f"From: {SENDER}\r\nSubject: idem\r\n\r\nbody\r\n".encode()
            return s.request("POST", f"/v1/messages?from={SENDER}&to={rcpt}", body=message,
                             headers={"Content-Type": "message/rfc822",
                                      "Prefer": "respond-async", **key})
        status, first, headers = submit()
        self.assertEqual(status, 202, first)
        status, again, headers = submit()  # the client's retry after a lost answer
        self.assertEqual((status, again["id"]), (202, first["id"]))
        self.assertEqual(headers.get("Location"), "/v1/messages/" + first["id"])
        s.stop()
        postfix("start")
        s.start()
        wait_spool_ready(s)
        status, after, _ = submit()
        self.assertEqual((status, after["id"]), (202, first["id"]))
        # The same key with other content is not the same submission: refused, clearly,
        # also after the restart (the digest is in the spool's record).
        for body, to in ((f"From: {SENDER}\r\nSubject: other\r\n\r\nbody\r\n", rcpt),
                         (f"From: {SENDER}\r\nSubject: idem\r\n\r\nbody\r\n",
                          "someone-else@example.test")):
            status, refused, headers = s.request(
                "POST", f"/v1/messages?from={SENDER}&to={to}", body=body.encode(),
                headers={"Content-Type": "message/rfc822", "Prefer": "respond-async", **key})
            self.assertEqual((status, refused["error"]["code"]), (422, "idempotency_key_reused"),
                             refused)
            self.assertIn("different request", refused["error"]["message"])
        self.wait_sent(s, [first["id"]])
        self.count("Idempotency-Key: 3 submissions, 1 message", [rcpt])
        # JSON: the sidecar builds the message (its own Date and Message-ID each time), so
        # the digest is of the request as sent: the same request twice is one message.
        json_rcpt = f"idem-json-{uuid.uuid4().hex[:8]}@example.test"
        json_key = {"Idempotency-Key": "json-" + uuid.uuid4().hex}
        request = {"from": SENDER, "to": [json_rcpt], "subject": "idem json", "text": "body"}
        json_headers = {"Content-Type": "application/json", "Prefer": "respond-async", **json_key}
        answers = [s.request("POST", "/v1/messages", body=json.dumps(request).encode(),
                             headers=json_headers) for _ in range(2)]
        self.assertEqual([a[0] for a in answers], [202, 202], answers)
        self.assertEqual(answers[0][1]["id"], answers[1][1]["id"])
        status, refused, _ = s.request(
            "POST", "/v1/messages", body=json.dumps({**request, "text": "other"}).encode(),
            headers=json_headers)
        self.assertEqual((status, refused["error"]["code"]), (422, "idempotency_key_reused"))
        self.wait_sent(s, [answers[0][1]["id"]])
        self.count("Idempotency-Key (JSON): 2 submissions, 1 message", [json_rcpt])
        # Refused clearly: a key that is not visible ASCII, and a key on a synchronous send.
        status, body, _ = s.request("POST", f"/v1/messages?from={SENDER}&to={rcpt}",
                                    body=b"Subject: x\r\n\r\nx\r\n",
                                    headers={"Content-Type": "message/rfc822",
                                             "Idempotency-Key": "a b"})
        self.assertEqual((status, body["error"]["code"]), (400, "invalid_idempotency_key"))
        status, body, _ = s.request("POST", f"/v1/messages?from={SENDER}&to={rcpt}",
                                    body=b"Subject: x\r\n\r\nx\r\n",
                                    headers={"Content-Type": "message/rfc822", **key})
        self.assertEqual((status, body["error"]["code"]), (400, "idempotency_key_needs_async"))

    def test_a_deferred_recipient_is_retried_alone_and_the_accepted_one_gets_it_once(self):
        conf = ENV["POSTFIX_CONF_DIR"]
        deferred = f"defer-{uuid.uuid4().hex[:8]}@example.test"
        accepted = f"taken-{uuid.uuid4().hex[:8]}@example.test"
        access = os.path.join(ENV["STACK_DIR"], "spool-test-recipient-access")
        with open(access, "w") as f:
            f.write(f"{deferred} 450 4.2.0 deferred by the spool test\n")
        os.chmod(access, 0o644)
        before = subprocess.run(["postconf", "-c", conf, "-h", "smtpd_relay_restrictions"],
                                check=True, capture_output=True, text=True).stdout.strip()

        def restore():
            subprocess.run(["postconf", "-c", conf, "-e", f"smtpd_relay_restrictions = {before}"],
                           check=True)
            subprocess.run(["postfix", "-c", conf, "reload"], capture_output=True)
        self.addCleanup(restore)
        # Postfix answers 450 to RCPT TO of `deferred` only (a real, per-recipient 4xx).
        subprocess.run(["postconf", "-c", conf, "-e", "smtpd_relay_restrictions = "
                        f"check_recipient_access texthash:{access}, {before}"], check=True)
        subprocess.run(["postfix", "-c", conf, "reload"], check=True, capture_output=True)
        time.sleep(1)
        s = spooled_sidecar().start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        message = f"From: {SENDER}\r\nSubject: two recipients\r\n\r\nbody\r\n".encode()
        status, body, _ = s.request(
            "POST", f"/v1/messages?from={SENDER}&to={accepted}&to={deferred}", body=message,
            headers={"Content-Type": "message/rfc822", "Prefer": "respond-async"})
        self.assertEqual(status, 202, body)
        mid = body["id"]
        self.assertTrue(wait_for(lambda: maildir_messages(accepted), timeout=20))

        def state():
            return s.request("GET", f"/v1/messages/{mid}")[1]
        # Not "sent": one recipient is still owed the message.
        self.assertTrue(wait_for(lambda: state().get("status") == "retrying", timeout=10), state())
        time.sleep(3)  # more attempts, each for the deferred recipient only
        self.assertEqual(maildir_messages(deferred), [])
        self.assertEqual(len(maildir_messages(accepted)), 1)
        # A crash now: the spool file says who has the message; the restarted worker
        # sends to the deferred recipient only.
        old = role_pids(s.proc.pid)["worker"]
        os.kill(old, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: len(s.events("spool_recovered")) >= 2, timeout=20),
                        s.output()[-2000:])
        restore()  # the recipient's mailbox takes mail again
        self.assertTrue(wait_for(lambda: state().get("status") == "sent", timeout=60), state())
        self.assertGreaterEqual(state()["attempts"], 2)
        self.count("a recipient deferred (450), the other accepted; kill -9 worker between",
                   [accepted, deferred])

    def test_a_transit_outage_when_the_worker_restarts_waits_and_sets_nothing_aside(self):
        """Transit away (OpenBao SIGSTOP; each decrypt times out after 2 s) while a new
        worker asks for the spool's key: a temporary failure, so the spool waits (503)
        and keeps its generation; once OpenBao answers, the same key opens every file."""
        s = spooled_sidecar()
        with_vault_request_timeout(s, 2)
        s.start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        postfix("stop")
        rcpts, ids = self.backlog(s, 2, "transitdown")
        with open(os.path.join(s.dir, "spool", "datakey")) as f:
            wrapped_before = f.read()
        bao_pid = openbao_pid()
        os.kill(bao_pid, signal.SIGSTOP)
        self.addCleanup(lambda: os.kill(bao_pid, signal.SIGCONT))
        stopped_at = time.monotonic()
        old = role_pids(s.proc.pid)["worker"]
        os.kill(old, signal.SIGKILL)
        try:
            self.assertTrue(wait_for(lambda: len(s.events("spool_key_unavailable")) >= 2,
                                     timeout=45), s.output()[-3000:])
            status, body, headers = submit_async(s, "transitdown-refused@example.test")
            self.assertEqual((status, body["error"]["code"]), (503, "spool_unavailable"), body)
        finally:
            os.kill(bao_pid, signal.SIGCONT)
        stopped = time.monotonic() - stopped_at
        postfix("start")
        wait_spool_ready(s, count=2, timeout=60)
        self.assertEqual(s.events("spool_set_aside"), [], s.output()[-3000:])
        self.assertEqual(s.events("spool_key_lost"), [])
        # The keeper was logged in: these were Transit calls failing, not a missing login.
        self.assertTrue(any("transit decrypt" in e.get("error", "")
                            for e in s.events("spool_key_unavailable")), s.output()[-3000:])
        self.assertEqual(s.events("spool_recovered")[-1]["pending"], 2)
        with open(os.path.join(s.dir, "spool", "datakey")) as f:
            self.assertEqual(f.read(), wrapped_before)
        self.wait_sent(s, ids)
        self.count("Transit away (OpenBao stopped) while a new worker asks for the spool key: "
                   "it waits, nothing set aside", rcpts,
                   s503=stopped)
        print(f"\nfigure: Transit failed {len(s.events('spool_key_unavailable'))} times "
              f"(temporary) in {stopped:.1f} s; no set-aside")

    def test_a_spool_whose_transit_key_is_lost_is_set_aside_and_new_mail_goes(self):
        """OpenBao restarted in dev mode (its Transit key gone) and re-bootstrapped (a new
        key of the same name) while 3 messages were spooled; the sidecar restarted: it
        starts, a new data key makes a new generation and sends new mail, the 3 files are
        moved to set-aside/ untouched and counted (log, metric, doctor)."""
        s = spooled_sidecar().start()
        self.addCleanup(s.cleanup)
        wait_spool_ready(s)
        postfix("stop")
        rcpts, ids = self.backlog(s, 3, "lostkey")
        spool = os.path.join(s.dir, "spool")
        with open(os.path.join(spool, "datakey")) as f:
            old_wrapped = f.read()
        sealed = {}
        for i in ids:
            with open(os.path.join(spool, "messages", i + ".msg"), "rb") as f:
                sealed[i] = f.read()
        self.assertEqual(s.stop(signal.SIGTERM), 0)
        restart_openbao_and_bootstrap(s)
        postfix("start")
        started = time.monotonic()
        s.start()
        self.assertTrue(wait_for(lambda: s.events("spool_set_aside"), timeout=60),
                        s.output()[-3000:])
        wait_spool_ready(s)
        ready_after = time.monotonic() - started
        set_aside = s.events("spool_set_aside")[-1]
        self.assertEqual((set_aside["messages"], set_aside["finished"]), (3, 0), set_aside)
        self.assertIn("HTTP 400", set_aside["reason"])
        self.assertTrue(s.events("spool_key_lost"))
        self.assertEqual(s.events("spool_recovered")[-1]["set_aside"], 3)
        # Moved as a whole, byte for byte, with the wrapped key they need.
        generation = set_aside["directory"]
        self.assertTrue(generation.startswith(os.path.join(spool, "set-aside") + "/"))
        with open(os.path.join(generation, "datakey")) as f:
            self.assertEqual(f.read(), old_wrapped)
        self.assertEqual(sorted(os.listdir(os.path.join(generation, "messages"))),
                         sorted(i + ".msg" for i in ids))
        for i in ids:
            with open(os.path.join(generation, "messages", i + ".msg"), "rb") as f:
                self.assertEqual(f.read(), sealed[i])
        with open(os.path.join(spool, "datakey")) as f:
            self.assertNotEqual(f.read(), old_wrapped)
        _, metrics, _ = s.request("GET", "/metrics")
        self.assertIn(b"smtp_sidecar_spool_set_aside_messages 3", metrics)
        self.assertIn(b"smtp_sidecar_spool_ready 1", metrics)
        # New mail goes, under the new generation.
        new_rcpts, new_ids = self.backlog(s, 2, "newgeneration")
        self.wait_sent(s, new_ids)
        self.count("Transit key lost (OpenBao restarted in dev mode, re-bootstrapped) with 3 "
                   "spooled: they are set aside, new mail is sent", new_rcpts)
        FIGURES[-1]["fault"] += f" (3 set aside, kept; restart to ready {ready_after:.1f} s)"
        # The set-aside ones are kept, not sent, and doctor names them.
        for r in rcpts:
            self.assertEqual(maildir_messages(r), [], r)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        doctor = subprocess.run([s.binary, "doctor", "-c", s.config_path], capture_output=True,
                                text=True, timeout=120, env=env)
        self.assertNotEqual(doctor.returncode, 0)
        self.assertIn(f"[FAIL] spool: 3 messages (and 0 final statuses) set aside in {generation}",
                      doctor.stdout)
        print(f"\nfigure: 3 set aside in {generation}; restart to ready {ready_after:.1f} s")

    def test_without_its_transit_key_the_spool_answers_503_and_sync_mail_still_goes(self):
        s = spooled_sidecar(transit_key="no-such-app-spool").start()
        self.addCleanup(s.cleanup)
        self.assertTrue(wait_for(lambda: s.events("spool_key_refused"), timeout=15),
                        s.output()[-2000:])
        status, body, headers = submit_async(s, "nokey@example.test")
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"]["code"], "spool_unavailable")
        self.assertIn("Retry-After", headers)
        rcpt = f"nokey-sync-{uuid.uuid4().hex[:8]}@example.test"
        status, body, _ = s.send_raw(f"Subject: sync\r\n\r\nx\r\n".encode(), SENDER, [rcpt])
        self.assertEqual(status, 200, body)
        # Nothing was written under a key it does not have.
        self.assertFalse(os.path.exists(os.path.join(s.dir, "spool", "datakey")))


if __name__ == "__main__":
    unittest.main()
