"""End-to-end: caller authorization by SO_PEERCRED, profiles (senders, recipients,
size, rate), one lease per profile credential path, and the audit log.

The tests run as root, so root (uid 0) is matched by uid; a second client runs as
`nobody` (a subprocess that drops to uid/gid 65534) on a socket with mode 0666 in a
world-searchable directory. A second smtp role (profiles-web) with its own policy is
created for the two-logins test and removed afterwards.

Needs the stack running and bootstrapped (scripts/test does both).
"""
import base64
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import tempfile
import unittest
import urllib.parse

from stacklib import (ENV, CREDENTIAL_PATH, Sidecar, bao, give_to_sidecar_user, psql,
                      wait_for)

SENDER = "app@example.test"
WEB_ROLE = "profiles-web"
WEB_PATH = f"smtp/creds/{WEB_ROLE}"
WEB_SENDER = "web@example.test"
WEB_POLICY = "smtp-sidecar-profiles-web-test"
NOBODY = pwd.getpwnam("nobody")

def request_as_nobody(sidecar, method, target, body=b"", headers=None):
    """The request made by a forked child that dropped to nobody: another peer uid.
    (Forked rather than exec'd: the test's python may not be executable by nobody.)"""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, make the request, report, exit
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            status, payload, got_headers = sidecar.request(method, target, body, headers)
            out = json.dumps({"status": status, "body": payload, "headers": got_headers})
        except Exception as e:  # reported to the parent
            out = json.dumps({"error": repr(e)})
        with os.fdopen(write_end, "w") as f:
            f.write(out)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        data = f.read()
    os.waitpid(pid, 0)
    out = json.loads(data)
    if "error" in out:
        raise AssertionError("client as nobody failed: " + out["error"])
    return out["status"], out["body"], out["headers"]


def raw_query(sender, recipients):
    return "/v1/messages?" + urllib.parse.urlencode([("from", sender)] +
                                                    [("to", r) for r in recipients])


def shared_socket(sidecar):
    """Lets other users reach the sidecar's socket (the dir is created 0700)."""
    os.chmod(sidecar.dir, 0o755)


def audit_dir():
    """A directory the sidecar's worker may create its audit file in."""
    path = tempfile.mkdtemp(prefix="sidecar-audit-", dir="/tmp")
    give_to_sidecar_user(path)
    return path


def audit_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def sasl_username(queue_id):
    """The login Postfix saw for the message queued as `queue_id`."""
    with open(os.path.join(ENV["LOG_DIR"], "postfix.log"), errors="replace") as f:
        for line in f:
            if f"{queue_id}: client=" in line and "sasl_username=" in line:
                return line.rsplit("sasl_username=", 1)[1].strip()
    return None


def queue_id(smtp_text):
    m = re.search(r"queued as (\w+)", smtp_text)
    return m.group(1) if m else None


def matches_ssha512(candidate, stored):
    """Dovecot {SSHA512}: base64(sha512(password + salt) + salt)."""
    raw = base64.b64decode(stored[len("{SSHA512}"):])
    digest, salt = raw[:64], raw[64:]
    return hashlib.sha512(candidate.encode() + salt).digest() == digest


def assert_no_password(test, text, username):
    """No substring of `text` is the password of `username` (as stored in the mail
    database, hashed): the audit line carries no secret."""
    rows = psql(f"SELECT password FROM credentials WHERE username = '{username}'")
    test.assertEqual(len(rows), 1, f"no credentials row for {username}")
    stored = rows[0]
    test.assertTrue(stored.startswith("{SSHA512}"), "unexpected password scheme")
    for length in range(16, 65):
        for start in range(0, max(0, len(text) - length) + 1):
            if matches_ssha512(text[start:start + length], stored):
                test.fail("the audit log contains the SMTP password")


class ProfileRulesTest(unittest.TestCase):
    """One profile for root with every rule, and `nobody` matched by none."""

    @classmethod
    def setUpClass(cls):
        cls.audit = os.path.join(audit_dir(), "audit.log")
        cls.sidecar = Sidecar(extra_config=f"""socket_mode = "0666"

[audit]
file = "{cls.audit}"

[[profile]]
name = "app"
uids = [0]
senders = ["{SENDER}"]
max_recipients = 2
max_message_bytes = 4096
rate_per_minute = 1
burst = 3
""")
        shared_socket(cls.sidecar)
        cls.sidecar.start()

    @classmethod
    def tearDownClass(cls):
        cls.sidecar.cleanup()
        shutil.rmtree(os.path.dirname(cls.audit), ignore_errors=True)

    def test_a_peer_without_a_profile_gets_403_and_a_log_line(self):
        status, body, _ = request_as_nobody(self.sidecar, "POST", raw_query(SENDER, ["x@example.test"]),
                                            b"Subject: x\r\n\r\nx\r\n",
                                            {"Content-Type": "message/rfc822"})
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "peer_not_allowed")
        status, body, _ = request_as_nobody(self.sidecar, "GET", "/v1/ready")
        self.assertEqual(status, 403)
        refused = wait_for(lambda: self.sidecar.events("peer_not_allowed"))
        self.assertTrue(refused, self.sidecar.output())
        self.assertEqual(refused[-1]["uid"], NOBODY.pw_uid)
        self.assertEqual(refused[-1]["gid"], NOBODY.pw_gid)
        self.assertGreater(refused[-1]["pid"], 0)
        # root is matched by uid.
        self.assertEqual(self.sidecar.request("GET", "/v1/ready")[0], 200)
        self.assertFalse(self.sidecar.events("no_profiles_configured"))

    def test_b_rules_then_rate_limit_and_audit(self):
        s = self.sidecar
        # The envelope sender must match.
        status, body, _ = s.send_raw(b"From: other@example.test\r\n\r\nx\r\n", "other@example.test",
                                     ["r@example.test"])
        self.assertEqual((status, body["error"]["code"]), (403, "sender_not_allowed"), body)
        # Every From address must match too.
        status, body, _ = s.send_raw(b"From: App <app@example.test>, evil@example.test\r\n\r\nx\r\n",
                                     SENDER, ["r@example.test"])
        self.assertEqual((status, body["error"]["code"]), (403, "sender_not_allowed"), body)
        status, body, _ = s.send_raw(b"From: \"unterminated <app@example.test>\r\n\r\nx\r\n",
                                     SENDER, ["r@example.test"])
        self.assertEqual((status, body["error"]["code"]), (403, "sender_not_allowed"), body)
        # JSON submissions: the from address is both.
        status, body, _ = s.request("POST", "/v1/messages", json.dumps(
            {"from": "other@example.test", "to": ["r@example.test"], "subject": "s",
             "text": "t"}).encode(), {"Content-Type": "application/json"})
        self.assertEqual(status, 403, body)
        # Recipients.
        status, body, _ = s.send_raw(b"Subject: x\r\n\r\nx\r\n", SENDER,
                                     ["a@example.test", "b@example.test", "c@example.test"])
        self.assertEqual((status, body["error"]["code"]), (422, "too_many_recipients"), body)
        # Size: the profile's limit, below listen.max_message_bytes.
        status, body, _ = s.send_raw(b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 1 +
                                     (b"y" * 900 + b"\r\n") * 5, SENDER, ["r@example.test"])
        self.assertEqual((status, body["error"]["code"]), (413, "message_too_large"), body)
        # None of these used a token: the burst of 3 is still there.
        message_ids = []
        for i in range(3):
            mid = f"profiles-{i}-{os.getpid()}@example.test"
            message_ids.append(mid)
            status, body, _ = s.send_raw(
                f"From: App <{SENDER}>\r\nMessage-ID: <{mid}>\r\nSubject: {i}\r\n\r\nbody {i}\r\n"
                .encode(), SENDER, ["profiles-rcpt@example.test"])
            self.assertEqual(status, 200, body)
        status, body, headers = s.send_raw(b"Subject: 4\r\n\r\nx\r\n", SENDER, ["r@example.test"])
        self.assertEqual((status, body["error"]["code"]), (429, "rate_limited"), body)
        retry_after = int(headers.get("Retry-After", "0"))
        self.assertTrue(1 <= retry_after <= 60, headers)

        # The audit file: one line per message sent, and nothing for refusals.
        self.assertEqual(os.stat(self.audit).st_mode & 0o777, 0o600)
        lines = wait_for(lambda: len(audit_lines(self.audit)) >= 3 and audit_lines(self.audit))
        self.assertEqual(len(lines), 3, lines)
        for line, mid in zip(lines, message_ids):
            self.assertEqual(line["uid"], 0)
            self.assertEqual(line["pid"], os.getpid())
            self.assertEqual(line["profile"], "app")
            self.assertEqual(line["sender"], SENDER)
            self.assertEqual(line["recipients"], 1)
            self.assertGreater(line["bytes"], 50)
            self.assertEqual(line["message_id"], mid)
            self.assertEqual(line["outcome"], "accepted")
            self.assertEqual(line["smtp_code"], 250)
            self.assertTrue(line["lease_id"].startswith(CREDENTIAL_PATH + "/"), line)
            self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertNotIn("body", json.dumps(line).replace('"body"', ""))
        username = sasl_username(queue_id(lines[0]["smtp_text"]))
        self.assertTrue(username, lines[0])
        with open(self.audit) as f:
            assert_no_password(self, f.read(), username)


class TwoProfilesTest(unittest.TestCase):
    """Two profiles with two credential paths: two leases, two SMTP logins."""

    @classmethod
    def setUpClass(cls):
        bao("write", f"smtp/roles/{WEB_ROLE}", "ttl=300", "max_ttl=3600",
            f"allowed_senders={WEB_SENDER}")
        policy = tempfile.NamedTemporaryFile("w", suffix=".hcl", delete=False)
        policy.write(f"""
path "{WEB_PATH}" {{ capabilities = ["read"] }}
path "sys/leases/renew/{WEB_PATH}/*" {{ capabilities = ["update"] }}
path "sys/leases/revoke/{WEB_PATH}/*" {{ capabilities = ["update"] }}
""")
        policy.close()
        bao("policy", "write", WEB_POLICY, policy.name)
        os.unlink(policy.name)
        role = bao("read", "-format=json", "auth/approle/role/example-app")["data"]
        cls.original_policies = ",".join(role["token_policies"])
        bao("write", "auth/approle/role/example-app",
            f"token_policies={cls.original_policies},{WEB_POLICY}")

    @classmethod
    def tearDownClass(cls):
        bao("write", "auth/approle/role/example-app", f"token_policies={cls.original_policies}")
        bao("policy", "delete", WEB_POLICY, check=False)
        bao("delete", f"smtp/roles/{WEB_ROLE}", check=False)

    def test_each_profile_sends_with_its_own_login(self):
        audit = os.path.join(audit_dir(), "audit.log")
        s = Sidecar(extra_config=f"""socket_mode = "0666"

[audit]
file = "{audit}"

[[profile]]
name = "app"
uids = [0]

[[profile]]
name = "web"
uids = [{NOBODY.pw_uid}]
credential_path = "{WEB_PATH}"
senders = ["{WEB_SENDER}"]
""")
        shared_socket(s)
        try:
            s.start()
            leased = {e["path"] for e in s.events("credential_leased")}
            self.assertEqual(leased, {CREDENTIAL_PATH, WEB_PATH})
            status, body, _ = s.send_raw(b"Subject: app\r\n\r\nx\r\n", SENDER,
                                         ["two-profiles@example.test"])
            self.assertEqual(status, 200, body)
            status, body, _ = request_as_nobody(s, "POST", raw_query(WEB_SENDER,
                                                                     ["two-profiles@example.test"]),
                                                b"Subject: web\r\n\r\nx\r\n",
                                                {"Content-Type": "message/rfc822"})
            self.assertEqual(status, 200, body)
            # The web profile may not use the app's sender.
            status, body, _ = request_as_nobody(s, "POST", raw_query(SENDER, ["x@example.test"]),
                                                b"Subject: web\r\n\r\nx\r\n",
                                                {"Content-Type": "message/rfc822"})
            self.assertEqual(status, 403, body)

            # An asynchronous message's status is visible to its own profile only.
            status, body, _ = s.request("POST", raw_query(SENDER, ["two-profiles@example.test"]),
                                        b"Subject: async\r\n\r\nx\r\n",
                                        {"Content-Type": "message/rfc822",
                                         "Prefer": "respond-async"})
            self.assertEqual(status, 202, body)
            self.assertEqual(s.request("GET", f"/v1/messages/{body['id']}")[0], 200)
            status, body, _ = request_as_nobody(s, "GET", f"/v1/messages/{body['id']}")
            self.assertEqual(status, 404, body)

            lines = wait_for(lambda: len(audit_lines(audit)) >= 3 and audit_lines(audit))
            lines = [l for l in lines if l["id"] == ""]  # the two synchronous messages
            self.assertEqual([l["profile"] for l in lines], ["app", "web"])
            self.assertEqual(lines[1]["uid"], NOBODY.pw_uid)
            self.assertTrue(lines[0]["lease_id"].startswith(CREDENTIAL_PATH + "/"))
            self.assertTrue(lines[1]["lease_id"].startswith(WEB_PATH + "/"))
            users = [sasl_username(queue_id(l["smtp_text"])) for l in lines]
            self.assertTrue(all(users), lines)
            self.assertNotEqual(users[0], users[1])
            self.assertIn(WEB_ROLE, users[1])
            self.assertNotIn(WEB_ROLE, users[0])
            with open(audit) as f:
                text = f.read()
            for user in users:
                assert_no_password(self, text, user)

            # SIGHUP: the audit file is reopened (rotation), and profile changes apply.
            os.rename(audit, audit + ".1")
            with open(s.config_path) as f:
                config = f.read()
            with open(s.config_path, "w") as f:
                f.write(config + "max_recipients = 1\n")  # to the last profile: web
            s.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: s.events("worker_reloaded"), timeout=10), s.output())
            status, body, _ = request_as_nobody(s, "POST", raw_query(
                WEB_SENDER, ["a@example.test", "b@example.test"]), b"Subject: w\r\n\r\nx\r\n",
                {"Content-Type": "message/rfc822"})
            self.assertEqual(status, 422, body)
            status, body, _ = s.send_raw(b"Subject: after\r\n\r\nx\r\n", SENDER,
                                         ["two-profiles@example.test"])
            self.assertEqual(status, 200, body)
            self.assertEqual(len(wait_for(lambda: audit_lines(audit))), 1)
        finally:
            s.cleanup()
            shutil.rmtree(os.path.dirname(audit), ignore_errors=True)
        # Stopping revoked both leases: both logins are gone.
        for user in users:
            self.assertEqual(psql(f"SELECT count(*) FROM credentials WHERE username = '{user}'"),
                             ["0"])


class ImplicitProfileTest(unittest.TestCase):
    def test_without_profiles_everyone_may_send_and_a_warning_says_so(self):
        s = Sidecar(extra_config='socket_mode = "0666"')
        shared_socket(s)
        try:
            s.start()
            self.assertTrue(s.events("no_profiles_configured"), s.output())
            status, body, _ = request_as_nobody(s, "POST", raw_query(SENDER, ["implicit@example.test"]),
                                                b"Subject: x\r\n\r\nx\r\n",
                                                {"Content-Type": "message/rfc822"})
            self.assertEqual(status, 200, body)
            # No [audit] file: the audit line goes to stderr.
            audits = wait_for(lambda: s.events("audit"))
            self.assertEqual(audits[-1]["profile"], "default")
            self.assertEqual(audits[-1]["uid"], NOBODY.pw_uid)
        finally:
            s.cleanup()


class SocketGroupTest(unittest.TestCase):
    def test_socket_group_lets_its_members_in_and_gids_match_profiles(self):
        group = grp.getgrgid(NOBODY.pw_gid).gr_name
        s = Sidecar(extra_config=f"""socket_group = "{group}"

[[profile]]
name = "root"
uids = [0]

[[profile]]
name = "members"
gids = [{NOBODY.pw_gid}]
""")
        shared_socket(s)
        try:
            s.start()
            st = os.stat(s.socket)
            self.assertEqual(st.st_gid, NOBODY.pw_gid)
            self.assertEqual(st.st_mode & 0o777, 0o660)  # listen.socket_mode's default
            # nobody gets in through the group permission and is matched by its gid.
            status, body, _ = request_as_nobody(
                s, "POST", raw_query(SENDER, ["group@example.test"]),
                b"Message-ID: <async-group@example.test>\r\nSubject: x\r\n\r\nx\r\n",
                {"Content-Type": "message/rfc822", "Prefer": "respond-async"})
            self.assertEqual(status, 202, body)
            # The asynchronous message's final outcome is audited (stderr here).
            audits = wait_for(lambda: s.events("audit"), timeout=20)
            self.assertTrue(audits, s.output())
            self.assertEqual(audits[-1]["profile"], "members")
            self.assertEqual(audits[-1]["id"], body["id"])
            self.assertEqual(audits[-1]["message_id"], "async-group@example.test")
            self.assertEqual(audits[-1]["outcome"], "accepted")
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main()
