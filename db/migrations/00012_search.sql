-- Search: one index over every account's records (db/search.go).
--
-- A record is indexed as one document per group of its searchable fields
-- (search_doc): the group '' holds what no role can hide (names, titles,
-- words), and each hideable field that search reads has a group of its own
-- named after it ('contacts.email', 'contacts.phone', ...). A viewer whose
-- role in an account hides a field never reads that group's documents
-- there, so a hidden value can neither match nor reach a snippet. The
-- documents are written from crm's registry (crm.RecordType.Fields' Search
-- and Hide) in the transaction of every record write.
--
-- A document's tsvector carries, besides its words, a tag lexeme for its
-- account (sb_tag): a search ANDs its query with the tags of the accounts
-- the viewer may see, so one GIN scan per type finds only those accounts'
-- documents. Documents are partitioned by entity: a search reads the
-- partitions of the types it asks for, each bounded.
--
-- search_term is each account's lexicon of the names and titles it holds:
-- a query's words are widened to the account's terms that look alike
-- (typos). It is kept per account so that no account's words shape a
-- search in another.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- Words without case or accents: "Müller" and "muller" are one word.
-- E-mail addresses and host names stay whole lexemes (the parser's email
-- and host tokens); their pieces are indexed too (sb_email_text).
CREATE TEXT SEARCH CONFIGURATION sb_search (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION sb_search
    ALTER MAPPING FOR word, hword, hword_part, asciiword, asciihword, hword_asciipart WITH unaccent, simple;

-- An account's tag lexeme.
CREATE FUNCTION sb_tag(account uuid) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT 'a' || replace(account::text, '-', '') $$;

-- The tags of accounts, ORed: what a search ANDs its query with.
CREATE FUNCTION sb_tags_query(accounts uuid[]) RETURNS tsquery LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(string_agg(sb_tag(a), ' | ')::tsquery, ''::tsquery) FROM unnest(accounts) a $$;

-- An address, its domain and its pieces: "j.doe@acme.com acme.com j doe acme com".
CREATE FUNCTION sb_email_text(address text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN address IS NULL OR address = '' THEN '' ELSE
        lower(address) || ' ' || split_part(lower(address), '@', 2) || ' ' || regexp_replace(lower(address), '[@._+-]+', ' ', 'g') END $$;

-- A domain and its pieces: "acme.co.uk acme co uk".
CREATE FUNCTION sb_domain_text(domain text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN domain IS NULL OR domain = '' THEN '' ELSE
        lower(domain) || ' ' || regexp_replace(lower(domain), '[._-]+', ' ', 'g') END $$;

-- A contact's addresses (crm.EmailAddresses), for display and for words.
CREATE FUNCTION sb_emails_list(emails jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(string_agg(e->>'address', ', '), '')
          FROM jsonb_array_elements(CASE jsonb_typeof(emails) WHEN 'array' THEN emails ELSE '[]' END) e $$;
CREATE FUNCTION sb_emails_text(emails jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(string_agg(sb_email_text(e->>'address'), ' '), '')
          FROM jsonb_array_elements(CASE jsonb_typeof(emails) WHEN 'array' THEN emails ELSE '[]' END) e $$;

-- Mailboxes (crm.Mailbox, one or a list): "Name <address>" for display;
-- names and addresses for words.
CREATE FUNCTION sb_mailboxes(boxes jsonb) RETURNS SETOF jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT b FROM jsonb_array_elements(CASE jsonb_typeof(boxes) WHEN 'array' THEN boxes
          WHEN 'object' THEN jsonb_build_array(boxes) ELSE '[]' END) b $$;
CREATE FUNCTION sb_mailboxes_list(boxes jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(string_agg(CASE WHEN coalesce(b->>'name', '') = '' THEN b->>'address'
          ELSE (b->>'name') || ' <' || (b->>'address') || '>' END, ', '), '') FROM sb_mailboxes(boxes) b $$;
CREATE FUNCTION sb_mailboxes_text(boxes jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(string_agg(coalesce(b->>'name', '') || ' ' || sb_email_text(b->>'address'), ' '), '')
          FROM sb_mailboxes(boxes) b $$;

-- Phone numbers by their digits, without leading zeros (a trunk prefix
-- or 00): "+49 30 1234567" and "030 1234567" share "301234567".
CREATE FUNCTION sb_phone_digits(phone text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ltrim(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), '0') $$;
CREATE FUNCTION sb_phones_list(phones jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(string_agg(p->>'number', ', '), '')
          FROM jsonb_array_elements(CASE jsonb_typeof(phones) WHEN 'array' THEN phones ELSE '[]' END) p $$;
CREATE FUNCTION sb_phones_digits(phones jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(string_agg(sb_phone_digits(p->>'number'), ' '), '')
          FROM jsonb_array_elements(CASE jsonb_typeof(phones) WHEN 'array' THEN phones ELSE '[]' END) p $$;

-- Every string in a JSON value (an address's parts, tags), space separated.
CREATE FUNCTION sb_json_text(value jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(string_agg(v #>> '{}', ' '), '')
          FROM jsonb_path_query(coalesce(value, 'null'), 'strict $.**') v WHERE jsonb_typeof(v) = 'string' $$;

-- A word's near misses that trigrams miss in short words: every swap of
-- two neighbouring letters ("jhon": "john") and every one letter left out
-- ("jonhn": "john").
CREATE FUNCTION sb_variants(word text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(DISTINCT v), '{}') FROM (
        SELECT substr(word, 1, i - 1) || substr(word, i + 1, 1) || substr(word, i, 1) || substr(word, i + 2) AS v
        FROM generate_series(1, length(word) - 1) i
        UNION ALL
        SELECT substr(word, 1, i - 1) || substr(word, i + 1) FROM generate_series(1, length(word)) i
    ) x WHERE v <> word $$;

-- A lexeme as a tsquery operand: 'o''brien'.
CREATE FUNCTION sb_quote_lexeme(lexeme text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''' $$;

GRANT EXECUTE ON FUNCTION sb_quote_lexeme(text), sb_tag(uuid), sb_tags_query(uuid[]), sb_email_text(text), sb_domain_text(text),
    sb_emails_list(jsonb), sb_emails_text(jsonb), sb_mailboxes(jsonb), sb_mailboxes_list(jsonb), sb_mailboxes_text(jsonb),
    sb_phone_digits(text), sb_phones_list(jsonb), sb_phones_digits(jsonb), sb_json_text(jsonb), sb_variants(text)
    TO switchboard_app;

-- Documents are numbered as they are written: a search's later pages leave
-- out what was written after its first (the cursor carries the number).
CREATE SEQUENCE search_doc_seq;
GRANT USAGE, SELECT ON SEQUENCE search_doc_seq TO switchboard_app;

CREATE TABLE search_doc (
    account_id uuid NOT NULL REFERENCES accounts (id),
    entity     text NOT NULL,
    record_id  uuid NOT NULL,
    grp        text NOT NULL, -- '' or the hideable field that hides this group
    owner_id   uuid NOT NULL, -- the record's owner, for "own" scopes
    seq        bigint NOT NULL DEFAULT nextval('search_doc_seq'),
    title      text NOT NULL, -- the record's title (never hideable)
    body       text NOT NULL, -- the group's text as shown in snippets (at most 2,000 characters)
    tsv        tsvector NOT NULL,
    digits     text,          -- phone numbers' digits (sb_phone_digits), space separated
    PRIMARY KEY (account_id, entity, record_id, grp)
) PARTITION BY LIST (entity);

CREATE TABLE search_doc_contacts PARTITION OF search_doc FOR VALUES IN ('CONTACTS');
CREATE TABLE search_doc_companies PARTITION OF search_doc FOR VALUES IN ('COMPANIES');
CREATE TABLE search_doc_deals PARTITION OF search_doc FOR VALUES IN ('DEALS');
CREATE TABLE search_doc_tasks PARTITION OF search_doc FOR VALUES IN ('TASKS');
CREATE TABLE search_doc_notes PARTITION OF search_doc FOR VALUES IN ('NOTES');
CREATE TABLE search_doc_mail PARTITION OF search_doc FOR VALUES IN ('MAIL');

-- No pending list: a write pays its own index entries, so no write ever
-- pays for flushing everyone else's.
CREATE INDEX search_doc_tsv ON search_doc USING gin (tsv) WITH (fastupdate = off);
CREATE INDEX search_doc_digits ON search_doc USING gin (digits gin_trgm_ops) WITH (fastupdate = off) WHERE digits IS NOT NULL;
CREATE INDEX search_doc_owner ON search_doc (account_id, owner_id);

CREATE TABLE search_term (
    account_id uuid NOT NULL REFERENCES accounts (id),
    term       text NOT NULL,
    PRIMARY KEY (account_id, term)
);
CREATE INDEX search_term_trgm ON search_term USING gin (term gin_trgm_ops) WITH (fastupdate = off);

-- A search reads the accounts of its verified set (app_account_ids); a
-- write reaches the one account in scope.
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['search_doc', 'search_doc_contacts', 'search_doc_companies', 'search_doc_deals', 'search_doc_tasks',
            'search_doc_notes', 'search_doc_mail', 'search_term'] LOOP
        IF t NOT LIKE 'search\_doc\_%' THEN
            -- Partitions are read through their table, whose grant this is.
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO switchboard_app', t);
        END IF;
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I USING (account_id = app_account_id() OR account_id = ANY ((SELECT app_account_ids())::uuid[])) WITH CHECK (account_id = app_account_id())', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE search_term;
DROP TABLE search_doc;
DROP SEQUENCE search_doc_seq;
DROP FUNCTION sb_quote_lexeme(text), sb_variants(text), sb_json_text(jsonb), sb_phones_digits(jsonb), sb_phones_list(jsonb), sb_phone_digits(text),
    sb_mailboxes_text(jsonb), sb_mailboxes_list(jsonb), sb_mailboxes(jsonb), sb_emails_text(jsonb), sb_emails_list(jsonb),
    sb_domain_text(text), sb_email_text(text), sb_tags_query(uuid[]), sb_tag(uuid);
DROP TEXT SEARCH CONFIGURATION sb_search;
