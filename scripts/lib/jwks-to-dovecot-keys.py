#!/usr/bin/env python3
"""Writes the keys of a JWKS document as the PEM files Dovecot's oauth2 passdb reads.

Usage: jwks-to-dovecot-keys.py [--azp NAME] JWKS_URL|JSON_FILE|- KEY_DIR [CA_FILE]

The JWKS comes from a URL, a file, or stdin ("-"); a Vault/OpenBao read answer
({"data": {"keys": [...]}}, e.g. `bao read -format=json smtp-jwt/jwks`) is accepted too.
--azp NAME: the keys go to KEY_DIR/NAME/RS256/ (the issuer's `azp` claim; default
"default", for tokens without one). Each issuer's folder is managed on its own.

Dovecot 2.3 validates a JWT locally by looking its key up in a dict
(local_validation_key_dict = fs:posix:prefix=KEY_DIR/): the file
KEY_DIR/<azp, or "default">/<alg>/<kid> holds the PEM public key. OpenBao's identity
token provider publishes its current and next signing keys at
/v1/identity/oidc/.well-known/keys; writing every published key (new ones atomically,
by rename) before a rotation means no token is ever signed with a key Dovecot lacks.
Keys no longer published are removed: their tokens have expired (verification_ttl).
Only RSA (RS256) keys are written. Prints one line: how many keys, added, removed.
"""
import json
import os
import re
import ssl
import sys
import tempfile
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

KID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # no '.', '/' or '%': Dovecot escapes those


def b64url_int(text: str) -> int:
    import base64
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def main() -> int:
    args = sys.argv[1:]
    azp = "default"
    if len(args) >= 2 and args[0] == "--azp":
        azp, args = args[1], args[2:]
    if not KID.match(azp):
        raise SystemExit(f"jwks-to-dovecot-keys: refusing azp {azp!r}")
    source, key_dir = args[0], args[1]
    if source == "-":
        jwks = json.load(sys.stdin)
    elif "://" not in source:
        with open(source) as f:
            jwks = json.load(f)
    else:
        context = ssl.create_default_context(cafile=args[2]) if len(args) > 2 else None
        with urllib.request.urlopen(source, timeout=10, context=context) as answer:
            jwks = json.load(answer)
    if "keys" not in jwks and isinstance(jwks.get("data"), dict):
        jwks = jwks["data"]  # a Vault read answer
    alg_dir = os.path.join(key_dir, azp, "RS256")
    os.makedirs(alg_dir, mode=0o755, exist_ok=True)
    wanted = {}
    for key in jwks.get("keys", []):
        if key.get("kty") != "RSA" or key.get("alg", "RS256") != "RS256":
            continue
        kid = key.get("kid", "")
        if not KID.match(kid):
            raise SystemExit(f"jwks-to-dovecot-keys: refusing key id {kid!r}")
        public = RSAPublicNumbers(b64url_int(key["e"]), b64url_int(key["n"])).public_key()
        wanted[kid] = public.public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    added = removed = 0
    for kid, pem in wanted.items():
        path = os.path.join(alg_dir, kid)
        if os.path.exists(path) and open(path, "rb").read() == pem:
            continue
        fd, tmp = tempfile.mkstemp(dir=alg_dir, prefix=".new-")
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
        added += 1
    for name in os.listdir(alg_dir):
        if not name.startswith(".") and name not in wanted:
            os.unlink(os.path.join(alg_dir, name))
            removed += 1
    print(f"jwks-to-dovecot-keys: {azp}: {len(wanted)} keys published, {added} written, {removed} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
