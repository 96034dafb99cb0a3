-- Outgoing mail is a River job inserted in the transaction that causes it
-- (an eviction, a reset request), so request work may add jobs. River's own
-- tables come from River's migrations, which db.Migrate applies first.

-- +goose Up
GRANT SELECT, INSERT, UPDATE ON river_job TO switchboard_app;
GRANT USAGE ON SEQUENCE river_job_id_seq TO switchboard_app;

-- +goose Down
REVOKE ALL ON river_job FROM switchboard_app;
REVOKE ALL ON SEQUENCE river_job_id_seq FROM switchboard_app;
