-- Switchboard's side of the fixture, written straight into a freshly
-- migrated database as its owner (a fixture may bypass the services): the
-- rows of fixture-rows.sql as 100,000 users, 4,000 accounts and 100,000
-- memberships, plus one signed-out session per user, so that the members
-- list's last-seen lookup finds history as it would in production.
-- The seeded users never sign in: their password hash is a well-formed
-- argon2id string that no password matches.
\set ON_ERROR_STOP on
BEGIN;

\ir fixture-rows.sql

INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at)
SELECT user_id, email, name,
       '$argon2id$v=19$m=19456,t=2,p=1$c2lkZWJ5c2lkZWZpeHR1cmU$' || encode(sha256(('seed-' || i)::bytea), 'base64'),
       created_at, created_at
FROM fixture_rows ORDER BY i;

-- Each account is created by its owner (the row with i % 25 = 0).
INSERT INTO accounts (id, name, created_by, created_at)
SELECT account_id, 'Account ' || account_no, user_id, created_at
FROM fixture_rows WHERE i % 25 = 0 ORDER BY i;

INSERT INTO memberships (account_id, user_id, role, created_at)
SELECT account_id, user_id, role, created_at FROM fixture_rows ORDER BY i;

INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, revoked_at, revoked_reason)
SELECT md5('session-' || i)::uuid, user_id, sha256(('session-' || i)::bytea),
       last_seen_at - interval '1 hour', last_seen_at, last_seen_at + interval '11 hours',
       last_seen_at, 'LOGOUT'
FROM fixture_rows ORDER BY i;

COMMIT;

-- VACUUM too: it sets the hint bits the first readers would otherwise
-- write during the measurement.
VACUUM ANALYZE users;
VACUUM ANALYZE accounts;
VACUUM ANALYZE memberships;
VACUUM ANALYZE sessions;
