#!/bin/sh
# send.sh: submit one JSON mail over the sidecar's socket and print the answer.
set -eu
socket="${SIDECAR_SOCKET:-/run/smtp-sidecar/smtp.sock}"
curl -sS --fail-with-body --unix-socket "$socket" -H 'Content-Type: application/json' \
  --data '{"from":"Example App <app@example.test>","to":["someone@example.test"],
           "subject":"Hello from the example app","text":"Sent through smtp-sidecar."}' \
  http://localhost/v1/messages
echo
