-- Hardening: brute-force counts per kind of key, each with its own
-- threshold (see db/throttle.go), so that a stranger's failures cannot lock
-- a login out of the addresses it normally signs in from.

-- +goose Up
ALTER TABLE login_throttles ADD COLUMN threshold integer NOT NULL DEFAULT 5 CHECK (threshold > 0);
-- Known addresses are looked up by login, address and outcome.
CREATE INDEX login_events_user_success ON login_events (user_id, ip, at DESC) WHERE outcome = 'SUCCESS';

-- +goose Down
DROP INDEX login_events_user_success;
ALTER TABLE login_throttles DROP COLUMN threshold;
