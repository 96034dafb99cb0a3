-- Identity: logins, their one active session, 2-step verification, the
-- login log and brute-force counters; and the accounts a sign-up creates.
-- Secrets are stored as SHA-256 hashes (tokens, recovery codes) or sealed
-- with AES-256-GCM plus the id of the sealing key (TOTP secrets).

-- +goose Up
CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    -- Stored trimmed and lower-cased, so uniqueness is case-insensitive.
    email               text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 800),
    password_hash       text NOT NULL,
    password_changed_at timestamptz NOT NULL,
    totp_secret         bytea,
    totp_key_id         text,
    totp_enabled_at     timestamptz,
    totp_pending        bytea,
    totp_pending_key_id text,
    -- The last accepted TOTP time step: each step is accepted once.
    totp_last_step      bigint,
    created_at          timestamptz NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CHECK ((totp_secret IS NULL) = (totp_enabled_at IS NULL))
);

CREATE TABLE accounts (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 800),
    created_by uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL
);

CREATE TABLE memberships (
    account_id uuid NOT NULL REFERENCES accounts (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    role       text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MANAGER', 'SALES_REP', 'READ_ONLY')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
    id                 uuid PRIMARY KEY,
    user_id            uuid NOT NULL REFERENCES users (id),
    token_hash         bytea NOT NULL CHECK (length(token_hash) = 32),
    created_at         timestamptz NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    ip                 inet,
    user_agent         text NOT NULL DEFAULT '',
    device             text NOT NULL DEFAULT '',
    account_id         uuid REFERENCES accounts (id),
    revoked_at         timestamptz,
    revoked_reason     text CHECK (revoked_reason IN ('NEW_LOGIN', 'LOGOUT', 'EXPIRED', 'PASSWORD_CHANGED', 'PASSWORD_RESET')),
    revoked_by_ip      inet,
    revoked_by_device  text,
    revoked_by_session uuid,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
-- Invariant 1: at most one active session per user, whatever the races.
CREATE UNIQUE INDEX sessions_one_active ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC);

CREATE TABLE login_events (
    id         uuid PRIMARY KEY,
    at         timestamptz NOT NULL,
    user_id    uuid REFERENCES users (id),
    email      text NOT NULL,
    ip         inet,
    user_agent text NOT NULL DEFAULT '',
    device     text NOT NULL DEFAULT '',
    outcome    text NOT NULL CHECK (outcome IN ('SUCCESS', 'WRONG_PASSWORD', 'UNKNOWN_EMAIL', 'SECOND_FACTOR_REQUIRED',
                                                'SECOND_FACTOR_FAILED', 'RATE_LIMITED', 'DEACTIVATED', 'IP_NOT_ALLOWED')),
    session_id uuid,
    account_id uuid REFERENCES accounts (id)
);
CREATE INDEX login_events_user ON login_events (user_id, at DESC, id DESC);
CREATE INDEX login_events_account ON login_events (account_id, at DESC, id DESC) WHERE account_id IS NOT NULL;

-- Consecutive failures per key ("email:…", "ip:…"), shared by every
-- gateway process.
CREATE TABLE login_throttles (
    key             text PRIMARY KEY,
    failures        integer NOT NULL CHECK (failures >= 0),
    last_failure_at timestamptz NOT NULL,
    blocked_until   timestamptz
);

-- The second step of a sign-in with 2-step verification.
CREATE TABLE login_challenges (
    id         uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    spent_at   timestamptz
);
CREATE INDEX login_challenges_user ON login_challenges (user_id);

CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id),
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- The runtime role gets what request work needs and no more: logins are
-- never deleted, and the login log is append-only.
GRANT SELECT, INSERT, UPDATE ON users, accounts, memberships, sessions, password_resets TO switchboard_app;
GRANT SELECT, INSERT ON login_events TO switchboard_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttles, login_challenges, recovery_codes TO switchboard_app;

-- +goose Down
DROP TABLE password_resets, recovery_codes, login_challenges, login_throttles, login_events, sessions, memberships, accounts, users;
