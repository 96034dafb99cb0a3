-- Whether a membership is active at a time: ACTIVE, or DEACTIVATED by an
-- activity limit whose pause has ended (memberRow.status in db/scope.go is
-- the same rule in Go). One definition for the queries that select active
-- members; inlined by the planner.

-- +goose Up
CREATE FUNCTION member_active(status text, deactivated_until timestamptz, at timestamptz) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT status = 'ACTIVE' OR (status = 'DEACTIVATED' AND deactivated_until <= at) $$;
GRANT EXECUTE ON FUNCTION member_active(text, timestamptz, timestamptz) TO switchboard_app;

-- +goose Down
DROP FUNCTION member_active(text, timestamptz, timestamptz);
