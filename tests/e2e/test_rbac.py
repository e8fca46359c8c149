"""The RBAC matrix (policies/rbac-matrix.json) against a real OpenBao: every cell is one
real request by a token that has exactly that subject's policy. allow = 2xx, deny = 403.

Also: `python3 test_rbac.py --write-doc` regenerates docs/RBAC.md from the matrix; the
test fails if the committed file is stale.
Needs the stack running with the plugin bootstrap (scripts/test does both); re-runs the
bootstrap with a second app ("billing") and restores the default afterwards.
"""
import json
import os
import ssl
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

from stacklib import ENV, REPO, bao, ensure_passwordless_role

MATRIX = os.path.join(REPO, "policies", "rbac-matrix.json")
DOC = os.path.join(REPO, "docs", "RBAC.md")


def load_matrix():
    with open(MATRIX) as f:
        return json.load(f)


def render_doc(matrix):
    subjects = list(matrix["subjects"])
    lines = [
        "# RBAC matrix",
        "",
        "Generated from `policies/rbac-matrix.json` by `python3 tests/e2e/test_rbac.py "
        "--write-doc`; every cell is checked by a real request against OpenBao "
        "(`tests/e2e/test_rbac.py`, in `scripts/test`). ✅ allowed (2xx), ❌ denied (403).",
        "",
        "| subject | who |",
        "|---|---|",
    ]
    lines += [f"| `{s}` | {who} |" for s, who in matrix["subjects"].items()]
    lines += ["", "| operation | request | " + " | ".join(f"`{s}`" for s in subjects) + " |",
              "|---|---|" + "---|" * len(subjects)]
    for op in matrix["operations"]:
        request = f"`{op['method']} {op['path']}`"
        if op.get("wrap_ttl"):
            request += f" (wrapped {op['wrap_ttl']})"
        cells = ["✅" if op["expect"][s] == "allow" else "❌" for s in subjects]
        lines.append(f"| {op['name']} | {request} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bootstrap(**env):
    full = dict(os.environ)
    full.update(env)
    subprocess.run([os.path.join(REPO, "scripts", "vault-bootstrap")], check=True,
                   capture_output=True, text=True, env=full)


def request(token, method, path, body=None, wrap_ttl=None):
    """(status, parsed body) of one request to the stack's OpenBao."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{ENV['VAULT_ADDR']}/v1/{path}", data=data, method=method)
    req.add_header("X-Vault-Token", token)
    req.add_header("X-Vault-Request", "true")
    if wrap_ttl:
        req.add_header("X-Vault-Wrap-TTL", wrap_ttl)
    ctx = ssl.create_default_context(cafile=ENV["VAULT_CACERT"]) if ENV.get("VAULT_CACERT") else None
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw) if raw else None
        except ValueError:
            return e.code, None


def root_token():
    with open(ENV["VAULT_TOKEN_FILE"]) as f:
        return f.read().strip()


class RbacMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        bootstrap(SIDECAR_BOOTSTRAP_APPS="example-app billing", SIDECAR_BOOTSTRAP_WRAP_TTL="0")
        cls.tokens = {}
        for app in ("example-app", "billing"):
            d = os.path.join(ENV["STACK_DIR"], "approle") + ("" if app == "example-app" else f"/{app}")
            with open(os.path.join(d, "role-id")) as f:
                role_id = f.read().strip()
            with open(os.path.join(d, "secret-id")) as f:
                secret_id = f.read().strip()
            status, body = request("", "POST", "auth/approle/login",
                                   {"role_id": role_id, "secret_id": secret_id})
            assert status == 200, (app, status, body)
            cls.tokens[app] = body["auth"]["client_token"]
        for policy in ("smtp-admin", "smtp-auditor", "smtp-bootstrap"):
            status, body = request(root_token(), "POST", "auth/token/create",
                                   {"policies": [policy], "no_default_policy": True, "ttl": "15m"})
            assert status == 200, (policy, status, body)
            cls.tokens[policy] = body["auth"]["client_token"]
        for subject, policy in (("mail-host", "smtp-mail-host"),
                                ("example-app-passwordless",
                                 "smtp-sidecar-example-app-passwordless")):
            status, body = request(root_token(), "POST", "auth/token/create",
                                   {"policies": [policy], "no_default_policy": True,
                                    "ttl": "15m"})
            assert status == 200, (policy, status, body)
            cls.tokens[subject] = body["auth"]["client_token"]
        ensure_passwordless_role()  # its creds path, so an allowed read answers 200
        status, body = request(root_token(), "POST", "auth/token/create",
                               {"policies": ["smtp-sidecar-example-app-oauth"],
                                "no_default_policy": True, "ttl": "15m"})
        assert status == 200, ("smtp-sidecar-example-app-oauth", status, body)
        cls.tokens["example-app-oauth"] = body["auth"]["client_token"]
        # The delivery identity of example-app (issue 14: the unit's ExecStartPre, the
        # pod's delivery container).
        status, body = request(root_token(), "POST", "auth/token/create",
                               {"policies": ["smtp-approle-delivery-example-app"],
                                "no_default_policy": True, "ttl": "15m"})
        assert status == 200, ("smtp-approle-delivery-example-app", status, body)
        cls.tokens["smtp-delivery"] = body["auth"]["client_token"]
        # The OAuth2 client material a sidecar reads (a test value), so that an allowed
        # read answers 200 rather than 404.
        for app in ("example-app", "billing"):
            status, body = request(root_token(), "POST", f"secret/data/smtp-oauth/{app}",
                                   {"data": {"client_secret": "rbac-test-value"}})
            assert status == 200, (app, status, body)

    @classmethod
    def tearDownClass(cls):
        bootstrap()  # the default apps and a fresh wrapped secret_id for the other suites

    def fresh_lease(self, app):
        status, body = request(root_token(), "GET", f"smtp/creds/{app}")
        self.assertEqual(status, 200, body)
        self.addCleanup(request, root_token(), "PUT", f"sys/leases/revoke/{body['lease_id']}")
        return body["lease_id"]

    def wrapped_data_key(self, app):
        """A data key wrapped by the app's spool key (made by root), as a spool keeps it."""
        status, body = request(root_token(), "PUT", f"transit/datakey/wrapped/{app}-spool", {})
        self.assertEqual(status, 200, body)
        return body["data"]["ciphertext"]

    def fresh_secret_id_accessor(self, app):
        """A secret_id of the app's role (made by root), by its accessor only."""
        status, body = request(root_token(), "POST", f"auth/approle/role/{app}/secret-id", {})
        self.assertEqual(status, 200, body)
        accessor = body["data"]["secret_id_accessor"]
        self.addCleanup(request, root_token(), "POST",
                        f"auth/approle/role/{app}/secret-id-accessor/destroy",
                        {"secret_id_accessor": accessor})
        return accessor

    def test_every_cell_of_the_matrix(self):
        matrix = load_matrix()
        wrong = []
        for op in matrix["operations"]:
            for subject, expected in op["expect"].items():
                # A fresh lease for each cell: a revocation must not hide the next check.
                leases = {f"{app}-lease": self.fresh_lease(app)
                          for app in ("example-app", "billing", "example-app-passwordless")
                          if "{" + app + "-lease}" in json.dumps(op)}
                leases.update({f"{app}-spool-key": self.wrapped_data_key(app)
                               for app in ("example-app", "billing")
                               if "{" + app + "-spool-key}" in json.dumps(op)})
                leases.update({f"{app}-secret-id-accessor": self.fresh_secret_id_accessor(app)
                               for app in ("example-app", "billing")
                               if "{" + app + "-secret-id-accessor}" in json.dumps(op)})
                path = op["path"].format(**leases)
                body_text = json.dumps(op.get("body"))
                for name, value in leases.items():
                    body_text = body_text.replace("{" + name + "}", value)
                body = json.loads(body_text)
                status, answer = request(self.tokens[subject], op["method"], path, body,
                                         op.get("wrap_ttl"))
                if isinstance(answer, dict) and answer.get("lease_id"):
                    # An allowed creds read made a login: revoke it, or it would outlive
                    # the suite (and, in the mail database, a dev-mode OpenBao restart).
                    self.addCleanup(request, root_token(), "PUT",
                                    f"sys/leases/revoke/{answer['lease_id']}")
                got = "allow" if 200 <= status < 300 else "deny" if status == 403 else f"HTTP {status}"
                if got != expected:
                    errors = (answer or {}).get("errors") if isinstance(answer, dict) else None
                    wrong.append(f"{subject}: {op['name']} ({op['method']} {op['path']}): "
                                 f"expected {expected}, got {got} {errors or ''}")
        self.assertEqual(wrong, [], "\n" + "\n".join(wrong))

    def test_templated_policy_serves_each_app_its_own_role_only(self):
        # Same policy text for every app: the role comes from the token's AppRole.
        status, body = request(self.tokens["billing"], "GET", "smtp/creds/billing")
        self.assertEqual(status, 200, body)
        request(root_token(), "PUT", f"sys/leases/revoke/{body['lease_id']}")
        status, _ = request(self.tokens["billing"], "GET", "smtp/creds/example-app")
        self.assertEqual(status, 403)

    def test_docs_rbac_md_is_generated_from_the_matrix(self):
        with open(DOC) as f:
            self.assertEqual(f.read(), render_doc(load_matrix()),
                             "docs/RBAC.md is stale: python3 tests/e2e/test_rbac.py --write-doc")


if __name__ == "__main__":
    if "--write-doc" in sys.argv:
        with open(DOC, "w") as f:
            f.write(render_doc(load_matrix()))
        print(f"wrote {DOC}")
    else:
        unittest.main()
