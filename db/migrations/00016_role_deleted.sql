-- A deleted custom role is kept for the history that names it: members
-- removed while they held it, invitations accepted, revoked or expired
-- with it. Until now such a role could never be deleted (their foreign
-- keys held it), and deleting one that nobody ever held left nothing to
-- show. A deleted role is not listed, given, edited or counted against
-- the account's custom roles, and its name is free for a new one.
--
-- During a rolling deploy a process of the previous release still lists
-- a deleted role and can give it (its look-up does not know the column);
-- a member given one that way keeps its permissions until given another.

-- +goose Up
ALTER TABLE roles ADD COLUMN deleted_at timestamptz;
DROP INDEX roles_name;
CREATE UNIQUE INDEX roles_name ON roles (account_id, lower(name)) WHERE deleted_at IS NULL;

-- +goose Down
-- Deleted roles that history names stay, renamed so that names are unique
-- again; the others go.
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
DELETE FROM roles r WHERE r.deleted_at IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.account_id = r.account_id AND m.custom_role_id = r.id)
    AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.account_id = r.account_id AND i.custom_role_id = r.id);
UPDATE roles SET name = left(name, 700) || ' (deleted ' || id || ')' WHERE deleted_at IS NOT NULL;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
DROP INDEX roles_name;
CREATE UNIQUE INDEX roles_name ON roles (account_id, lower(name));
ALTER TABLE roles DROP COLUMN deleted_at;
