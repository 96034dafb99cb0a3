-- app_enter (migrations 00006, 00009 and 00010) with less to do on the
-- request path:
--
-- - p_member false verifies the session alone. A read of the user's own
--   (me, their sessions, their accounts) needs no membership, and the
--   membership's look-up (memberships, accounts and their policies) was
--   about 40% of what the function cost PostgreSQL.
-- - A custom role is read only for a member who has one, in a statement of
--   its own, instead of a LEFT JOIN on roles in every call: the join's
--   policy cost about a sixth of the function for the members with a
--   built-in role, who are most.
--
-- The new parameter has a default, so a call with five arguments (a
-- process of the previous release during a rolling deploy) keeps its
-- meaning. What the function returns is unchanged.

-- +goose Up
DROP FUNCTION app_enter(bytea, uuid, boolean, timestamptz, interval);

-- +goose StatementBegin
CREATE FUNCTION app_enter(p_token_hash bytea, p_account uuid, p_lock boolean, p_now timestamptz, p_idle interval,
    p_member boolean DEFAULT true)
RETURNS TABLE (
    id uuid, user_id uuid, created_at timestamptz, last_seen_at timestamptz, expires_at timestamptz,
    ip text, user_agent text, device text, current_account_id uuid,
    revoked_at timestamptz, revoked_reason text, revoked_by_ip text, revoked_by_device text,
    user_email text, user_name text, user_created_at timestamptz, totp_enabled_at timestamptz,
    m_account_id uuid, m_role text, m_custom_role_id uuid, m_status text, m_display_name text,
    m_deactivated_until timestamptz, m_created_at timestamptz,
    custom_name text, custom_permissions jsonb, custom_hidden_fields text[],
    account_name text, account_created_at timestamptz, ip_allowlist text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    target uuid;
    scoped text;
BEGIN
    -- The result columns are the function's OUT variables: each SELECT
    -- below fills them INTO, and RETURN NEXT returns them as one row.
    --
    -- A write locks the session (and below, the membership) until it
    -- commits: a sign-out or deactivation committed meanwhile waits for it,
    -- and one committed first is seen, so no write lands after either. The
    -- session is share-locked (a user's writes in several accounts go on
    -- at once); the membership is locked for update from the start, since
    -- the write may change it (an activity limit pauses it), and taking a
    -- share lock first and upgrading it would deadlock two writes of one
    -- member.
    --
    -- Using a session keeps it from idling out; once a minute is enough.
    -- Under p_lock the touch comes first, so that the share lock below is
    -- taken by a transaction that already holds the row, never upgraded
    -- (two transactions upgrading at once would deadlock). A read reads
    -- first and touches only a session that needs it.
    IF p_lock THEN
        UPDATE sessions x SET last_seen_at = p_now
        WHERE x.token_hash = p_token_hash AND x.revoked_at IS NULL AND x.expires_at > p_now
            AND x.last_seen_at > p_now - p_idle AND x.last_seen_at < p_now - interval '1 minute';
        SELECT x.id, x.user_id, x.created_at, x.last_seen_at, x.expires_at, host(x.ip), x.user_agent, x.device,
            x.current_account_id, x.revoked_at, x.revoked_reason, host(x.revoked_by_ip), x.revoked_by_device,
            u.email, u.name, u.created_at, u.totp_enabled_at
        INTO id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, device,
            current_account_id, revoked_at, revoked_reason, revoked_by_ip, revoked_by_device,
            user_email, user_name, user_created_at, totp_enabled_at
        FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.token_hash = p_token_hash FOR SHARE OF x;
    ELSE
        SELECT x.id, x.user_id, x.created_at, x.last_seen_at, x.expires_at, host(x.ip), x.user_agent, x.device,
            x.current_account_id, x.revoked_at, x.revoked_reason, host(x.revoked_by_ip), x.revoked_by_device,
            u.email, u.name, u.created_at, u.totp_enabled_at
        INTO id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, device,
            current_account_id, revoked_at, revoked_reason, revoked_by_ip, revoked_by_device,
            user_email, user_name, user_created_at, totp_enabled_at
        FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.token_hash = p_token_hash;
        IF id IS NOT NULL AND revoked_at IS NULL AND expires_at > p_now
            AND last_seen_at > p_now - p_idle AND last_seen_at < p_now - interval '1 minute' THEN
            UPDATE sessions x SET last_seen_at = p_now WHERE x.id = app_enter.id;
            last_seen_at := p_now;
        END IF;
    END IF;
    IF id IS NULL THEN
        RETURN; -- no such session
    END IF;

    -- Plain assignments, not statements: PostgreSQL evaluates them without
    -- starting an executor.
    target := coalesce(p_account, current_account_id);
    -- Without a membership to verify, the scope holds no account: a read
    -- of the user's own has no account's rows to see.
    scoped := set_config('app.user_id', user_id::text, true)
        || set_config('app.account_id', CASE WHEN p_member THEN coalesce(target::text, '') ELSE '' END, true);

    -- The membership stays null until one is read (a session with no
    -- account yet, or one ended), and when the caller asks for none
    -- (p_member false: a read of the user's own, such as me).
    IF p_member AND target IS NOT NULL AND revoked_at IS NULL THEN
        IF p_lock THEN
            SELECT mm.account_id, mm.role, mm.custom_role_id, mm.status, mm.display_name, mm.deactivated_until, mm.created_at,
                a.name, a.created_at, a.ip_allowlist::text[]
            INTO m_account_id, m_role, m_custom_role_id, m_status, m_display_name, m_deactivated_until, m_created_at,
                account_name, account_created_at, ip_allowlist
            FROM memberships mm
            JOIN accounts a ON a.id = mm.account_id
            WHERE mm.account_id = target AND mm.user_id = app_enter.user_id
            FOR NO KEY UPDATE OF mm;
        ELSE
            SELECT mm.account_id, mm.role, mm.custom_role_id, mm.status, mm.display_name, mm.deactivated_until, mm.created_at,
                a.name, a.created_at, a.ip_allowlist::text[]
            INTO m_account_id, m_role, m_custom_role_id, m_status, m_display_name, m_deactivated_until, m_created_at,
                account_name, account_created_at, ip_allowlist
            FROM memberships mm
            JOIN accounts a ON a.id = mm.account_id
            WHERE mm.account_id = target AND mm.user_id = app_enter.user_id;
        END IF;
        -- A custom role is read only for a member who has one: most have a
        -- built-in role, and the join cost every request its roles policy.
        IF m_custom_role_id IS NOT NULL THEN
            SELECT r.name, r.permissions, r.hidden_fields
            INTO custom_name, custom_permissions, custom_hidden_fields
            FROM roles r WHERE r.account_id = m_account_id AND r.id = m_custom_role_id;
        END IF;
    END IF;
    RETURN NEXT;
END
$$;
-- +goose StatementEnd

GRANT EXECUTE ON FUNCTION app_enter(bytea, uuid, boolean, timestamptz, interval, boolean) TO switchboard_app;

-- +goose Down
DROP FUNCTION app_enter(bytea, uuid, boolean, timestamptz, interval, boolean);

-- +goose StatementBegin
CREATE FUNCTION app_enter(p_token_hash bytea, p_account uuid, p_lock boolean, p_now timestamptz, p_idle interval)
RETURNS TABLE (
    id uuid, user_id uuid, created_at timestamptz, last_seen_at timestamptz, expires_at timestamptz,
    ip text, user_agent text, device text, current_account_id uuid,
    revoked_at timestamptz, revoked_reason text, revoked_by_ip text, revoked_by_device text,
    user_email text, user_name text, user_created_at timestamptz, totp_enabled_at timestamptz,
    m_account_id uuid, m_role text, m_custom_role_id uuid, m_status text, m_display_name text,
    m_deactivated_until timestamptz, m_created_at timestamptz,
    custom_name text, custom_permissions jsonb, custom_hidden_fields text[],
    account_name text, account_created_at timestamptz, ip_allowlist text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    target uuid;
    scoped text;
BEGIN
    -- The result columns are the function's OUT variables: each SELECT
    -- below fills them INTO, and RETURN NEXT returns them as one row.
    --
    -- A write locks the session (and below, the membership) until it
    -- commits: a sign-out or deactivation committed meanwhile waits for it,
    -- and one committed first is seen, so no write lands after either. The
    -- session is share-locked (a user's writes in several accounts go on
    -- at once); the membership is locked for update from the start, since
    -- the write may change it (an activity limit pauses it), and taking a
    -- share lock first and upgrading it would deadlock two writes of one
    -- member.
    --
    -- Using a session keeps it from idling out; once a minute is enough.
    -- Under p_lock the touch comes first, so that the share lock below is
    -- taken by a transaction that already holds the row, never upgraded
    -- (two transactions upgrading at once would deadlock). A read reads
    -- first and touches only a session that needs it.
    IF p_lock THEN
        UPDATE sessions x SET last_seen_at = p_now
        WHERE x.token_hash = p_token_hash AND x.revoked_at IS NULL AND x.expires_at > p_now
            AND x.last_seen_at > p_now - p_idle AND x.last_seen_at < p_now - interval '1 minute';
        SELECT x.id, x.user_id, x.created_at, x.last_seen_at, x.expires_at, host(x.ip), x.user_agent, x.device,
            x.current_account_id, x.revoked_at, x.revoked_reason, host(x.revoked_by_ip), x.revoked_by_device,
            u.email, u.name, u.created_at, u.totp_enabled_at
        INTO id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, device,
            current_account_id, revoked_at, revoked_reason, revoked_by_ip, revoked_by_device,
            user_email, user_name, user_created_at, totp_enabled_at
        FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.token_hash = p_token_hash FOR SHARE OF x;
    ELSE
        SELECT x.id, x.user_id, x.created_at, x.last_seen_at, x.expires_at, host(x.ip), x.user_agent, x.device,
            x.current_account_id, x.revoked_at, x.revoked_reason, host(x.revoked_by_ip), x.revoked_by_device,
            u.email, u.name, u.created_at, u.totp_enabled_at
        INTO id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, device,
            current_account_id, revoked_at, revoked_reason, revoked_by_ip, revoked_by_device,
            user_email, user_name, user_created_at, totp_enabled_at
        FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.token_hash = p_token_hash;
        IF id IS NOT NULL AND revoked_at IS NULL AND expires_at > p_now
            AND last_seen_at > p_now - p_idle AND last_seen_at < p_now - interval '1 minute' THEN
            UPDATE sessions x SET last_seen_at = p_now WHERE x.id = app_enter.id;
            last_seen_at := p_now;
        END IF;
    END IF;
    IF id IS NULL THEN
        RETURN; -- no such session
    END IF;

    -- Plain assignments, not statements: PostgreSQL evaluates them without
    -- starting an executor.
    target := coalesce(p_account, current_account_id);
    scoped := set_config('app.user_id', user_id::text, true) || set_config('app.account_id', coalesce(target::text, ''), true);

    -- The membership stays null until one is read (a session with no
    -- account yet, or one ended).
    IF target IS NOT NULL AND revoked_at IS NULL THEN
        IF p_lock THEN
            SELECT mm.account_id, mm.role, mm.custom_role_id, mm.status, mm.display_name, mm.deactivated_until, mm.created_at,
                r.name, r.permissions, r.hidden_fields, a.name, a.created_at, a.ip_allowlist::text[]
            INTO m_account_id, m_role, m_custom_role_id, m_status, m_display_name, m_deactivated_until, m_created_at,
                custom_name, custom_permissions, custom_hidden_fields, account_name, account_created_at, ip_allowlist
            FROM memberships mm
            JOIN accounts a ON a.id = mm.account_id
            LEFT JOIN roles r ON r.account_id = mm.account_id AND r.id = mm.custom_role_id
            WHERE mm.account_id = target AND mm.user_id = app_enter.user_id
            FOR NO KEY UPDATE OF mm;
        ELSE
            SELECT mm.account_id, mm.role, mm.custom_role_id, mm.status, mm.display_name, mm.deactivated_until, mm.created_at,
                r.name, r.permissions, r.hidden_fields, a.name, a.created_at, a.ip_allowlist::text[]
            INTO m_account_id, m_role, m_custom_role_id, m_status, m_display_name, m_deactivated_until, m_created_at,
                custom_name, custom_permissions, custom_hidden_fields, account_name, account_created_at, ip_allowlist
            FROM memberships mm
            JOIN accounts a ON a.id = mm.account_id
            LEFT JOIN roles r ON r.account_id = mm.account_id AND r.id = mm.custom_role_id
            WHERE mm.account_id = target AND mm.user_id = app_enter.user_id;
        END IF;
    END IF;
    RETURN NEXT;
END
$$;
-- +goose StatementEnd

GRANT EXECUTE ON FUNCTION app_enter(bytea, uuid, boolean, timestamptz, interval) TO switchboard_app;
