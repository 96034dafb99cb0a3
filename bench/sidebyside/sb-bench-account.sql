-- Gives the benchmark user's account (made by signUp, so its owner is a
-- real login with a real session) the 25 seeded people of account 0 as
-- members: the account then has 26 members, 20 of which the members list
-- returns. Account 0's owner joins as an admin, so the benchmark user is the
-- only owner. Prints the ids of the new members, one a line, for the
-- update benchmark.
\set ON_ERROR_STOP on
INSERT INTO memberships (account_id, user_id, role, created_at)
SELECT :'account_id'::uuid, user_id, CASE role WHEN 'OWNER' THEN 'ADMIN' ELSE role END, now()
FROM memberships
WHERE account_id = md5('account-0')::uuid
RETURNING user_id;
VACUUM ANALYZE memberships;
