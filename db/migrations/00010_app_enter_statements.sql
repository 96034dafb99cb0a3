-- app_enter (migrations 00006 and 00009) in fewer statements: its result
-- columns are filled straight from the two look-ups (the session, then the
-- membership) instead of through intermediate records and a final query,
-- and the scope is set by assignment. Each statement a PL/pgSQL function
-- runs starts an executor, which was most of what a request cost
-- PostgreSQL. What the function returns is unchanged.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app_enter(p_token_hash bytea, p_account uuid, p_lock boolean, p_now timestamptz, p_idle interval)
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app_enter(p_token_hash bytea, p_account uuid, p_lock boolean, p_now timestamptz, p_idle interval)
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
    s record;
    m record;
    target uuid;
BEGIN
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
    -- first and touches only a session that needs it: most requests then
    -- cost one index look-up, not two.
    IF p_lock THEN
        UPDATE sessions x SET last_seen_at = p_now
        WHERE x.token_hash = p_token_hash AND x.revoked_at IS NULL AND x.expires_at > p_now
            AND x.last_seen_at > p_now - p_idle AND x.last_seen_at < p_now - interval '1 minute';
        SELECT x.id, x.user_id, x.created_at, x.last_seen_at, x.expires_at, host(x.ip) AS ip, x.user_agent, x.device,
            x.current_account_id, x.revoked_at, x.revoked_reason, host(x.revoked_by_ip) AS revoked_by_ip, x.revoked_by_device,
            u.email, u.name, u.created_at AS user_created_at, u.totp_enabled_at
        INTO s FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.token_hash = p_token_hash FOR SHARE OF x;
    ELSE
        SELECT x.id, x.user_id, x.created_at, x.last_seen_at, x.expires_at, host(x.ip) AS ip, x.user_agent, x.device,
            x.current_account_id, x.revoked_at, x.revoked_reason, host(x.revoked_by_ip) AS revoked_by_ip, x.revoked_by_device,
            u.email, u.name, u.created_at AS user_created_at, u.totp_enabled_at
        INTO s FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.token_hash = p_token_hash;
        IF FOUND AND s.revoked_at IS NULL AND s.expires_at > p_now
            AND s.last_seen_at > p_now - p_idle AND s.last_seen_at < p_now - interval '1 minute' THEN
            UPDATE sessions x SET last_seen_at = p_now WHERE x.id = s.id;
            s.last_seen_at := p_now;
        END IF;
    END IF;
    IF s.id IS NULL THEN
        RETURN; -- no such session
    END IF;

    -- No membership until one is read (a session with no account yet).
    SELECT NULL::uuid AS account_id, NULL::text AS role, NULL::uuid AS custom_role_id, NULL::text AS status,
        NULL::text AS display_name, NULL::timestamptz AS deactivated_until, NULL::timestamptz AS created_at,
        NULL::text AS custom_name, NULL::jsonb AS custom_permissions, NULL::text[] AS custom_hidden_fields,
        NULL::text AS account_name, NULL::timestamptz AS account_created_at, NULL::text[] AS ip_allowlist
    INTO m;
    target := coalesce(p_account, s.current_account_id);
    PERFORM set_config('app.user_id', s.user_id::text, true), set_config('app.account_id', coalesce(target::text, ''), true);

    IF target IS NOT NULL AND s.revoked_at IS NULL THEN
        IF p_lock THEN
            SELECT mm.account_id, mm.role, mm.custom_role_id, mm.status, mm.display_name, mm.deactivated_until, mm.created_at,
                r.name AS custom_name, r.permissions AS custom_permissions, r.hidden_fields AS custom_hidden_fields,
                a.name AS account_name, a.created_at AS account_created_at, a.ip_allowlist::text[] AS ip_allowlist
            INTO m FROM memberships mm
            JOIN accounts a ON a.id = mm.account_id
            LEFT JOIN roles r ON r.account_id = mm.account_id AND r.id = mm.custom_role_id
            WHERE mm.account_id = target AND mm.user_id = s.user_id
            FOR NO KEY UPDATE OF mm;
        ELSE
            SELECT mm.account_id, mm.role, mm.custom_role_id, mm.status, mm.display_name, mm.deactivated_until, mm.created_at,
                r.name AS custom_name, r.permissions AS custom_permissions, r.hidden_fields AS custom_hidden_fields,
                a.name AS account_name, a.created_at AS account_created_at, a.ip_allowlist::text[] AS ip_allowlist
            INTO m FROM memberships mm
            JOIN accounts a ON a.id = mm.account_id
            LEFT JOIN roles r ON r.account_id = mm.account_id AND r.id = mm.custom_role_id
            WHERE mm.account_id = target AND mm.user_id = s.user_id;
        END IF;
    END IF;

    RETURN QUERY SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, s.device,
        s.current_account_id, s.revoked_at, s.revoked_reason, s.revoked_by_ip, s.revoked_by_device,
        s.email, s.name, s.user_created_at, s.totp_enabled_at,
        m.account_id, m.role, m.custom_role_id, m.status, m.display_name, m.deactivated_until, m.created_at,
        m.custom_name, m.custom_permissions, m.custom_hidden_fields, m.account_name, m.account_created_at, m.ip_allowlist;
END
$$;
-- +goose StatementEnd
