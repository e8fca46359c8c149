-- OpenBao database engine, role example-app: revocation_statements. Without them the
-- PostgreSQL plugin would try to DROP ROLE "{{name}}" (vault_admin may not, and there is
-- no such role: the login is a row, not a database role). Deleting the row makes the
-- next AUTH fail (535): Dovecot has no auth cache here.
DELETE FROM sender_logins WHERE login = '{{name}}';
DELETE FROM credentials WHERE username = '{{name}}';
