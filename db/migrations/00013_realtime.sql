-- Real time: the activity log and the notifications become streams that a
-- subscriber can resume. Each account's activity is one stream and each
-- user's notifications (in every account) another; every row of a stream
-- has a position, 1, 2, 3, ... with no gap, in the order its transactions
-- committed. app_publish assigns them as the last statement of the writing
-- transaction, under the lock of the stream's counter row, which is held
-- until that transaction commits: the next writer of the stream waits for
-- it, so a position is never visible before a smaller one (a reader that
-- saw position n has seen every position below n). NOTIFY only wakes the
-- processes that follow a stream; the rows are the truth.

-- +goose Up
CREATE TABLE activity_streams (
    account_id uuid PRIMARY KEY REFERENCES accounts (id),
    last       bigint NOT NULL
);
ALTER TABLE activity_streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE activity_streams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON activity_streams USING (account_id = app_account_id()) WITH CHECK (account_id = app_account_id());

-- A user's notifications come from many accounts: their stream is the
-- user's, not a tenant's. pruned_through is the highest position deleted
-- by retention: a cursor below it cannot be replayed.
CREATE TABLE notification_streams (
    user_id        uuid PRIMARY KEY REFERENCES users (id),
    last           bigint NOT NULL,
    pruned_through bigint NOT NULL DEFAULT 0
);

-- The record's owner (after the change; before it, for a deletion), so a
-- live feed can leave out others' records for a role that views only its
-- own.
ALTER TABLE activity_log ADD COLUMN pos bigint, ADD COLUMN subject_owner_id uuid;
ALTER TABLE notifications ADD COLUMN pos bigint, ADD COLUMN actor_id uuid REFERENCES users (id), ADD COLUMN subject_type text;

-- Existing rows get positions in the order they were written.
ALTER TABLE activity_log NO FORCE ROW LEVEL SECURITY;
ALTER TABLE notifications NO FORCE ROW LEVEL SECURITY;
ALTER TABLE activity_streams NO FORCE ROW LEVEL SECURITY;
UPDATE activity_log l SET pos = n.pos
FROM (SELECT account_id, id, row_number() OVER (PARTITION BY account_id ORDER BY at, id) AS pos FROM activity_log) n
WHERE l.account_id = n.account_id AND l.id = n.id;
INSERT INTO activity_streams (account_id, last) SELECT account_id, max(pos) FROM activity_log GROUP BY account_id;
UPDATE notifications x SET pos = n.pos
FROM (SELECT account_id, id, row_number() OVER (PARTITION BY recipient_id ORDER BY at, id) AS pos FROM notifications) n
WHERE x.account_id = n.account_id AND x.id = n.id;
INSERT INTO notification_streams (user_id, last) SELECT recipient_id, max(pos) FROM notifications GROUP BY recipient_id;
ALTER TABLE activity_log FORCE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
ALTER TABLE activity_streams FORCE ROW LEVEL SECURITY;

ALTER TABLE activity_log ALTER COLUMN pos SET NOT NULL;
ALTER TABLE notifications ALTER COLUMN pos SET NOT NULL;
CREATE UNIQUE INDEX activity_log_pos ON activity_log (account_id, pos);
-- Positions are unique by construction (the stream counter); the index
-- orders reads, and leaves account_id out because a user's stream spans
-- accounts.
CREATE INDEX notifications_pos ON notifications (recipient_id, pos);
CREATE INDEX notifications_unread ON notifications (recipient_id) WHERE read_at IS NULL;
CREATE INDEX notifications_at ON notifications (at);
DROP INDEX notifications_recipient;

-- A notification is its recipient's: they read it (and mark it read) in
-- every account, even one they have left, and nobody else reads it. It is
-- written by someone acting in its account, or for the user in scope
-- (a sign-in that ended their older session).
DROP POLICY tenant ON notifications;
CREATE POLICY tenant ON notifications
    USING (recipient_id = app_user_id())
    WITH CHECK (account_id = app_account_id() OR recipient_id = app_user_id());
-- Retention reads and deletes old notifications as the tables' owner
-- (row-level security is forced on the owner too); the owner writes none.
CREATE POLICY retention ON notifications TO CURRENT_USER USING (true) WITH CHECK (false);

-- Which kinds of notification also go by email, per user; a kind without a
-- row keeps its default (crm.NotificationKinds).
CREATE TABLE notification_preferences (
    user_id uuid NOT NULL REFERENCES users (id),
    kind    text NOT NULL,
    email   boolean NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- app_publish writes a transaction's activity entries and notifications
-- (JSON arrays of rows) with their positions, and returns each stream's new
-- last position. It is the transaction's last statement. Streams are
-- locked in one order (activity by account, then notifications by user), so
-- two publishers never deadlock. With wake, it also notifies every stream's
-- followers (topic activity:<account> or notifications:<user>).
-- +goose StatementBegin
CREATE FUNCTION app_publish(activity jsonb, notes jsonb, wake boolean)
RETURNS TABLE (stream_topic text, stream_pos bigint) LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    FOR s IN
        INSERT INTO activity_streams AS st (account_id, last)
        SELECT r.account_id, count(*) FROM jsonb_to_recordset(activity) AS r (account_id uuid)
        GROUP BY r.account_id ORDER BY r.account_id
        ON CONFLICT (account_id) DO UPDATE SET last = st.last + excluded.last
        RETURNING st.account_id, st.last
    LOOP
        INSERT INTO activity_log (account_id, id, at, actor_id, actor_role, action, entity_type, entity_id, subject_owner_id, changes, pos)
        SELECT r.account_id, r.id, r.at, r.actor_id, r.actor_role, r.action, r.entity_type, r.entity_id, r.subject_owner_id, r.changes,
            s.last - count(*) OVER () + row_number() OVER (ORDER BY r.ord)
        FROM jsonb_to_recordset(activity) AS r (ord int, account_id uuid, id uuid, at timestamptz, actor_id uuid, actor_role text,
            action text, entity_type text, entity_id uuid, subject_owner_id uuid, changes jsonb)
        WHERE r.account_id = s.account_id;
        stream_topic := 'activity:' || s.account_id;
        stream_pos := s.last;
        IF wake THEN
            PERFORM pg_notify('switchboard_events', json_build_object('topic', stream_topic, 'type', 'stream.advanced', 'data', json_build_object('pos', stream_pos))::text);
        END IF;
        RETURN NEXT;
    END LOOP;
    FOR s IN
        INSERT INTO notification_streams AS st (user_id, last)
        SELECT r.recipient_id, count(*) FROM jsonb_to_recordset(notes) AS r (recipient_id uuid)
        GROUP BY r.recipient_id ORDER BY r.recipient_id
        ON CONFLICT (user_id) DO UPDATE SET last = st.last + excluded.last
        RETURNING st.user_id, st.last
    LOOP
        INSERT INTO notifications (account_id, id, recipient_id, at, kind, message, subject_id, subject_type, actor_id, pos)
        SELECT r.account_id, r.id, r.recipient_id, r.at, r.kind, r.message, r.subject_id, r.subject_type, r.actor_id,
            s.last - count(*) OVER () + row_number() OVER (ORDER BY r.ord)
        FROM jsonb_to_recordset(notes) AS r (ord int, account_id uuid, id uuid, recipient_id uuid, at timestamptz, kind text,
            message text, subject_id uuid, subject_type text, actor_id uuid)
        WHERE r.recipient_id = s.user_id;
        stream_topic := 'notifications:' || s.user_id;
        stream_pos := s.last;
        IF wake THEN
            PERFORM pg_notify('switchboard_events', json_build_object('topic', stream_topic, 'type', 'stream.advanced', 'data', json_build_object('pos', stream_pos))::text);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
-- +goose StatementEnd

GRANT SELECT, INSERT, UPDATE ON activity_streams, notification_streams TO switchboard_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON notification_preferences TO switchboard_app;
GRANT EXECUTE ON FUNCTION app_publish(jsonb, jsonb, boolean) TO switchboard_app;

-- +goose Down
DROP FUNCTION app_publish(jsonb, jsonb, boolean);
DROP TABLE notification_preferences;
DROP POLICY retention ON notifications;
DROP POLICY tenant ON notifications;
CREATE POLICY tenant ON notifications USING (account_id = app_account_id() OR account_id = ANY ((SELECT app_account_ids())::uuid[]))
    WITH CHECK (account_id = app_account_id());
CREATE INDEX notifications_recipient ON notifications (account_id, recipient_id, at DESC, id DESC);
DROP INDEX notifications_at;
DROP INDEX notifications_unread;
DROP INDEX notifications_pos;
DROP INDEX activity_log_pos;
ALTER TABLE notifications DROP COLUMN pos, DROP COLUMN actor_id, DROP COLUMN subject_type;
ALTER TABLE activity_log DROP COLUMN pos, DROP COLUMN subject_owner_id;
DROP TABLE notification_streams, activity_streams;
