-- The CRM's records: contacts, companies, deals, tasks, notes, groups,
-- templates, campaigns and mail messages (crm/record_types.go declares them;
-- db/records.go serves them all).
--
-- Every record table has the same head: account_id and id (the key, so a
-- table can be distributed by account), owner_id (a member of the account),
-- and who created and last changed it when. Then a column per declared
-- field: the field's name in snake case; a list or a structure is JSON. A
-- field that holds several records of another type is a link table with
-- the columns account_id, record_id and linked_id.
--
-- Sort keys are indexed as db/records.go writes them: a nullable key sorts
-- last as ((key IS NULL), coalesce(key, zero)), text without case.

-- +goose Up

-- A contact's addresses, lower case: what mail participants are matched on.
CREATE FUNCTION app_email_keys(emails jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(DISTINCT lower(e->>'address')), '{}')
          FROM jsonb_array_elements(coalesce(emails, '[]'::jsonb)) e WHERE e->>'address' IS NOT NULL $$;

-- A mail message's participants' addresses, lower case.
CREATE FUNCTION app_mail_keys(from_address jsonb, to_addresses jsonb, cc_addresses jsonb, bcc_addresses jsonb)
    RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(DISTINCT lower(m->>'address')), '{}')
          FROM jsonb_array_elements(jsonb_build_array(from_address) || coalesce(to_addresses, '[]'::jsonb)
              || coalesce(cc_addresses, '[]'::jsonb) || coalesce(bcc_addresses, '[]'::jsonb)) m
          WHERE m->>'address' IS NOT NULL $$;

GRANT EXECUTE ON FUNCTION app_email_keys(jsonb), app_mail_keys(jsonb, jsonb, jsonb, jsonb) TO switchboard_app;

CREATE TABLE companies (
    account_id uuid NOT NULL REFERENCES accounts (id),
    id         uuid NOT NULL,
    owner_id   uuid NOT NULL,
    created_at timestamptz NOT NULL,
    created_by uuid NOT NULL REFERENCES users (id),
    updated_at timestamptz NOT NULL,
    updated_by uuid NOT NULL REFERENCES users (id),
    name       text NOT NULL,
    domain     text,
    phone      text,
    address    jsonb,
    revenue    numeric(17, 2) CHECK (revenue >= 0),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id)
);
CREATE INDEX companies_name ON companies (account_id, lower(name), id);
CREATE INDEX companies_domain ON companies (account_id, domain);

CREATE TABLE contacts (
    account_id uuid NOT NULL REFERENCES accounts (id),
    id         uuid NOT NULL,
    owner_id   uuid NOT NULL,
    created_at timestamptz NOT NULL,
    created_by uuid NOT NULL REFERENCES users (id),
    updated_at timestamptz NOT NULL,
    updated_by uuid NOT NULL REFERENCES users (id),
    first_name text,
    last_name  text,
    emails     jsonb,
    phones     jsonb,
    company_id uuid,
    job_title  text,
    address    jsonb,
    tags       jsonb,
    email_keys text[] GENERATED ALWAYS AS (app_email_keys(emails)) STORED,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id),
    FOREIGN KEY (account_id, company_id) REFERENCES companies (account_id, id) ON DELETE SET NULL (company_id),
    CONSTRAINT contacts_named CHECK (first_name IS NOT NULL OR last_name IS NOT NULL OR emails IS NOT NULL)
);
CREATE INDEX contacts_name ON contacts (account_id, (last_name IS NULL), coalesce(lower(last_name), ''),
    (first_name IS NULL), coalesce(lower(first_name), ''), id);
CREATE INDEX contacts_company ON contacts (account_id, company_id);
CREATE INDEX contacts_email_keys ON contacts USING gin (email_keys);
CREATE INDEX contacts_tags ON contacts USING gin (tags jsonb_path_ops);

CREATE TABLE deals (
    account_id          uuid NOT NULL REFERENCES accounts (id),
    id                  uuid NOT NULL,
    owner_id            uuid NOT NULL,
    created_at          timestamptz NOT NULL,
    created_by          uuid NOT NULL REFERENCES users (id),
    updated_at          timestamptz NOT NULL,
    updated_by          uuid NOT NULL REFERENCES users (id),
    title               text NOT NULL,
    amount              numeric(17, 2) CHECK (amount >= 0),
    currency            text CHECK (currency ~ '^[A-Z]{3}$'),
    probability         integer CHECK (probability BETWEEN 0 AND 100),
    stage               text NOT NULL CHECK (stage IN ('LEAD', 'QUALIFIED', 'PROPOSAL', 'NEGOTIATION', 'WON', 'LOST')),
    expected_close_date date,
    company_id          uuid,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id),
    FOREIGN KEY (account_id, company_id) REFERENCES companies (account_id, id) ON DELETE SET NULL (company_id)
);
CREATE INDEX deals_company ON deals (account_id, company_id);

CREATE TABLE deal_contacts (
    account_id uuid NOT NULL,
    record_id  uuid NOT NULL, -- the deal
    linked_id  uuid NOT NULL, -- the contact
    PRIMARY KEY (account_id, record_id, linked_id),
    FOREIGN KEY (account_id, record_id) REFERENCES deals (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, linked_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE
);
CREATE INDEX deal_contacts_linked ON deal_contacts (account_id, linked_id);

CREATE TABLE tasks (
    account_id   uuid NOT NULL REFERENCES accounts (id),
    id           uuid NOT NULL,
    owner_id     uuid NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   uuid NOT NULL REFERENCES users (id),
    updated_at   timestamptz NOT NULL,
    updated_by   uuid NOT NULL REFERENCES users (id),
    title        text NOT NULL,
    due          timestamptz,
    done         boolean NOT NULL,
    assignee_id  uuid,
    related_type text CHECK (related_type IN ('CONTACTS', 'COMPANIES', 'DEALS')),
    related_id   uuid,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id),
    FOREIGN KEY (account_id, assignee_id) REFERENCES memberships (account_id, user_id),
    CHECK ((related_type IS NULL) = (related_id IS NULL))
);
CREATE INDEX tasks_due ON tasks (account_id, (due IS NULL), coalesce(due, '-infinity'::timestamptz), id);
CREATE INDEX tasks_assignee ON tasks (account_id, assignee_id);
CREATE INDEX tasks_related ON tasks (account_id, related_id);

CREATE TABLE notes (
    account_id   uuid NOT NULL REFERENCES accounts (id),
    id           uuid NOT NULL,
    owner_id     uuid NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   uuid NOT NULL REFERENCES users (id),
    updated_at   timestamptz NOT NULL,
    updated_by   uuid NOT NULL REFERENCES users (id),
    body         text NOT NULL,
    about_type   text NOT NULL,
    about_id     uuid NOT NULL,
    mention_ids  jsonb,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id)
);
CREATE INDEX notes_about ON notes (account_id, about_id);
CREATE INDEX notes_mentions ON notes USING gin (mention_ids jsonb_path_ops);

CREATE TABLE groups (
    account_id  uuid NOT NULL REFERENCES accounts (id),
    id          uuid NOT NULL,
    owner_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  uuid NOT NULL REFERENCES users (id),
    updated_at  timestamptz NOT NULL,
    updated_by  uuid NOT NULL REFERENCES users (id),
    name        text NOT NULL,
    description text,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id)
);
CREATE INDEX groups_name ON groups (account_id, lower(name), id);

CREATE TABLE group_contacts (
    account_id uuid NOT NULL,
    record_id  uuid NOT NULL, -- the group
    linked_id  uuid NOT NULL, -- the contact
    PRIMARY KEY (account_id, record_id, linked_id),
    FOREIGN KEY (account_id, record_id) REFERENCES groups (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, linked_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE
);
CREATE INDEX group_contacts_linked ON group_contacts (account_id, linked_id);

CREATE TABLE templates (
    account_id uuid NOT NULL REFERENCES accounts (id),
    id         uuid NOT NULL,
    owner_id   uuid NOT NULL,
    created_at timestamptz NOT NULL,
    created_by uuid NOT NULL REFERENCES users (id),
    updated_at timestamptz NOT NULL,
    updated_by uuid NOT NULL REFERENCES users (id),
    name       text NOT NULL,
    subject    text,
    body       text,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id)
);
CREATE INDEX templates_name ON templates (account_id, lower(name), id);

CREATE TABLE campaigns (
    account_id   uuid NOT NULL REFERENCES accounts (id),
    id           uuid NOT NULL,
    owner_id     uuid NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   uuid NOT NULL REFERENCES users (id),
    updated_at   timestamptz NOT NULL,
    updated_by   uuid NOT NULL REFERENCES users (id),
    name         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('DRAFT', 'SCHEDULED', 'SENT')),
    template_id  uuid,
    scheduled_at timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id),
    FOREIGN KEY (account_id, template_id) REFERENCES templates (account_id, id) ON DELETE SET NULL (template_id)
);

CREATE TABLE campaign_groups (
    account_id uuid NOT NULL,
    record_id  uuid NOT NULL, -- the campaign
    linked_id  uuid NOT NULL, -- the group
    PRIMARY KEY (account_id, record_id, linked_id),
    FOREIGN KEY (account_id, record_id) REFERENCES campaigns (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, linked_id) REFERENCES groups (account_id, id) ON DELETE CASCADE
);
CREATE INDEX campaign_groups_linked ON campaign_groups (account_id, linked_id);

CREATE TABLE mail_messages (
    account_id    uuid NOT NULL REFERENCES accounts (id),
    id            uuid NOT NULL,
    owner_id      uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    uuid NOT NULL REFERENCES users (id),
    updated_at    timestamptz NOT NULL,
    updated_by    uuid NOT NULL REFERENCES users (id),
    message_id    text,
    thread_id     text,
    from_address  jsonb NOT NULL,
    to_addresses  jsonb,
    cc_addresses  jsonb,
    bcc_addresses jsonb,
    subject       text,
    body_text     text,
    sent_at       timestamptz NOT NULL,
    direction     text NOT NULL CHECK (direction IN ('INBOUND', 'OUTBOUND')),
    snippet       text GENERATED ALWAYS AS (left(btrim(regexp_replace(body_text, '\s+', ' ', 'g')), 200)) STORED,
    address_keys  text[] GENERATED ALWAYS AS (app_mail_keys(from_address, to_addresses, cc_addresses, bcc_addresses)) STORED,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES memberships (account_id, user_id)
);
CREATE INDEX mail_messages_sent ON mail_messages (account_id, sent_at, id);
CREATE INDEX mail_messages_thread ON mail_messages (account_id, thread_id);
CREATE INDEX mail_messages_address_keys ON mail_messages USING gin (address_keys);
-- One copy of a message per member who logged or synced it.
CREATE UNIQUE INDEX mail_messages_message_id ON mail_messages (account_id, owner_id, message_id) WHERE message_id IS NOT NULL;

-- Every record table: lists by owner and by creation and change, and the
-- tenant policy of the other tenant tables (migration 00007).
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['companies', 'contacts', 'deals', 'tasks', 'notes', 'groups', 'templates', 'campaigns', 'mail_messages'] LOOP
        EXECUTE format('CREATE INDEX %I ON %I (account_id, owner_id)', t || '_owner', t);
        EXECUTE format('CREATE INDEX %I ON %I (account_id, created_at, id)', t || '_created', t);
        EXECUTE format('CREATE INDEX %I ON %I (account_id, updated_at, id)', t || '_updated', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['companies', 'contacts', 'deals', 'deal_contacts', 'tasks', 'notes', 'groups', 'group_contacts',
            'templates', 'campaigns', 'campaign_groups', 'mail_messages'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I USING (account_id = app_account_id() OR account_id = ANY ((SELECT app_account_ids())::uuid[])) WITH CHECK (account_id = app_account_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO switchboard_app', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE mail_messages, campaign_groups, campaigns, templates, group_contacts, groups, notes, tasks, deal_contacts, deals, contacts, companies;
DROP FUNCTION app_mail_keys(jsonb, jsonb, jsonb, jsonb);
DROP FUNCTION app_email_keys(jsonb);
