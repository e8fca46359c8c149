"""Helpers for end-to-end tests against the real stack started by scripts/stack.

SECURITY: tests read the dev stack's root token from its file to inspect OpenBao; they
never print it. Everything they talk to is on 127.0.0.1 or a Unix socket.
"""
import email
import email.policy
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stack_env():
    """The KEY=VALUE lines of `scripts/stack env` as a dict."""
    out = subprocess.run([os.path.join(REPO, "scripts", "stack"), "env"], check=True,
                         capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip('"').strip("'")
    return env


ENV = stack_env()

# Where the example app's logins come from: the smtp plugin (the default bootstrap) or
# the database engine (SIDECAR_BOOTSTRAP_ENGINE=database).
CREDENTIAL_PATH = ("database/creds/example-app"
                   if os.environ.get("SIDECAR_BOOTSTRAP_ENGINE") == "database"
                   else "smtp/creds/example-app")


# The CLI of the stack's server: bao, or vault on a HashiCorp Vault stack
# (SIDECAR_STACK_VAULT_IMPL=vault); a stack started before VAULT_CLI existed reports BAO only.
CLI = ENV.get("VAULT_CLI") or ENV["BAO"]


def bao(*args, check=True):
    """Runs the server's CLI (bao, or vault: same verbs and flags) against the stack's
    OpenBao or Vault with its root token. Pass -format=json after the subcommand to get
    parsed JSON back."""
    env = dict(os.environ)
    env["VAULT_ADDR"] = ENV["VAULT_ADDR"]
    if ENV.get("VAULT_CACERT"):
        env["VAULT_CACERT"] = ENV["VAULT_CACERT"]
    with open(ENV["VAULT_TOKEN_FILE"]) as f:
        env["VAULT_TOKEN"] = f.read().strip()
    proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"bao {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    if "-format=json" in args and proc.returncode == 0 and proc.stdout.strip():
        return json.loads(proc.stdout)
    return proc


def psql(sql):
    """Runs SQL as superuser against the mail database; returns rows of text."""
    out = subprocess.run([os.path.join(REPO, "scripts", "stack"), "psql", "-tA", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def logins():
    return set(psql("SELECT username FROM credentials"))


def wrapped_secret_id(path):
    """Delivers a new response-wrapped secret_id to `path` (0600), as the bootstrap
    does: each sidecar in a test gets its own single-use wrapping token."""
    out = bao("write", "-wrap-ttl=120s", "-f", "-field=wrapping_token",
              "auth/approle/role/example-app/secret-id").stdout.strip()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(out)


def fresh_secret_id():
    """Re-runs the bootstrap so the AppRole secret_id file holds an unused secret_id."""
    subprocess.run([os.path.join(REPO, "scripts", "vault-bootstrap")], check=True,
                   capture_output=True, text=True)


def postfix(action):
    """Stops or starts the stack's Postfix (to test an unavailable SMTP server)."""
    if action == "stop":
        subprocess.run(["postfix", "-c", ENV["POSTFIX_CONF_DIR"], "stop"], check=True,
                       capture_output=True)
        wait_for(lambda: subprocess.run(["postfix", "-c", ENV["POSTFIX_CONF_DIR"], "status"],
                                        capture_output=True).returncode != 0, timeout=20)
    else:
        subprocess.run([os.path.join(REPO, "scripts", "stack"), "start"], check=True,
                       capture_output=True)


def maildir_messages(address):
    local, domain = address.split("@")
    new = os.path.join(ENV["MAILDIR"], domain, local, "new")
    if not os.path.isdir(new):
        return []
    return [os.path.join(new, name) for name in sorted(os.listdir(new))]


def role_pids(supervisor_pid):
    """{role: pid} of a sidecar supervisor's children (keeper, worker), from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if ppid == supervisor_pid and b"--role" in argv:
            found[argv[argv.index(b"--role") + 1].decode()] = int(entry)
    return found


def delivered(address):
    """The newest message in `address`'s Maildir (waiting for it), parsed."""
    files = wait_for(lambda: maildir_messages(address))
    assert files, f"nothing delivered to {address}"
    with open(files[-1], "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.default)


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def smtp_login(username, password, port=None):
    """AUTH at the stack's Postfix over verified STARTTLS; returns the SMTP code."""
    import smtplib
    ctx = ssl.create_default_context(cafile=ENV["SMTP_CA_FILE"])
    with smtplib.SMTP(ENV["SMTP_HOST"], int(port or ENV["SMTP_STARTTLS_PORT"]), timeout=10) as s:
        s.starttls(context=ctx)
        try:
            code, _ = s.login(username, password)
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code
        return code


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


# The sidecar refuses to run as root unless it may drop to a named user: the tests run
# as root, so their sidecars drop to this one (created by scripts/install-deps.sh).
RUN_AS = "smtp-sidecar" if os.geteuid() == 0 else None


def give_to_sidecar_user(path):
    """Makes `path` (a file or directory the sidecar must read) its user's."""
    if RUN_AS:
        shutil.chown(path, user=RUN_AS, group=RUN_AS)


class Sidecar:
    """One smtp-sidecar process with its own config and socket in a temp dir. When the
    tests run as root it runs as RUN_AS, with copies of the files it reads (role_id,
    secret_id, CA bundles) in its own directory: the stack's directory is root's."""

    def __init__(self, binary=None, secret_id_file=None, extra_config="", env=None,
                 process_config=""):
        """secret_id_file: a plain secret_id to use; by default the sidecar gets its own
        response-wrapped one (vault.secret_id_wrapped), delivered at start()."""
        self.extra_env = env or {}
        self.binary = binary or os.environ.get("SMTP_SIDECAR_BIN",
                                               os.path.join(REPO, "build", "dev", "sidecar",
                                                            "smtp-sidecar"))
        self.dir = tempfile.mkdtemp(prefix="sidecar-e2e-", dir="/tmp")
        give_to_sidecar_user(self.dir)
        self.socket = os.path.join(self.dir, "smtp.sock")
        self.log_path = os.path.join(self.dir, "sidecar.log")
        self.config_path = os.path.join(self.dir, "smtp-sidecar.toml")
        self.wrapped = secret_id_file is None
        if self.wrapped:
            secret_id_file = os.path.join(self.dir, "secret-id.wrapped")
            secret_lines = (f'secret_id_file = "{secret_id_file}"\nsecret_id_wrapped = true\n'
                            'approle_role = "example-app"\nremove_secret_id_file = true')
        else:
            secret_id_file = self.stage(secret_id_file, "secret-id")
            secret_lines = f'secret_id_file = "{secret_id_file}"'
        self.secret_id_file = secret_id_file
        vault_ca = (f'ca_file = "{self.stage(ENV["VAULT_CACERT"], "vault-ca.pem")}"'
                    if ENV.get("VAULT_CACERT") else "")
        process = f'[process]\nuser = "{RUN_AS}"\n{process_config}\n' if RUN_AS else ""
        with open(self.config_path, "w") as f:
            f.write(f"""{process}
[vault]
address = "{ENV['VAULT_ADDR']}"
{vault_ca}
role_id_file = "{self.stage(ENV['APPROLE_ROLE_ID_FILE'], 'role-id')}"
{secret_lines}
credential_path = "{CREDENTIAL_PATH}"

[smtp]
host = "{ENV['SMTP_HOST']}"
port = {ENV['SMTP_STARTTLS_PORT']}
tls = "starttls"
ca_file = "{self.stage(ENV['SMTP_CA_FILE'], 'smtp-ca.pem')}"

[listen]
socket = "{self.socket}"
{extra_config}
""")
        self.proc = None
        self.command_prefix = []  # e.g. strace and its options

    def stage(self, path, name):
        """A copy of `path` in the sidecar's directory, readable by its user."""
        if not RUN_AS or not os.path.exists(path):
            return path  # a missing file stays missing: some tests want that error
        copy = os.path.join(self.dir, "staged-" + name)
        shutil.copyfile(path, copy)
        os.chmod(copy, 0o600)
        give_to_sidecar_user(copy)
        return copy

    def start(self, wait=True):
        if self.wrapped:
            wrapped_secret_id(self.secret_id_file)
        for name in os.listdir(self.dir):  # what the test wrote for the sidecar to read
            give_to_sidecar_user(os.path.join(self.dir, name))
        self.log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_SIDECAR_")}
        env.update(self.extra_env)
        self.proc = subprocess.Popen([*self.command_prefix, self.binary, "--config",
                                      self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        if wait:
            def ready():
                if self.proc.poll() is not None:
                    return True
                try:
                    return self.request("GET", "/v1/ready")[0] == 200
                except OSError:
                    return False
            wait_for(ready, timeout=30, interval=0.05)
            if self.proc.poll() is not None or self.request("GET", "/v1/ready")[0] != 200:
                raise AssertionError("sidecar did not become ready:\n" + self.output())
        return self

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def events(self, name):
        found = []
        for line in self.output().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("event") == name:
                found.append(obj)
        return found

    def request(self, method, target, body=b"", headers=None):
        conn = UnixHTTPConnection(self.socket)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            try:
                payload = json.loads(data) if data else None
            except ValueError:
                payload = data
            return resp.status, payload, dict(resp.getheaders())
        finally:
            conn.close()

    def send_raw(self, message, sender, recipients):
        query = urllib.parse.urlencode([("from", sender)] + [("to", r) for r in recipients])
        return self.request("POST", "/v1/messages?" + query, body=message,
                            headers={"Content-Type": "message/rfc822"})

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def vault_api(method, path, body=None):
    """OpenBao's HTTP API with the stack's root token (the CLI costs a process per call,
    and counting tokens looks up each one)."""
    with open(ENV["VAULT_TOKEN_FILE"]) as f:
        token = f.read().strip()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{ENV['VAULT_ADDR']}/v1/{path}", data=data, method=method,
                                 headers={"X-Vault-Token": token})
    context = ssl.create_default_context(cafile=ENV.get("VAULT_CACERT") or None)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def approle_tokens(role="example-app"):
    """Accessors of the live tokens that AppRole logins of `role` created."""
    listed = vault_api("LIST", "auth/token/accessors") or {}
    found = set()
    for accessor in listed.get("data", {}).get("keys", []):
        try:
            info = vault_api("POST", "auth/token/lookup-accessor", {"accessor": accessor})
        except urllib.error.HTTPError:
            continue  # expired between the list and the lookup
        data = (info or {}).get("data") or {}
        if data.get("path", "").startswith("auth/approle/login") and \
                (data.get("meta") or {}).get("role_name") == role:
            found.add(accessor)
    return found


def live_leases():
    listed = vault_api("LIST", f"sys/leases/lookup/{CREDENTIAL_PATH}/") or {}
    return {f"{CREDENTIAL_PATH}/{k}" for k in listed.get("data", {}).get("keys", [])}


# Passwordless logins signed by the smtp plugin (docs/providers/own-stack.md): the role
# of example-app whose logins are tokens, its sender, and the issuer the stack's
# token-login Dovecot trusts (scripts/stack-oauth: PLUGIN_TOKEN_ISSUER).
PASSWORDLESS_ROLE = "example-app-passwordless"
PASSWORDLESS_SENDER = "pwless-app@example.test"
PLUGIN_TOKEN_ISSUER = f"{ENV['VAULT_ADDR']}/v1/smtp"


def ensure_passwordless_role(ttl="10m"):
    """The smtp mount's token issuer and the jwt role of example-app (idempotent: a
    config write merges, a role write replaces the given fields)."""
    bao("write", "smtp/config", f"token_issuer={PLUGIN_TOKEN_ISSUER}",
        "token_audience=smtp-sidecar-stack")
    bao("write", f"smtp/roles/{PASSWORDLESS_ROLE}", "credential_type=jwt", f"ttl={ttl}",
        f"max_ttl={ttl}", f"allowed_senders={PASSWORDLESS_SENDER}")
