-- OpenBao database engine, role example-app: creation_statements (used by
-- scripts/vault-bootstrap; @SENDERS_VALUES@ is filled in by it). Runs as vault_admin in
-- one transaction. OpenBao fills in {{name}} (from the connection's username_template:
-- lower-case, [a-z0-9-]), {{password}} (its default password policy: [A-Za-z0-9-]) and
-- {{expiration}} ('2006-01-02 15:04:05-0700').
-- The plugin splits this text on semicolons: no semicolon may appear inside a statement.
--
-- Dovecot {SSHA512} = base64( sha512(password || salt) || salt ), computed here so the
-- plaintext never leaves the transaction. The salt is 16 bytes of gen_random_uuid()
-- (strong randomness, built into PG 13+; no pgcrypto, no extra privilege). encode(...,
-- 'base64') wraps at 76 characters, hence the replace() of the newline.
INSERT INTO credentials (username, password, expires_at)
SELECT '{{name}}',
       '{SSHA512}' || replace(encode(sha512(convert_to('{{password}}', 'UTF8') || s.salt) || s.salt, 'base64'), E'\n', ''),
       extract(epoch FROM '{{expiration}}'::timestamptz)::bigint
FROM (SELECT uuid_send(gen_random_uuid()) AS salt) AS s;
-- The addresses this login may use as MAIL FROM (smtpd_sender_login_maps).
INSERT INTO sender_logins (address, login)
SELECT a.address, '{{name}}' FROM (VALUES @SENDERS_VALUES@) AS a (address);
