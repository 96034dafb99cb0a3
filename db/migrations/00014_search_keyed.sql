-- Search at scale: the index knows accounts, and each search chooses how
-- to read it.
--
-- A search reads the documents of the viewer's accounts, a small part of
-- all accounts' (at the benchmark's scale, 16%). A GIN index over the
-- words alone answers for every account at once: a prefix common
-- elsewhere built a bitmap of every account's matches, and every match
-- was then read from the heap only to be dropped for its account. So the
-- words are now indexed per account: ktsv holds each lexeme of tsv behind
-- its account's key (sb_account_key, six hex digits of a hash), and a
-- search asks the index for "key || word" in each of its accounts only
-- (sb_keyed_query). Two accounts that share a key only widen what the
-- index returns; the documents are still filtered by account. ktsv keeps
-- no positions or weights: ranking and snippets read tsv, as before.
--
-- sb_search_docs now also takes the query's terms one by one (each word
-- with its typo alternatives), and chooses per call from the planner's
-- estimates over tsv's statistics:
--   * the index looks up the rarest term and those not much more common
--     (a GIN lookup of a prefix costs as much as its matches: it cannot
--     skip), and the whole query checks what it returns;
--   * when even that term is common in the viewer's accounts, the newest
--     documents of each of those accounts are walked instead, merged by
--     number (an index on account and number, which replaces the one on
--     number alone: no walk reads another account's documents).
-- The setting sb.search_strategy ('index' or 'walk') overrides the choice
-- (tests read both ways; an operator may pin one); both return the same
-- documents.

-- +goose Up
CREATE FUNCTION sb_account_key(account uuid) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT left(md5(account::text), 6) $$;

-- tsv's lexemes behind the account's key (without positions). A lexeme
-- near the length limit stays out rather than fail the write.
CREATE FUNCTION sb_keyed(account uuid, v tsvector) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT array_to_tsvector(ARRAY(SELECT sb_account_key(account) || l FROM unnest(tsvector_to_array(v)) l WHERE length(l) < 2000)) $$;

-- A query over tsv as a query over ktsv in any of the accounts: every
-- operand ('word', 'word':*) behind each account's key, ORed.
CREATE FUNCTION sb_keyed_query(q tsquery, accounts uuid[]) RETURNS tsquery LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT string_agg('(' || regexp_replace(q::text, '''((?:[^'']|'''')*)''', '''' || sb_account_key(a) || '\1''', 'g') || ')', ' | ')::tsquery
          FROM unnest(accounts) a $$;

GRANT EXECUTE ON FUNCTION sb_account_key(uuid), sb_keyed(uuid, tsvector), sb_keyed_query(tsquery, uuid[]) TO switchboard_app;

-- The lexicon sorts by code point, so that the terms a word begins are one
-- range of its index (db/search.go, wordsSQL: a word that begins a term the
-- accounts know is not widened as a typo).
ALTER TABLE search_term ALTER COLUMN term TYPE text COLLATE "C";

DROP INDEX search_doc_tsv;
ALTER TABLE search_doc ADD COLUMN ktsv tsvector GENERATED ALWAYS AS (sb_keyed(account_id, tsv)) STORED;
CREATE INDEX search_doc_ktsv ON search_doc USING gin (ktsv) WITH (fastupdate = off);
DROP INDEX search_doc_recent;
CREATE INDEX search_doc_account_recent ON search_doc (account_id, seq);

DROP FUNCTION sb_search_docs(text, tsquery, text, uuid[], uuid[], uuid, text[], bigint, integer);

-- The documents of one type a search weighs: matching the query (every
-- one of its terms) or, with like, phone digits; of the accounts in full
-- (every record) or own (the viewer's records only), both within
-- app_account_ids(); without the groups hidden names
-- ('<account>:<group>'); numbered at most hwm; the newest first, at most
-- lim. Planned for each call's values (EXECUTE); without JIT or parallel
-- workers, which cost a search more than they save it when several run
-- at once.
-- +goose StatementBegin
CREATE FUNCTION sb_search_docs(p_entity text, p_query tsquery, p_terms tsquery[], p_like text, p_full uuid[], p_own uuid[], p_viewer uuid,
        p_hidden text[], p_hwm bigint, p_limit integer)
    RETURNS TABLE (account_id uuid, entity text, record_id uuid, grp text, title text, body text, tsv tsvector, digits text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET jit = off SET max_parallel_workers_per_gather = 0
AS $fn$
DECLARE
    scope uuid[] := ARRAY(SELECT unnest(coalesce(p_full, '{}') || coalesce(p_own, '{}')) INTERSECT SELECT unnest(app_account_ids()));
    visible text := 'd.account_id = ANY ($3) AND (d.account_id = ANY ($2) OR d.owner_id = $4)
            AND (d.grp = '''' OR d.account_id::text || '':'' || d.grp <> ALL ($5))';
    docs float8;      -- the type's documents
    share float8;     -- the part of them in the accounts searched
    fewest float8;    -- the rarest term's matches in the accounts searched
    every float8;     -- the whole query's, as the planner would guess them
    terms tsquery[] := coalesce(p_terms, ARRAY[p_query]);
    counts float8[] := '{}'; -- each term's matches in the accounts searched
    indexed tsquery;  -- the terms the index looks up
    strategy text := coalesce(current_setting('sb.search_strategy', true), '');
BEGIN
    IF p_query IS NULL AND p_like IS NULL OR cardinality(scope) = 0 THEN
        RETURN;
    END IF;
    IF p_query IS NOT NULL THEN
        docs := greatest(sb_estimate(format('d.entity = %L', p_entity)), 1);
        share := least(sb_estimate(format('d.entity = %L AND d.account_id = ANY (%L::uuid[])', p_entity, scope)) / docs, 1);
        every := docs * share;
        FOR i IN 1 .. cardinality(terms) LOOP
            counts[i] := sb_estimate(format('d.entity = %L AND d.tsv @@ %L::tsquery', p_entity, terms[i])) * share;
            every := every * least(counts[i] / (docs * share), 1);
            fewest := least(fewest, counts[i]);
        END LOOP;
        -- Walking reads about limit * docs * share / every documents of the
        -- accounts, cheaply each; the index reads fewest matches, dearly
        -- each. The walk's cost is the one an estimate too high would make
        -- unbounded (a rare word walks every document), so it must win by
        -- a margin.
        IF p_like IS NULL AND (strategy = 'walk' OR strategy <> 'index' AND greatest(every, 1) * fewest > 4 * p_limit * docs * share) THEN
            -- Each account's newest first (its own LIMIT makes each branch
            -- walk the index on account and number), merged by number.
            RETURN QUERY EXECUTE format($q$
                SELECT w.account_id, w.entity, w.record_id, w.grp, w.title, w.body, w.tsv, w.digits FROM (%s) w
                ORDER BY w.seq DESC LIMIT $7 $q$,
                (SELECT string_agg(format($b$(SELECT d.account_id, d.entity, d.record_id, d.grp, d.title, d.body, d.tsv, d.digits, d.seq
                    FROM search_doc d WHERE d.entity = %L AND d.account_id = %L AND d.seq <= $6 %s
                        AND (d.grp = '' OR d.account_id::text || ':' || d.grp <> ALL ($5)) AND d.tsv @@ $1
                    ORDER BY d.seq DESC LIMIT $7)$b$, p_entity, a, CASE WHEN a = ANY (p_full) THEN '' ELSE 'AND d.owner_id = $4' END),
                    ' UNION ALL ') FROM unnest(scope) a))
            USING p_query, coalesce(p_full, '{}'), scope, p_viewer, coalesce(p_hidden, '{}'), p_hwm, p_limit;
            RETURN;
        END IF;
        -- The index looks up the rarest term and every other that is not
        -- much more common: a term's matches cost the index about a
        -- thirteenth of what checking a document in the table costs
        -- (measured at scale: 0.6 against 8 microseconds, eight searches
        -- at once), so a term up to 13 times as common as the rarest
        -- saves more checks than it costs.
        FOR i IN 1 .. cardinality(terms) LOOP
            IF counts[i] <= 13 * fewest THEN
                indexed := coalesce(indexed && terms[i], terms[i]);
            END IF;
        END LOOP;
    END IF;
    -- The index: those terms in the accounts searched (or the phone
    -- digits), then the whole query. Only that index: seq + 0 keeps the
    -- walk's out, and IS TRUE the accounts' (whose bitmap of every
    -- document of the accounts costs more than the term's own).
    RETURN QUERY EXECUTE format($q$
        SELECT d.account_id, d.entity, d.record_id, d.grp, d.title, d.body, d.tsv, d.digits FROM search_doc d
        WHERE d.entity = %L AND (%s) AND (%s) AND d.seq + 0 <= $6 AND (%s) IS TRUE
        ORDER BY d.seq + 0 DESC LIMIT $7 $q$,
        p_entity,
        CASE WHEN p_like IS NULL THEN 'd.ktsv @@ $9' WHEN p_query IS NULL THEN 'd.digits LIKE $8' ELSE 'd.ktsv @@ $9 OR d.digits LIKE $8' END,
        CASE WHEN p_query IS NULL OR cardinality(terms) < 2 THEN 'true' WHEN p_like IS NULL THEN '(d.tsv @@ $1) IS TRUE'
            ELSE '(d.tsv @@ $1 OR d.digits LIKE $8) IS TRUE' END,
        visible)
    USING p_query, coalesce(p_full, '{}'), scope, p_viewer, coalesce(p_hidden, '{}'), p_hwm, p_limit, p_like,
        sb_keyed_query(indexed, scope);
END
$fn$;
-- +goose StatementEnd

-- The planner's estimate of the search documents matching a condition
-- over alias d: how many rows EXPLAIN expects, at least 1 (VOLATILE: PostgreSQL runs
-- EXPLAIN in no other kind of function).
-- +goose StatementBegin
CREATE FUNCTION sb_estimate(cond text) RETURNS float8 LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp
AS $fn$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM search_doc d WHERE ' || cond INTO plan;
    RETURN greatest((plan->0->'Plan'->>'Plan Rows')::float8, 1); -- never 0: a divisor
END
$fn$;
-- +goose StatementEnd

REVOKE EXECUTE ON FUNCTION sb_estimate(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION sb_search_docs(text, tsquery, tsquery[], text, uuid[], uuid[], uuid, text[], bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sb_search_docs(text, tsquery, tsquery[], text, uuid[], uuid[], uuid, text[], bigint, integer) TO switchboard_app;

-- +goose Down
ALTER TABLE search_term ALTER COLUMN term TYPE text COLLATE "default";
DROP FUNCTION sb_search_docs(text, tsquery, tsquery[], text, uuid[], uuid[], uuid, text[], bigint, integer);
DROP FUNCTION sb_estimate(text);
DROP INDEX search_doc_account_recent;
CREATE INDEX search_doc_recent ON search_doc (seq);
DROP INDEX search_doc_ktsv;
ALTER TABLE search_doc DROP COLUMN ktsv;
CREATE INDEX search_doc_tsv ON search_doc USING gin (tsv) WITH (fastupdate = off);
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
REVOKE EXECUTE ON FUNCTION sb_search_docs(text, tsquery, text, uuid[], uuid[], uuid, text[], bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sb_search_docs(text, tsquery, text, uuid[], uuid[], uuid, text[], bigint, integer) TO switchboard_app;
DROP FUNCTION sb_keyed_query(tsquery, uuid[]), sb_keyed(uuid, tsvector), sb_account_key(uuid);
