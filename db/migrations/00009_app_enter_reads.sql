-- app_enter (migration 00006) without a second look-up of the session on
-- every read: a read finds the session, then touches it only when its
-- last-seen time is over a minute old, instead of trying the touch first
-- on every request. A write keeps the touch first, for its lock order.
-- What the function returns is unchanged.

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
    -- Using a session keeps it from idling out; once a minute is enough.
    -- This comes first so that, under p_lock, the share lock below is
    -- taken by a transaction that already holds the row, never upgraded
    -- (two transactions upgrading at once would deadlock).
    UPDATE sessions x SET last_seen_at = p_now
    WHERE x.token_hash = p_token_hash AND x.revoked_at IS NULL AND x.expires_at > p_now
        AND x.last_seen_at > p_now - p_idle AND x.last_seen_at < p_now - interval '1 minute';

    -- A write locks the session (and below, the membership) until it
    -- commits: a sign-out or deactivation committed meanwhile waits for it,
    -- and one committed first is seen, so no write lands after either. The
    -- session is share-locked (a user's writes in several accounts go on
    -- at once); the membership is locked for update from the start, since
    -- the write may change it (an activity limit pauses it), and taking a
    -- share lock first and upgrading it would deadlock two writes of one
    -- member.
    IF p_lock THEN
        SELECT x.id, x.user_id, x.created_at, x.last_seen_at, x.expires_at, host(x.ip) AS ip, x.user_agent, x.device,
            x.current_account_id, x.revoked_at, x.revoked_reason, host(x.revoked_by_ip) AS revoked_by_ip, x.revoked_by_device,
            u.email, u.name, u.created_at AS user_created_at, u.totp_enabled_at
        INTO s FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.token_hash = p_token_hash FOR SHARE OF x;
    ELSE
        SELECT x.id, x.user_id, x.created_at, x.last_seen_at, x.expires_at, host(x.ip) AS ip, x.user_agent, x.device,
            x.current_account_id, x.revoked_at, x.revoked_reason, host(x.revoked_by_ip) AS revoked_by_ip, x.revoked_by_device,
            u.email, u.name, u.created_at AS user_created_at, u.totp_enabled_at
        INTO s FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.token_hash = p_token_hash;
    END IF;
    IF NOT FOUND THEN
        RETURN;
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
