// nodemailer_send.js: one message with nodemailer's SMTP transport (no auth, no TLS:
// the sidecar knows its caller from the kernel).
// Usage: node nodemailer_send.js PORT FROM TO BCC TOKEN
'use strict';
const nodemailer = require('nodemailer');

const [port, from, to, bcc, token] = process.argv.slice(2);
const transport = nodemailer.createTransport({
  host: '127.0.0.1',
  port: Number(port),
  secure: false,
  ignoreTLS: true,
  connectionTimeout: 30000,
});
transport
  .sendMail({
    from,
    to,
    bcc,
    subject: `nodemailer ✓ ${token}`,
    text: 'Grüße from nodemailer\n',
    attachments: [{ filename: 'data.bin', content: Buffer.from('nodemailer attachment\n'.repeat(1000)) }],
  })
  .then((info) => {
    if (info.rejected.length !== 0) {
      console.error('rejected', info.rejected);
      process.exit(1);
    }
  })
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
