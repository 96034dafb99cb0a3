-- PostGraphile's side of the benchmark, in its own database (sb_bench_pg):
--   bench.items      the rows, no row-level security (the "plain" server)
--   bench_rls.items  the same rows with row-level security forced and a
--                    policy on app.account_id (the "rls" server), read as
--                    :rls_role, which is not the owner and cannot bypass RLS
-- Recreated from scratch by run.sh when the schema comment is not
-- :'fixture_mark' (a hash of this file and fixture-rows.sql).
\set ON_ERROR_STOP on
BEGIN;

DROP SCHEMA IF EXISTS bench CASCADE;
DROP SCHEMA IF EXISTS bench_rls CASCADE;

\ir fixture-rows.sql

CREATE SCHEMA bench;
CREATE TABLE bench.items (
    id           uuid PRIMARY KEY,
    account_id   uuid NOT NULL,
    user_id      uuid NOT NULL,
    name         text NOT NULL,
    email        text NOT NULL,
    role         text NOT NULL,
    status       text NOT NULL DEFAULT 'ACTIVE',
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz
);
INSERT INTO bench.items (id, account_id, user_id, name, email, role, created_at, last_seen_at)
SELECT item_id, account_id, user_id, name, email, role, created_at, last_seen_at FROM fixture_rows ORDER BY i;
CREATE INDEX items_account_id ON bench.items (account_id);

CREATE SCHEMA bench_rls;
CREATE TABLE bench_rls.items (LIKE bench.items INCLUDING ALL);
INSERT INTO bench_rls.items SELECT * FROM bench.items;
ALTER TABLE bench_rls.items ENABLE ROW LEVEL SECURITY;
ALTER TABLE bench_rls.items FORCE ROW LEVEL SECURITY;
-- Without missing_ok: a request that forgets the setting fails loudly
-- instead of silently seeing nothing.
CREATE POLICY tenant ON bench_rls.items USING (account_id = current_setting('app.account_id')::uuid);

-- The tenant role is cluster-wide (roles are); creating it is idempotent.
SELECT format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT', :'rls_role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'rls_role') \gexec
-- The connecting user switches to it per request (SET ROLE via pgSettings).
SELECT format('GRANT %I TO CURRENT_USER', :'rls_role') \gexec
SELECT format('GRANT USAGE ON SCHEMA bench_rls TO %I', :'rls_role') \gexec
SELECT format('GRANT SELECT ON bench_rls.items TO %I', :'rls_role') \gexec

COMMENT ON SCHEMA bench_rls IS :'fixture_mark';
COMMIT;

VACUUM ANALYZE bench.items;
VACUUM ANALYZE bench_rls.items;
