"""End-to-end: `smtp-sidecar doctor` names each failure for real.

Every failure is produced against real servers: the stack's OpenBao, Postfix and mail
database, a second `bao server -dev` of the test's own (with a TLS listener whose
certificate is for another name, from a CA of the test's own: wrong CA, name mismatch;
then sealed), and small SMTP peers on loopback written here (no STARTTLS, a greeting
that never comes, a certificate for another name, AUTH answered 535). Every target is a
loopback address or a name under .invalid. Needs the stack running and bootstrapped.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid

from stacklib import CREDENTIAL_PATH, ENV, REPO, bao, wait_for

BINARY = os.environ.get("SMTP_SIDECAR_BIN",
                        os.path.join(REPO, "build", "dev", "sidecar", "smtp-sidecar"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_secret(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)


def new_secret_id(role="example-app", **params):
    args = [f"{k}={v}" for k, v in params.items()]
    out = bao("write", "-format=json", "-f", f"auth/approle/role/{role}/secret-id", *args)
    return out["data"]["secret_id"]


def role_id(role="example-app"):
    return bao("read", "-format=json", f"auth/approle/role/{role}/role-id")["data"]["role_id"]


def approle_login(role_id_value, secret_id_value):
    """A login as the sidecar would make it (spends one use of the secret_id)."""
    req = urllib.request.Request(ENV["VAULT_ADDR"] + "/v1/auth/approle/login", method="POST",
                                 data=json.dumps({"role_id": role_id_value,
                                                  "secret_id": secret_id_value}).encode())
    ctx = ssl.create_default_context(cafile=ENV["VAULT_CACERT"]) if ENV.get("VAULT_CACERT") else None
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        token = json.load(resp)["auth"]["client_token"]
    # Not needed any more: revoke it at once.
    revoke = urllib.request.Request(ENV["VAULT_ADDR"] + "/v1/auth/token/revoke-self",
                                    method="POST", headers={"X-Vault-Token": token}, data=b"")
    urllib.request.urlopen(revoke, context=ctx, timeout=10).close()


class ScriptedSmtp:
    """A small SMTP peer on 127.0.0.1 for the failures Postfix cannot be made to show.

    greet=False: accepts and never says a word. starttls=(cert, key): offers STARTTLS
    with that certificate. auth_reply: its answer to AUTH (after TLS when offered)."""

    def __init__(self, greet=True, starttls=None, auth_reply="535 5.7.8 Authentication failed"):
        self.greet, self.starttls, self.auth_reply = greet, starttls, auth_reply
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.commands = []
        self.stopped = False
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        try:
            if not self.greet:
                time.sleep(30)
                return
            f = conn.makefile("rb")
            conn.sendall(b"220 scripted.test ESMTP\r\n")
            tls = False
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line.split(b" ")[0].strip().upper()
                self.commands.append(verb.decode(errors="replace"))
                if verb in (b"EHLO", b"HELO"):
                    caps = [b"250-scripted.test"]
                    if self.starttls and not tls:
                        caps.append(b"250-STARTTLS")
                    caps.append(b"250 AUTH PLAIN LOGIN")
                    conn.sendall(b"\r\n".join(caps) + b"\r\n")
                elif verb == b"STARTTLS" and self.starttls:
                    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    ctx.load_cert_chain(*self.starttls)
                    try:
                        conn = ctx.wrap_socket(conn, server_side=True)
                    except (ssl.SSLError, OSError):
                        return  # the client refused our certificate
                    f = conn.makefile("rb")
                    tls = True
                elif verb == b"AUTH":
                    conn.sendall(self.auth_reply.encode() + b"\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def make_ca_and_cert(directory, name):
    """A CA of its own and a server certificate for `name` only (not 127.0.0.1)."""
    ca_key, ca_pem = os.path.join(directory, "other-ca.key"), os.path.join(directory, "other-ca.pem")
    key, csr, pem = (os.path.join(directory, f"other.{ext}") for ext in ("key", "csr", "pem"))
    ext = os.path.join(directory, "other.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{name}\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", ca_key, "-out", ca_pem, "-days", "2", "-subj", "/CN=doctor test CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    run("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
        "-out", pem, "-days", "2", "-extfile", ext)
    return ca_pem, pem, key


class DoctorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="doctor-e2e-", dir="/tmp")
        cls.role_id_file = os.path.join(cls.dir, "role-id")
        write_secret(cls.role_id_file, role_id())
        cls.other_ca, cls.other_cert, cls.other_key = make_ca_and_cert(cls.dir, "other.invalid")
        cls.roles = []

    @classmethod
    def tearDownClass(cls):
        for role in cls.roles:
            bao("delete", f"auth/approle/role/{role}", check=False)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def config(self, secret_id=None, role_id_file=None, wrapped=False, vault=None, smtp=None):
        """Writes a config that passes every check; `vault` and `smtp` override keys."""
        name = uuid.uuid4().hex[:8]
        secret_file = os.path.join(self.dir, f"secret-id-{name}")
        if wrapped:
            out = bao("write", "-wrap-ttl=120s", "-f", "-field=wrapping_token",
                      "auth/approle/role/example-app/secret-id").stdout.strip()
            write_secret(secret_file, out)
        else:
            write_secret(secret_file, secret_id or new_secret_id())
        v = {"address": ENV["VAULT_ADDR"], "role_id_file": role_id_file or self.role_id_file,
             "secret_id_file": secret_file, "credential_path": CREDENTIAL_PATH}
        if ENV.get("VAULT_CACERT"):
            v["ca_file"] = ENV["VAULT_CACERT"]
        if wrapped:
            v.update(secret_id_wrapped=True, approle_role="example-app", remove_secret_id_file=True)
        v.update(vault or {})
        s = {"host": ENV["SMTP_HOST"], "port": int(ENV["SMTP_STARTTLS_PORT"]), "tls": "starttls",
             "ca_file": ENV["SMTP_CA_FILE"]}
        s.update(smtp or {})
        path = os.path.join(self.dir, f"doctor-{name}.toml")

        def toml(d):
            return "\n".join(f"{k} = {json.dumps(val)}" for k, val in d.items())

        with open(path, "w") as f:
            f.write(f"[vault]\n{toml(v)}\n\n[smtp]\n{toml(s)}\n\n[listen]\n"
                    f"socket = \"{os.path.join(self.dir, name + '.sock')}\"\n")
        self.secret_file = secret_file
        return path

    def doctor(self, config_path, expect_rc=1, extra_env=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        env.update(extra_env or {})
        proc = subprocess.run([BINARY, "doctor", "-c", config_path], capture_output=True,
                              text=True, env=env, timeout=120)
        self.assertEqual(proc.returncode, expect_rc, proc.stdout + proc.stderr)
        return proc.stdout

    def assertStep(self, out, status, step, *phrases):
        """One line `[status] step: ...` holds every phrase (hint lines follow it)."""
        lines = out.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(f"[{status}] {step}:"):
                text = line + "".join("\n" + h for h in lines[i + 1:i + 2] if h.startswith("       hint:"))
                if all(p in text for p in phrases):
                    return text
        self.fail(f"no [{status}] {step} line with {phrases} in:\n{out}")

    # ---- all good ----

    def test_healthy_config_passes_and_revokes_its_lease_and_token(self):
        out = self.doctor(self.config(), expect_rc=0)
        for step in ("config", "vault", "login", "lease", "credential", "smtp"):
            self.assertStep(out, " ok ", step)
        self.assertStep(out, " ok ", "smtp", "AUTH accepted", "no mail sent")
        self.assertIn("every check passed", out)
        lease_line = self.assertStep(out, " ok ", "lease", "(lease ")
        lease_id = lease_line.split("(lease ")[1].split(",")[0]
        accessor = self.assertStep(out, " ok ", "login", "accessor").split("accessor ")[1].split(",")[0]
        self.assertStep(out, " ok ", "revoke", "lease " + lease_id)
        self.assertStep(out, " ok ", "revoke", "token")
        # Gone from OpenBao: the lease and the token.
        self.assertNotEqual(bao("lease", "lookup", lease_id, check=False).returncode, 0)
        leases = bao("list", "-format=json", f"sys/leases/lookup/{CREDENTIAL_PATH}/", check=False)
        listed = leases if isinstance(leases, list) else []
        self.assertNotIn(lease_id.rsplit("/", 1)[1], listed)
        self.assertNotEqual(bao("token", "lookup", "-accessor", accessor, check=False).returncode, 0)

    def test_wrapped_secret_id_is_looked_up_not_consumed(self):
        path = self.config(wrapped=True)
        with open(self.secret_file) as f:
            wrapping_token = f.read()
        out = self.doctor(path, expect_rc=0)
        self.assertStep(out, " ok ", "wrapped", "valid", "auth/approle/role/example-app/secret-id")
        self.assertStep(out, "skip", "login", "response-wrapped", "does not unwrap")
        self.assertStep(out, " ok ", "smtp", "AUTH not tried")
        # The file is still there (remove_secret_id_file is the sidecar's business) and
        # the wrapping token still unwraps: doctor did not use it.
        self.assertTrue(os.path.exists(self.secret_file))
        lookup = bao("write", "-format=json", "sys/wrapping/lookup", f"token={wrapping_token}")
        self.assertEqual(lookup["data"]["creation_path"], "auth/approle/role/example-app/secret-id")

    def test_secret_id_from_the_environment(self):
        path = self.config()
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:  # no vault.secret_id_file: SMTP_SIDECAR_SECRET_ID instead
            f.write("\n".join(l for l in text.splitlines() if not l.startswith("secret_id_file")))
        out = self.doctor(path, expect_rc=0, extra_env={"SMTP_SIDECAR_SECRET_ID": new_secret_id()})
        self.assertStep(out, " ok ", "login", "accepted")
        self.assertStep(out, " ok ", "smtp", "AUTH accepted")

    def test_used_wrapping_token(self):
        path = self.config(wrapped=True)
        with open(self.secret_file) as f:
            bao("unwrap", f.read().strip())
        out = self.doctor(path)
        self.assertStep(out, "FAIL", "wrapped", "expired or was already unwrapped", "hint:")

    # ---- config ----

    def test_config_parse_error(self):
        path = os.path.join(self.dir, "broken.toml")
        with open(path, "w") as f:
            f.write("[vault]\naddres = \"http://127.0.0.1:1\"\n")
        out = self.doctor(path)
        self.assertStep(out, "FAIL", "config", "addres")

    # ---- Vault ----

    def test_vault_unreachable(self):
        out = self.doctor(self.config(vault={"address": f"http://127.0.0.1:{free_port()}"}))
        self.assertStep(out, "FAIL", "vault", "unreachable", "connection refused", "hint:")
        self.assertStep(out, "skip", "login", "Vault is not usable")

    def test_vault_name_unresolvable(self):
        out = self.doctor(self.config(vault={"address": "https://vault.doctor.invalid:8200",
                                             "ca_file": ENV["SMTP_CA_FILE"]}))
        self.assertStep(out, "FAIL", "vault", "does not resolve")

    def test_vault_tls_failures_and_sealed(self):
        # A second OpenBao of our own: its dev listener (plain http, to seal it) and a TLS
        # listener with a certificate for other.invalid from a CA of the test's own.
        dev_port, tls_port = free_port(), free_port()
        listener = os.path.join(self.dir, "listener.hcl")
        with open(listener, "w") as f:
            f.write(f'listener "tcp" {{\n  address = "127.0.0.1:{tls_port}"\n'
                    f'  tls_cert_file = "{self.other_cert}"\n  tls_key_file = "{self.other_key}"\n}}\n')
        token = uuid.uuid4().hex
        log = open(os.path.join(self.dir, "bao-dev.log"), "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["BAO_DEV_ROOT_TOKEN_ID"] = token
        proc = subprocess.Popen([ENV["BAO"], "server", "-dev", "-dev-no-store-token",
                                 f"-dev-listen-address=127.0.0.1:{dev_port}", f"-config={listener}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                env=env, start_new_session=True)
        try:
            dev_env = dict(env, VAULT_ADDR=f"http://127.0.0.1:{dev_port}", VAULT_TOKEN=token)

            def up():  # unsealed and its root token made (that comes last)
                return subprocess.run([ENV["BAO"], "token", "lookup"], env=dev_env,
                                      capture_output=True).returncode == 0
            self.assertTrue(wait_for(up, timeout=60, interval=0.2), "dev server did not start")
            address = f"https://127.0.0.1:{tls_port}"

            # Checked against another CA (the stack's mail CA).
            out = self.doctor(self.config(vault={"address": address, "ca_file": ENV["SMTP_CA_FILE"]}))
            self.assertStep(out, "FAIL", "vault", "TLS verification failed",
                            "not signed by a CA in vault.ca_file", "hint:")
            # The right CA, but the certificate is for other.invalid, not 127.0.0.1.
            out = self.doctor(self.config(vault={"address": address, "ca_file": self.other_ca}))
            self.assertStep(out, "FAIL", "vault", "TLS verification failed",
                            "does not cover the name https://127.0.0.1", "subjectAltName")
            # Plain http where TLS is expected, and the reverse.
            out = self.doctor(self.config(vault={"address": f"https://127.0.0.1:{dev_port}",
                                                 "ca_file": self.other_ca}))
            self.assertStep(out, "FAIL", "vault", "does not speak TLS")
            # The dev server has no AppRole: named as such.
            out = self.doctor(self.config(vault={"address": f"http://127.0.0.1:{dev_port}"}))
            self.assertStep(out, " ok ", "vault", "active")
            self.assertStep(out, "FAIL", "login", "AppRole is not enabled at auth/approle")

            seal = subprocess.run([ENV["BAO"], "operator", "seal"], env=dev_env, capture_output=True,
                                  text=True)
            self.assertEqual(seal.returncode, 0, seal.stderr)
            out = self.doctor(self.config(vault={"address": f"http://127.0.0.1:{dev_port}"}))
            self.assertStep(out, "FAIL", "vault", "is sealed", "bao operator unseal")
            self.assertStep(out, "skip", "login", "Vault is not usable")
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
            log.close()

    def test_vault_not_initialized(self):
        # A fresh server with in-memory storage: never initialized.
        port = free_port()
        conf = os.path.join(self.dir, "uninitialized.hcl")
        with open(conf, "w") as f:
            f.write(f'storage "inmem" {{}}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
                    f'  tls_disable = true\n}}\ndisable_mlock = true\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        proc = subprocess.Popen([ENV["BAO"], "server", f"-config={conf}"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        try:
            def up():
                with socket.socket() as s:
                    return s.connect_ex(("127.0.0.1", port)) == 0
            self.assertTrue(wait_for(up, timeout=60, interval=0.2), "server did not start")
            out = self.doctor(self.config(vault={"address": f"http://127.0.0.1:{port}"}))
            self.assertStep(out, "FAIL", "vault", "is not initialized", "bao operator init")
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)

    # ---- AppRole ----

    def test_wrong_role_id(self):
        bad = os.path.join(self.dir, "bad-role-id")
        write_secret(bad, str(uuid.uuid4()))
        out = self.doctor(self.config(role_id_file=bad))
        self.assertStep(out, "FAIL", "login", "AppRole refused the login", "role_id is wrong", "hint:")
        self.assertNotIn("[ ok ] lease", out)

    def test_missing_secret_id_file(self):
        path = self.config(wrapped=True)
        os.unlink(self.secret_file)  # as the sidecar does with remove_secret_id_file
        out = self.doctor(path)
        self.assertStep(out, "FAIL", "login", "cannot open secret_id file", "deletes the file once read")

    def test_used_up_secret_id(self):
        secret = new_secret_id(num_uses=1)
        approle_login(role_id(), secret)  # its only use
        out = self.doctor(self.config(secret_id=secret))
        self.assertStep(out, "FAIL", "login", "expired or used up")

    def test_expired_secret_id(self):
        secret = new_secret_id(ttl="1s")
        time.sleep(2.5)
        out = self.doctor(self.config(secret_id=secret))
        self.assertStep(out, "FAIL", "login", "expired or used up")

    def cidr_role(self, **params):
        role = "doctor-" + uuid.uuid4().hex[:8]
        bao("write", f"auth/approle/role/{role}", "token_policies=smtp-sidecar-example-app",
            "token_ttl=2m", *[f"{k}={v}" for k, v in params.items()])
        self.roles.append(role)
        rid = os.path.join(self.dir, f"role-id-{role}")
        write_secret(rid, role_id(role))
        return role, rid

    def test_cidr_bound_secret_id(self):
        role, rid = self.cidr_role(secret_id_bound_cidrs="10.0.0.0/8")
        out = self.doctor(self.config(secret_id=new_secret_id(role), role_id_file=rid))
        self.assertStep(out, "FAIL", "login", "127.0.0.1", "role's secret_id_bound_cidrs")

        role, rid = self.cidr_role()
        out = self.doctor(self.config(secret_id=new_secret_id(role, cidr_list="10.0.0.0/8"),
                                      role_id_file=rid))
        self.assertStep(out, "FAIL", "login", "127.0.0.1", "CIDR blocks the secret_id is bound to")

    # ---- credential path ----

    def test_credential_path_denied(self):
        path = "smtp/creds/doctor-not-allowed"
        out = self.doctor(self.config(vault={"credential_path": path}))
        self.assertStep(out, "FAIL", "lease", path, "policy does not allow read", "hint:")
        self.assertStep(out, " ok ", "revoke", "token")

    def test_every_profiles_credential_path_is_checked(self):
        path = "smtp/creds/doctor-not-allowed"
        config = self.config()
        with open(config, "a") as f:
            f.write('\n[[profile]]\nname = "web"\nuids = [1000]\n'
                    f'\n[[profile]]\nname = "cron"\nuids = [1001]\ncredential_path = "{path}"\n')
        out = self.doctor(config)
        self.assertStep(out, " ok ", "lease", CREDENTIAL_PATH)
        self.assertStep(out, "FAIL", "lease", path, "policy does not allow read")
        self.assertStep(out, " ok ", "smtp", "AUTH accepted")
        self.assertStep(out, " ok ", "revoke", "lease " + CREDENTIAL_PATH)

    # ---- SMTP ----

    def test_smtp_host_unresolvable(self):
        out = self.doctor(self.config(smtp={"host": "mail.doctor.invalid"}))
        self.assertStep(out, "FAIL", "smtp", "mail.doctor.invalid does not resolve")
        self.assertStep(out, " ok ", "revoke", "lease")

    def test_smtp_port_refused(self):
        out = self.doctor(self.config(smtp={"port": free_port()}))
        self.assertStep(out, "FAIL", "smtp", "connection refused", "465")

    def test_smtp_no_greeting_times_out(self):
        peer = ScriptedSmtp(greet=False)
        try:
            started = time.monotonic()
            out = self.doctor(self.config(smtp={"port": peer.port, "timeout_seconds": 2}))
            self.assertLess(time.monotonic() - started, 60)
            self.assertStep(out, "FAIL", "smtp", "sent no greeting", "blocked", "465")
        finally:
            peer.close()

    def test_smtp_without_starttls(self):
        peer = ScriptedSmtp(starttls=None)
        try:
            out = self.doctor(self.config(smtp={"port": peer.port}))
            self.assertStep(out, "FAIL", "smtp", "does not offer STARTTLS", "hint:")
            self.assertNotIn("AUTH", peer.commands)  # no password without TLS
        finally:
            peer.close()

    def test_smtp_certificate_for_another_name(self):
        peer = ScriptedSmtp(starttls=(self.other_cert, self.other_key))
        try:
            out = self.doctor(self.config(smtp={"port": peer.port, "ca_file": self.other_ca}))
            self.assertStep(out, "FAIL", "smtp", "does not cover the name 127.0.0.1")
            self.assertNotIn("AUTH", peer.commands)
        finally:
            peer.close()

    def test_smtp_certificate_from_another_ca(self):
        out = self.doctor(self.config(smtp={"ca_file": self.other_ca}))
        self.assertStep(out, "FAIL", "smtp", "TLS verification failed", "not signed by a CA in smtp.ca_file")

    def test_smtp_auth_refused(self):
        tls = os.path.join(ENV["STACK_DIR"], "tls")
        peer = ScriptedSmtp(starttls=(os.path.join(tls, "server.pem"), os.path.join(tls, "server.key")))
        try:
            out = self.doctor(self.config(smtp={"port": peer.port}))
            self.assertStep(out, "FAIL", "smtp", "refused AUTH with the leased credential", "535")
            self.assertIn("AUTH", peer.commands)
            self.assertNotIn("MAIL", peer.commands)
            self.assertStep(out, " ok ", "revoke", "lease")
        finally:
            peer.close()

    def test_smtp_auth_refused_by_the_stacks_postfix(self):
        # A login the mail database does not know, served from a KV path: the real
        # Postfix/Dovecot answer 535.
        mount, policy = "doctor-kv", "doctor-kv-read"
        if f"{mount}/" not in bao("secrets", "list", "-format=json"):
            bao("secrets", "enable", f"-path={mount}", "kv")
        bao("write", f"{mount}/ghost", "username=ghost-doctor@example.test", "password=not-a-login")
        policy_file = os.path.join(self.dir, "doctor-kv.hcl")
        with open(policy_file, "w") as f:
            f.write(f'path "{mount}/ghost" {{ capabilities = ["read"] }}\n')
        bao("policy", "write", policy, policy_file)
        role = bao("read", "-format=json", "auth/approle/role/example-app")["data"]
        original = ",".join(role["token_policies"])
        bao("write", "auth/approle/role/example-app", f"token_policies={original},{policy}")
        try:
            out = self.doctor(self.config(vault={"credential_path": f"{mount}/ghost"}))
            self.assertStep(out, " ok ", "credential")
            self.assertStep(out, "FAIL", "smtp", "refused AUTH with the leased credential", "535")
        finally:
            bao("write", "auth/approle/role/example-app", f"token_policies={original}")
            bao("policy", "delete", policy, check=False)

    def test_no_mail_is_sent(self):
        peer = ScriptedSmtp(starttls=None, auth_reply="235 2.7.0 ok")
        try:
            out = self.doctor(self.config(smtp={"port": peer.port, "tls": "none",
                                                "allow_insecure": True}), expect_rc=0)
            self.assertStep(out, " ok ", "smtp", "no mail sent")
            self.assertEqual(peer.commands, ["EHLO", "AUTH", "NOOP", "QUIT"])
        finally:
            peer.close()


if __name__ == "__main__":
    unittest.main()
