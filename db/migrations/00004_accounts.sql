-- Accounts: members with built-in or custom roles, invitations,
-- deactivation and removal, IP allowlists, activity limits, the activity log
-- and notifications; and row-level security on every tenant table
-- (invariant 3).

-- +goose Up

-- Sessions and the login log are global (per user), not tenant rows: name
-- their account references for what they are, so that every column called
-- account_id marks a tenant table.
ALTER TABLE sessions RENAME COLUMN account_id TO current_account_id;
ALTER TABLE login_events RENAME COLUMN account_id TO concerns_account_id;
ALTER INDEX login_events_account RENAME TO login_events_concerns_account;

-- The scope of the current transaction, set by db.inTx with set_config.
-- Unset or empty means no scope: tenant tables then show nothing.
CREATE FUNCTION app_account_id() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.account_id', true), '')::uuid $$;
CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;

ALTER TABLE accounts ADD COLUMN ip_allowlist cidr[] NOT NULL DEFAULT '{}';

CREATE TABLE roles (
    account_id    uuid NOT NULL REFERENCES accounts (id),
    id            uuid NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 800),
    -- [{"entity": "DEALS", "action": "VIEW", "scope": "OWN"}, ...]
    permissions   jsonb NOT NULL,
    hidden_fields text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX roles_name ON roles (account_id, lower(name));

ALTER TABLE memberships
    ALTER COLUMN role DROP NOT NULL,
    ADD COLUMN custom_role_id    uuid,
    ADD COLUMN status            text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DEACTIVATED', 'REMOVED')),
    ADD COLUMN display_name      text CHECK (length(display_name) BETWEEN 1 AND 800),
    ADD COLUMN deactivated_until timestamptz,
    ADD COLUMN status_changed_at timestamptz,
    ADD CONSTRAINT memberships_custom_role FOREIGN KEY (account_id, custom_role_id) REFERENCES roles (account_id, id),
    ADD CONSTRAINT memberships_one_role CHECK ((role IS NULL) <> (custom_role_id IS NULL));
CREATE INDEX memberships_custom_role_idx ON memberships (account_id, custom_role_id) WHERE custom_role_id IS NOT NULL;

CREATE TABLE invitations (
    account_id     uuid NOT NULL REFERENCES accounts (id),
    id             uuid NOT NULL,
    email          text NOT NULL CHECK (email = lower(email)),
    role           text CHECK (role IN ('OWNER', 'ADMIN', 'MANAGER', 'SALES_REP', 'READ_ONLY')),
    custom_role_id uuid,
    invited_by     uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    accepted_at    timestamptz,
    accepted_by    uuid REFERENCES users (id),
    revoked_at     timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, custom_role_id) REFERENCES roles (account_id, id),
    CHECK ((role IS NULL) <> (custom_role_id IS NULL))
);
CREATE UNIQUE INDEX invitations_one_pending ON invitations (account_id, email) WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- Invitation links are looked up before anyone knows which account they
-- belong to, so the hash lives outside the tenant table, with nothing but
-- ids beside it.
CREATE TABLE invitation_tokens (
    token_hash            bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    invitation_account_id uuid NOT NULL,
    invitation_id         uuid NOT NULL,
    FOREIGN KEY (invitation_account_id, invitation_id) REFERENCES invitations (account_id, id)
);
CREATE INDEX invitation_tokens_invitation ON invitation_tokens (invitation_account_id, invitation_id);

CREATE TABLE activity_limits (
    account_id uuid NOT NULL REFERENCES accounts (id),
    entity     text NOT NULL,
    action     text NOT NULL CHECK (action IN ('VIEW', 'CREATE', 'EDIT', 'DELETE')),
    max_count  integer NOT NULL CHECK (max_count > 0),
    period     text NOT NULL CHECK (period IN ('DAY', 'WEEK', 'MONTH')),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, entity, action)
);

CREATE TABLE activity_counters (
    account_id   uuid NOT NULL REFERENCES accounts (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    entity       text NOT NULL,
    action       text NOT NULL,
    period_start timestamptz NOT NULL,
    count        integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (account_id, user_id, entity, action, period_start)
);

-- Invariant 6: every mutation records who did it, as whom, in which
-- account, in its own transaction. Rows are never updated or deleted.
CREATE TABLE activity_log (
    account_id  uuid NOT NULL REFERENCES accounts (id),
    id          uuid NOT NULL,
    at          timestamptz NOT NULL,
    actor_id    uuid NOT NULL REFERENCES users (id),
    actor_role  text NOT NULL,
    action      text NOT NULL,
    entity_type text NOT NULL,
    entity_id   uuid,
    changes     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, id)
);
CREATE INDEX activity_log_at ON activity_log (account_id, at DESC, id DESC);
CREATE INDEX activity_log_actor ON activity_log (account_id, actor_id, at DESC);

CREATE TABLE notifications (
    account_id   uuid NOT NULL REFERENCES accounts (id),
    id           uuid NOT NULL,
    recipient_id uuid NOT NULL REFERENCES users (id),
    at           timestamptz NOT NULL,
    kind         text NOT NULL,
    message      text NOT NULL,
    subject_id   uuid,
    read_at      timestamptz,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX notifications_recipient ON notifications (account_id, recipient_id, at DESC, id DESC);

-- Row-level security: FORCE so that even the tables' owner is subject, and
-- policies that compare account_id with the transaction's scope.
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['invitations', 'activity_limits', 'activity_counters', 'activity_log', 'notifications'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I USING (account_id = app_account_id()) WITH CHECK (account_id = app_account_id())', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- A custom role is visible in scope, and to its holders in every account
-- (the switcher shows "my role").
ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON roles
    USING (account_id = app_account_id() OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.account_id = roles.account_id AND m.custom_role_id = roles.id AND m.user_id = app_user_id()))
    WITH CHECK (account_id = app_account_id());

-- A user sees their own memberships in every account (the switcher), and
-- all memberships of the account in scope.
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON memberships
    USING (account_id = app_account_id() OR user_id = app_user_id())
    WITH CHECK (account_id = app_account_id());

-- An account is visible in scope, and to its members (for the switcher).
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON accounts
    USING (id = app_account_id() OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.account_id = accounts.id AND m.user_id = app_user_id() AND m.status <> 'REMOVED'))
    WITH CHECK (id = app_account_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON roles, activity_limits, activity_counters TO switchboard_app;
GRANT SELECT, INSERT, UPDATE ON invitations, notifications TO switchboard_app;
GRANT SELECT, INSERT, DELETE ON invitation_tokens TO switchboard_app;
GRANT SELECT, INSERT ON activity_log TO switchboard_app;
GRANT EXECUTE ON FUNCTION app_account_id(), app_user_id() TO switchboard_app;

-- +goose Down
DROP TABLE notifications, activity_log, activity_counters, activity_limits, invitation_tokens, invitations;
DROP POLICY tenant ON accounts;
ALTER TABLE accounts DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY, DROP COLUMN ip_allowlist;
DROP POLICY tenant ON memberships;
DROP POLICY tenant ON roles;
ALTER TABLE memberships DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY,
    DROP CONSTRAINT memberships_one_role, DROP CONSTRAINT memberships_custom_role,
    DROP COLUMN custom_role_id, DROP COLUMN status, DROP COLUMN display_name, DROP COLUMN deactivated_until, DROP COLUMN status_changed_at;
DROP TABLE roles;
DROP FUNCTION app_account_id(), app_user_id();
ALTER INDEX login_events_concerns_account RENAME TO login_events_account;
ALTER TABLE login_events RENAME COLUMN concerns_account_id TO account_id;
ALTER TABLE sessions RENAME COLUMN current_account_id TO account_id;
