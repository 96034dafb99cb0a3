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
-- A search reads, per type, the documents of the accounts the viewer may
-- see there: the GIN index on the words and the index on (account_id,
-- owner_id) together. Documents are partitioned by entity: a search reads
-- the partitions of the types it asks for, each bounded.
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

GRANT EXECUTE ON FUNCTION sb_quote_lexeme(text), sb_email_text(text), sb_domain_text(text),
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
-- The newest documents first: how a word in many documents is searched.
CREATE INDEX search_doc_recent ON search_doc (seq);

CREATE TABLE search_term (
    account_id uuid NOT NULL REFERENCES accounts (id),
    term       text NOT NULL,
    PRIMARY KEY (account_id, term)
);
CREATE INDEX search_term_trgm ON search_term USING gin (term gin_trgm_ops) WITH (fastupdate = off);

-- Row-level security: the runtime role reads the accounts of its verified
-- set (app_account_ids) and writes the one account in scope, as on every
-- tenant table. It is not forced on the table owner here, and that is
-- what the two functions below are for: under row-level security
-- PostgreSQL evaluates a query's own conditions after the policy's unless
-- they are leakproof, and neither the text search match (@@) nor trigram
-- similarity (%) is, so no search under the policy could use its GIN
-- index (it read every document of the viewer's accounts instead). The
-- functions run as the owner, read the index through those indexes, and
-- apply the same scope themselves: only accounts of app_account_ids(), as
-- the policy would.
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
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I USING (account_id = app_account_id() OR account_id = ANY ((SELECT app_account_ids())::uuid[])) WITH CHECK (account_id = app_account_id())', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- The documents of one type a search weighs: matching the query (or, with
-- like, phone digits), of the accounts in full (every record) or own (the
-- viewer's records only), both within app_account_ids(), without the
-- groups hidden names ('<account>:<group>'), numbered at most hwm; the
-- newest first, at most lim. Planned for each call's values (EXECUTE).
-- +goose StatementBegin
CREATE FUNCTION sb_search_docs(p_entity text, p_query tsquery, p_like text, p_full uuid[], p_own uuid[], p_viewer uuid,
        p_hidden text[], p_hwm bigint, p_limit integer)
    RETURNS TABLE (account_id uuid, entity text, record_id uuid, grp text, title text, body text, tsv tsvector, digits text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $fn$
DECLARE
    scope uuid[] := ARRAY(SELECT unnest(coalesce(p_full, '{}') || coalesce(p_own, '{}')) INTERSECT SELECT unnest(app_account_ids()));
BEGIN
    IF p_query IS NULL AND p_like IS NULL OR cardinality(scope) = 0 THEN
        RETURN;
    END IF;
    -- The values are the plan's constants: with a common word, walking the
    -- newest documents is quickest; with a rare one, its index.
    RETURN QUERY EXECUTE format($q$
        SELECT d.account_id, d.entity, d.record_id, d.grp, d.title, d.body, d.tsv, d.digits FROM search_doc d
        WHERE d.entity = %L AND d.seq <= $6 AND (%s)
            AND d.account_id = ANY ($3)
            AND (d.account_id = ANY ($2) OR d.owner_id = $4)
            AND (d.grp = '' OR d.account_id::text || ':' || d.grp <> ALL ($5))
        ORDER BY d.seq DESC LIMIT $7 $q$,
        p_entity, CASE WHEN p_like IS NULL THEN 'd.tsv @@ $1' WHEN p_query IS NULL THEN 'd.digits LIKE $8'
            ELSE 'd.tsv @@ $1 OR d.digits LIKE $8' END)
    USING p_query, coalesce(p_full, '{}'), scope, p_viewer, coalesce(p_hidden, '{}'), p_hwm, p_limit, p_like;
END
$fn$;
-- +goose StatementEnd

-- The terms of the accounts' lexicons (within app_account_ids()) that look
-- like word: by trigrams, or one swap or one missing letter away; the
-- eight closest.
CREATE FUNCTION sb_similar_terms(word text, accounts uuid[]) RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT c.term FROM (
            SELECT DISTINCT t.term FROM search_term t WHERE t.term % word AND similarity(t.term, word) >= 0.45
            UNION SELECT v FROM unnest(sb_variants(word)) v) c
        WHERE c.term <> word AND EXISTS (SELECT 1 FROM search_term t
            WHERE t.account_id = ANY (accounts) AND t.account_id = ANY (app_account_ids()) AND t.term = c.term)
        ORDER BY similarity(c.term, word) DESC, c.term LIMIT 8 $$;

REVOKE EXECUTE ON FUNCTION sb_search_docs(text, tsquery, text, uuid[], uuid[], uuid, text[], bigint, integer), sb_similar_terms(text, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sb_search_docs(text, tsquery, text, uuid[], uuid[], uuid, text[], bigint, integer), sb_similar_terms(text, uuid[]) TO switchboard_app;

-- +goose Down
DROP FUNCTION sb_search_docs(text, tsquery, text, uuid[], uuid[], uuid, text[], bigint, integer), sb_similar_terms(text, uuid[]);
DROP TABLE search_term;
DROP TABLE search_doc;
DROP SEQUENCE search_doc_seq;
DROP FUNCTION sb_quote_lexeme(text), sb_variants(text), sb_json_text(jsonb), sb_phones_digits(jsonb), sb_phones_list(jsonb), sb_phone_digits(text),
    sb_mailboxes_text(jsonb), sb_mailboxes_list(jsonb), sb_mailboxes(jsonb), sb_emails_text(jsonb), sb_emails_list(jsonb),
    sb_domain_text(text), sb_email_text(text);
DROP TEXT SEARCH CONFIGURATION sb_search;
