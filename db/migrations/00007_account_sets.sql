-- Reads over a set of accounts. Row-level security admitted one account
-- per transaction (app_account_id()). Some reads span several accounts,
-- each verified by the server first: the stream watch re-checking every
-- live stream's access at once, and (with the records) search over every
-- account a viewer may see. app_account_ids() is that verified set, set by
-- db code with set_config('app.account_ids', ...) for one transaction; it
-- admits reads only: every WITH CHECK still compares with app_account_id(),
-- so nothing is written outside the one account in scope.

-- +goose Up
CREATE FUNCTION app_account_ids() RETURNS uuid[] LANGUAGE sql STABLE
    AS $$ SELECT coalesce(string_to_array(NULLIF(current_setting('app.account_ids', true), ''), ',')::uuid[], '{}') $$;
GRANT EXECUTE ON FUNCTION app_account_ids() TO switchboard_app;

-- The sub-select makes the set an init plan: computed once per statement,
-- not once per row.
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['invitations', 'activity_limits', 'activity_counters', 'activity_log', 'notifications'] LOOP
        EXECUTE format('DROP POLICY tenant ON %I', t);
        EXECUTE format('CREATE POLICY tenant ON %I USING (account_id = app_account_id() OR account_id = ANY ((SELECT app_account_ids())::uuid[])) WITH CHECK (account_id = app_account_id())', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

DROP POLICY tenant ON roles;
CREATE POLICY tenant ON roles
    USING (account_id = app_account_id() OR account_id = ANY ((SELECT app_account_ids())::uuid[]) OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.account_id = roles.account_id AND m.custom_role_id = roles.id AND m.user_id = app_user_id()))
    WITH CHECK (account_id = app_account_id());

DROP POLICY tenant ON memberships;
CREATE POLICY tenant ON memberships
    USING (account_id = app_account_id() OR user_id = app_user_id() OR account_id = ANY ((SELECT app_account_ids())::uuid[]))
    WITH CHECK (account_id = app_account_id());

DROP POLICY tenant ON accounts;
CREATE POLICY tenant ON accounts
    USING (id = app_account_id() OR id = ANY ((SELECT app_account_ids())::uuid[]) OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.account_id = accounts.id AND m.user_id = app_user_id() AND m.status <> 'REMOVED'))
    WITH CHECK (id = app_account_id());

-- +goose Down
DROP POLICY tenant ON accounts;
CREATE POLICY tenant ON accounts
    USING (id = app_account_id() OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.account_id = accounts.id AND m.user_id = app_user_id() AND m.status <> 'REMOVED'))
    WITH CHECK (id = app_account_id());
DROP POLICY tenant ON memberships;
CREATE POLICY tenant ON memberships
    USING (account_id = app_account_id() OR user_id = app_user_id())
    WITH CHECK (account_id = app_account_id());
DROP POLICY tenant ON roles;
CREATE POLICY tenant ON roles
    USING (account_id = app_account_id() OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.account_id = roles.account_id AND m.custom_role_id = roles.id AND m.user_id = app_user_id()))
    WITH CHECK (account_id = app_account_id());
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['invitations', 'activity_limits', 'activity_counters', 'activity_log', 'notifications'] LOOP
        EXECUTE format('DROP POLICY tenant ON %I', t);
        EXECUTE format('CREATE POLICY tenant ON %I USING (account_id = app_account_id()) WITH CHECK (account_id = app_account_id())', t);
    END LOOP;
END
$$;
-- +goose StatementEnd
DROP FUNCTION app_account_ids();
