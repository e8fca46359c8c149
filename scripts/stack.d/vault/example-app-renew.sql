-- OpenBao database engine, role example-app: renew_statements. A lease renewal moves
-- the login's expiry, which Dovecot's password_query enforces.
UPDATE credentials
   SET expires_at = extract(epoch FROM '{{expiration}}'::timestamptz)::bigint
 WHERE username = '{{name}}';
