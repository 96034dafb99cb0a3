-- The restricted role that request work runs as (SET ROLE per transaction).
-- It owns nothing and cannot bypass row-level security, so a tenant query
-- that forgets its scope sees nothing. Roles are cluster-wide: creating it is
-- idempotent, and racing creations from databases migrating at the same time
-- are tolerated.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    CREATE ROLE switchboard_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
-- +goose StatementEnd

-- The migrating user must be able to SET ROLE to it (a superuser always can).
GRANT switchboard_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO switchboard_app;

-- +goose Down
REVOKE USAGE ON SCHEMA public FROM switchboard_app;
