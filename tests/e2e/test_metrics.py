"""End-to-end: GET /metrics on the submission socket, against the real stack.

A sidecar with one [[profile]] (this test's uid, a burst of 4) sends a message that is
accepted, one whose only recipient is refused, one partly refused and one
asynchronous; a fifth is rate limited. The exposition must parse under a strict
reader of the Prometheus text format 0.0.4, and its figures must have moved by what
was sent: outcomes, SMTP reply classes, the send latency histogram, the keeper's lease,
credential expiry and Vault request counters, the profile's rate-limit counter.

Needs the stack running and bootstrapped (scripts/test does both).
"""
import math
import os
import re
import signal
import time
import unittest
import uuid

from stacklib import CREDENTIAL_PATH, Sidecar, fresh_secret_id, role_pids, wait_for

SENDER = "app@example.test"
PROFILE = "metrics-e2e"
REFUSED = "bad!char@example.test"  # the stack's mailbox map refuses it: 550 at RCPT

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)(?: (-?\d+))?$")
LABEL_PAIR = re.compile(rf'({LABEL})="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ValueError(f"not a sample value: {text!r}")
    return float(text)


def parse_labels(text):
    """{name: value} of a label block's inside, refusing anything not well formed."""
    labels = {}
    pos = 0
    while pos < len(text):
        m = LABEL_PAIR.match(text, pos)
        if not m:
            raise ValueError(f"malformed labels at {text[pos:]!r}")
        name, raw = m.group(1), m.group(2)
        if name in labels:
            raise ValueError(f"label {name} twice")
        labels[name] = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), raw)
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise ValueError(f"expected ',' at {text[pos:]!r}")
            pos += 1
    return labels


def parse_exposition(text):
    """A strict reader of the text format 0.0.4. Returns {family: {"type", "help",
    "samples": [(name, labels, value)]}}; raises ValueError on anything malformed."""
    if text and not text.endswith("\n"):
        raise ValueError("the exposition does not end with a line feed")
    families = {}
    current = None
    seen_series = set()
    for number, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {number}: {line!r}"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(NAME, name):
                    raise ValueError(f"{where}: bad metric name")
                family = families.setdefault(name, {"type": None, "help": None, "samples": []})
                if family["samples"]:
                    raise ValueError(f"{where}: {parts[1]} after the family's samples")
                if parts[1] == "HELP":
                    if family["help"] is not None:
                        raise ValueError(f"{where}: HELP twice")
                    family["help"] = parts[3] if len(parts) > 3 else ""
                else:
                    if family["type"] is not None or len(parts) != 4 or parts[3] not in TYPES:
                        raise ValueError(f"{where}: bad or repeated TYPE")
                    family["type"] = parts[3]
                current = name
            continue
        if not line:
            raise ValueError(f"{where}: empty line")
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f"{where}: not a sample")
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), parse_value(m.group(3))
        family_name = name
        if current is not None and families[current]["type"] == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                if name == current + suffix:
                    family_name = current
        if family_name != current:
            raise ValueError(f"{where}: sample outside its family's block (TYPE first)")
        series = (name, tuple(sorted(labels.items())))
        if series in seen_series:
            raise ValueError(f"{where}: series twice")
        seen_series.add(series)
        families[current]["samples"].append((name, labels, value))
    for name, family in families.items():
        if family["type"] is None:
            raise ValueError(f"{name}: no TYPE")
        if family["type"] == "counter":
            for _, _, value in family["samples"]:
                if not value >= 0:
                    raise ValueError(f"{name}: negative counter")
        if family["type"] == "histogram":
            check_histogram(name, family["samples"])
    return families


def check_histogram(name, samples):
    groups = {}
    for sample_name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        group = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sample_name == name + "_bucket":
            if "le" not in labels:
                raise ValueError(f"{name}: bucket without le")
            group["buckets"].append((parse_value(labels["le"]), value))
        elif sample_name == name + "_sum":
            group["sum"] = value
        elif sample_name == name + "_count":
            group["count"] = value
        else:
            raise ValueError(f"{name}: stray sample {sample_name}")
    for rest, group in groups.items():
        bounds = [b for b, _ in group["buckets"]]
        counts = [c for _, c in group["buckets"]]
        if not bounds or bounds[-1] != math.inf:
            raise ValueError(f"{name}{rest}: no +Inf bucket")
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}{rest}: buckets out of order")
        if counts != sorted(counts):
            raise ValueError(f"{name}{rest}: bucket counts not cumulative")
        if group["count"] is None or group["sum"] is None or group["count"] != counts[-1]:
            raise ValueError(f"{name}{rest}: _count missing or unequal to the +Inf bucket")


def value(families, name, **labels):
    """The value of one series (0 when the series is absent)."""
    for family in families.values():
        for sample_name, sample_labels, v in family["samples"]:
            if sample_name == name and sample_labels == labels:
                return v
    return 0


def total(families, name, **labels):
    """The sum of a metric's series whose labels include `labels`."""
    found = 0
    for family in families.values():
        for sample_name, sample_labels, v in family["samples"]:
            if sample_name == name and all(sample_labels.get(k) == x for k, x in labels.items()):
                found += v
    return found


class ParserTest(unittest.TestCase):
    """The strict reader refuses what Prometheus would refuse."""

    def test_refuses_malformed_expositions(self):
        good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n"
        parse_exposition(good)
        bad = [
            good[:-1],                                            # no final line feed
            "a_total 1\n",                                        # no TYPE
            "# TYPE a_total counter\na_total{x=\"1} 2\n",         # unterminated value
            "# TYPE a_total counter\na_total{x=\"a\\q\"} 2\n",     # bad escape
            "# TYPE a_total counter\na_total 1\na_total 2\n",     # series twice
            "# TYPE a_total counter\na_total -1\n",               # negative counter
            "# TYPE a_total counter\na_total one\n",              # not a number
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",  # no +Inf
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
            "h_sum 1\nh_count 1\n",                               # not cumulative
            "# TYPE a gauge\n# TYPE b gauge\na 1\n",              # outside its block
        ]
        for text in bad:
            with self.subTest(text=text):
                with self.assertRaises(ValueError):
                    parse_exposition(text)


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fresh_secret_id()
        cls.sidecar = Sidecar(extra_config=f"""
[[profile]]
name = "{PROFILE}"
uids = [{os.getuid()}]
rate_per_minute = 1
burst = 4
""").start()

    @classmethod
    def tearDownClass(cls):
        cls.sidecar.cleanup()

    def scrape(self):
        status, body, headers = self.sidecar.request("GET", "/metrics")
        self.assertEqual(status, 200, body)
        content_type = {k.lower(): v for k, v in headers.items()}["content-type"]
        self.assertTrue(content_type.startswith("text/plain; version=0.0.4"), content_type)
        self.assertIsInstance(body, bytes)
        return parse_exposition(body.decode("utf-8"))

    def send(self, recipients, asynchronous=False):
        raw = f"From: <{SENDER}>\r\nSubject: metrics\r\n\r\nx\r\n".encode()
        if not asynchronous:
            return self.sidecar.send_raw(raw, SENDER, recipients)
        import urllib.parse
        query = urllib.parse.urlencode([("from", SENDER)] + [("to", r) for r in recipients])
        return self.sidecar.request("POST", "/v1/messages?" + query, body=raw,
                                    headers={"Content-Type": "message/rfc822",
                                             "Prefer": "respond-async"})

    def test_figures_move_with_what_was_sent(self):
        before = self.scrape()
        self.assertEqual(value(before, "smtp_sidecar_keeper_up"), 1)
        self.assertEqual(value(before, "smtp_sidecar_leases_active"), 1)
        self.assertGreater(value(before, "smtp_sidecar_credential_expiry_seconds",
                                 path=CREDENTIAL_PATH), 0)
        self.assertGreaterEqual(value(before, "smtp_sidecar_vault_logins_total"), 1)
        self.assertGreater(total(before, "smtp_sidecar_vault_requests_total"), 0)
        for operation in ("wrapping_lookup", "wrapping_unwrap", "approle_login", "read"):
            self.assertGreaterEqual(value(before, "smtp_sidecar_vault_requests_total",
                                          operation=operation, status_class="2xx"), 1, operation)
        self.assertGreaterEqual(value(before, "smtp_sidecar_vault_request_duration_seconds_count",
                                      operation="read"), 1)
        self.assertEqual(value(before, "smtp_sidecar_rate_limited_total", profile=PROFILE), 0)

        good = f"metrics-{uuid.uuid4().hex[:8]}@example.test"
        status, payload, _ = self.send([good])
        self.assertEqual((status, payload["status"]), (200, "sent"), payload)
        status, payload, _ = self.send([REFUSED])
        self.assertEqual((status, payload["error"]["code"]), (502, "smtp_rejected"), payload)
        status, payload, _ = self.send([good, REFUSED])
        self.assertEqual((status, payload["status"]), (200, "partially_sent"), payload)
        status, payload, _ = self.send([good], asynchronous=True)
        self.assertEqual(status, 202, payload)

        def finished():
            s, p, _ = self.sidecar.request("GET", "/v1/messages/" + payload["id"])
            return p if p["status"] in ("sent", "failed") else None
        self.assertEqual(wait_for(finished, timeout=30)["status"], "sent")
        status, limited, _ = self.send([good])  # past the profile's burst of 4
        self.assertEqual((status, limited["error"]["code"]), (429, "rate_limited"), limited)

        after = self.scrape()

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        messages = "smtp_sidecar_messages_total"
        self.assertEqual(delta(messages, outcome="sent", mode="sync"), 1)
        self.assertEqual(delta(messages, outcome="rejected", mode="sync"), 1)
        self.assertEqual(delta(messages, outcome="partially_sent", mode="sync"), 1)
        self.assertEqual(delta(messages, outcome="sent", mode="async"), 1)
        self.assertEqual(total(after, messages) - total(before, messages), 4)
        replies = "smtp_sidecar_smtp_replies_total"
        self.assertEqual(delta(replies, **{"class": "2xx"}), 3)
        self.assertEqual(delta(replies, **{"class": "5xx"}), 1)
        recipients = "smtp_sidecar_smtp_recipient_replies_total"
        self.assertEqual(delta(recipients, **{"class": "2xx"}), 3)
        self.assertEqual(delta(recipients, **{"class": "5xx"}), 2)
        self.assertEqual(delta("smtp_sidecar_send_duration_seconds_count"), 4)
        # Each attempt started one SMTP transaction at least (a refusal on a reused
        # connection is tried once more on a new one), pipelined, on an idle or a new
        # connection.
        started = "smtp_sidecar_smtp_transactions_started_total"
        self.assertGreaterEqual(total(after, started) - total(before, started), 4)
        self.assertGreaterEqual(total(after, "smtp_sidecar_smtp_connections_opened_total"), 1)
        self.assertGreater(delta("smtp_sidecar_send_duration_seconds_sum"), 0)
        self.assertEqual(value(after, "smtp_sidecar_queue_depth"), 0)
        self.assertEqual(value(after, "smtp_sidecar_queue_bytes"), 0)
        self.assertEqual(delta("smtp_sidecar_rate_limited_total", profile=PROFILE), 1)
        self.assertEqual(delta("smtp_sidecar_profile_accepted_total", profile=PROFILE), 4)
        # The keeper's side: still one lease; each scrape's figures are fresh.
        self.assertEqual(value(after, "smtp_sidecar_leases_active"), 1)
        expiry = value(after, "smtp_sidecar_credential_expiry_seconds", path=CREDENTIAL_PATH)
        self.assertGreater(expiry, 0)
        self.assertLessEqual(expiry, value(before, "smtp_sidecar_credential_expiry_seconds",
                                           path=CREDENTIAL_PATH))
        self.assertGreaterEqual(total(after, "smtp_sidecar_vault_requests_total"),
                                total(before, "smtp_sidecar_vault_requests_total"))

    def test_every_family_has_help_and_no_secret_or_lease_id_is_exposed(self):
        families = self.scrape()
        self.assertIn("smtp_sidecar_messages_total", families)
        for name, family in families.items():
            self.assertTrue(family["help"], name)
            self.assertTrue(name.startswith("smtp_sidecar_"), name)
        text = self.sidecar.request("GET", "/metrics")[1].decode()
        for event in self.sidecar.events("credential_leased"):
            self.assertNotIn(event["lease_id"], text)  # the path is a label; the id never

    def test_keeper_silent_the_worker_still_answers(self):
        keeper = role_pids(self.sidecar.proc.pid).get("keeper")
        os.kill(keeper, signal.SIGSTOP)
        try:
            started = time.monotonic()
            families = self.scrape()
            waited = time.monotonic() - started
            self.assertEqual(value(families, "smtp_sidecar_keeper_up"), 0)
            self.assertNotIn("smtp_sidecar_leases_active", families)
            self.assertIn("smtp_sidecar_messages_total", families)
            self.assertLess(waited, 5)
        finally:
            os.kill(keeper, signal.SIGCONT)
        # The late answer to the timed-out request is dropped; the next one is used.
        families = wait_for(lambda: (lambda f: f if value(f, "smtp_sidecar_keeper_up") else None)(
            self.scrape()), timeout=10)
        self.assertTrue(families, "the keeper did not answer again")
        self.assertEqual(value(families, "smtp_sidecar_leases_active"), 1)

    def test_only_get(self):
        status, payload, headers = self.sidecar.request("POST", "/metrics")
        self.assertEqual(status, 405, payload)
        self.assertEqual(headers.get("Allow"), "GET")


if __name__ == "__main__":
    unittest.main()
