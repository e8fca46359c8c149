-- smtp-sidecar dev stack: the mail user database (database "mail"). Applied by
-- scripts/stack as the superuser at every PostgreSQL start; idempotent. Passwords of the
-- roles are set by scripts/stack from files in <state>/secrets (never in this file).
--
-- Who reads and writes what:
--   Dovecot (SASL for Postfix)  as dovecot_auth  SELECT credentials    (passdb password_query)
--   Postfix smtpd               as postfix_maps  SELECT sender_logins  (smtpd_sender_login_maps)
--   OpenBao database engine     as vault_admin   SELECT/INSERT/UPDATE/DELETE on both
--                                                (creation/renew/revocation statements)

\set ON_ERROR_STOP on

CREATE TABLE IF NOT EXISTS credentials (
  -- SASL login name. Dovecot lower-cases the login before the lookup
  -- (auth_username_format = %Lu), so a mixed-case row could never match: refuse it.
  username   text   PRIMARY KEY CHECK (username = lower(username) AND username <> ''),
  -- A Dovecot password with its scheme prefix: '{SSHA512}base64...' as the database
  -- engine writes it, or '{PLAIN}...' / '{SHA512-CRYPT}$6$...' for hand-made test rows.
  password   text   NOT NULL,
  -- Unix seconds; NULL = never. The password_query hides expired rows (=> 535), so an
  -- expired login fails even before OpenBao's revocation deletes it.
  expires_at bigint,
  created_at bigint NOT NULL DEFAULT extract(epoch FROM now())::bigint
);

CREATE TABLE IF NOT EXISTS sender_logins (
  -- MAIL FROM address ('user@domain', or '@domain' for a whole domain), lower-case:
  -- Postfix folds its lookup keys to lower case.
  address text NOT NULL CHECK (address = lower(address) AND address <> ''),
  -- credentials.username allowed to send as this address. Not a foreign key on purpose:
  -- revocation deletes both rows in either order, and a test may add an owner first.
  login   text NOT NULL CHECK (login = lower(login) AND login <> ''),
  PRIMARY KEY (address, login)
);
-- Revocation deletes by login.
CREATE INDEX IF NOT EXISTS sender_logins_login_idx ON sender_logins (login);

DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['dovecot_auth', 'postfix_maps', 'vault_admin'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I LOGIN', r);
    END IF;
    -- Plain login roles, whatever someone did to them by hand. A role may always change
    -- its own password (ALTER ROLE vault_admin PASSWORD ...), which is all OpenBao's
    -- rotate-root needs; no CREATEROLE.
    EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                   'NOBYPASSRLS INHERIT CONNECTION LIMIT -1', r);
  END LOOP;
END $$;

-- Nobody but these three (and the superuser) may connect to the mail database; pg_hba.conf
-- additionally limits them to this database.
REVOKE ALL ON DATABASE mail FROM PUBLIC;
GRANT CONNECT ON DATABASE mail TO dovecot_auth, postfix_maps, vault_admin;
-- PG 15 no longer lets PUBLIC create in schema public; say it anyway.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO dovecot_auth, postfix_maps, vault_admin;

REVOKE ALL ON credentials, sender_logins FROM PUBLIC, dovecot_auth, postfix_maps, vault_admin;
GRANT SELECT ON credentials   TO dovecot_auth;
GRANT SELECT ON sender_logins TO postfix_maps;
GRANT SELECT, INSERT, UPDATE, DELETE ON credentials, sender_logins TO vault_admin;
