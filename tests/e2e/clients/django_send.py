"""Sends one message with Django's SMTP EmailBackend (no AUTH, no TLS: the sidecar knows
its caller from the kernel). Usage: django_send.py PORT FROM TO BCC TOKEN"""
import sys

import django
from django.conf import settings

port, sender, to, bcc, token = sys.argv[1:6]
settings.configure(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                   EMAIL_HOST="127.0.0.1", EMAIL_PORT=int(port), EMAIL_TIMEOUT=30,
                   EMAIL_USE_TLS=False, EMAIL_USE_SSL=False, DEFAULT_CHARSET="utf-8")
django.setup()

from django.core.mail import EmailMessage  # noqa: E402

message = EmailMessage(subject=f"Django ✓ {token}", body="Grüße from Django\n",
                       from_email=sender, to=[to], bcc=[bcc])
message.attach("data.txt", b"django attachment\n" * 1000, "application/octet-stream")
sent = message.send(fail_silently=False)
sys.exit(0 if sent == 1 else 1)
