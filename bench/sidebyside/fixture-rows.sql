-- The 100,000 member-like rows both sides of the benchmark are seeded from,
-- as a temporary table, so that PostGraphile's bench.items and Switchboard's
-- users/accounts/memberships hold the same people in the same accounts.
-- Included (\ir) by pg-fixture.sql and sb-seed.sql; deterministic (no
-- random()), so every run and every revision sees the same data.
--
-- 4,000 accounts of 25 rows each. Within an account, row 0 is the owner,
-- then 2 admins, 4 managers, 14 sales reps and 4 read-only members.

CREATE TEMPORARY TABLE fixture_rows ON COMMIT DROP AS
SELECT i,
       i / 25                                             AS account_no,
       md5('account-' || (i / 25))::uuid                  AS account_id,
       md5('user-' || i)::uuid                            AS user_id,
       md5('item-' || i)::uuid                            AS item_id,
       (ARRAY['Ada', 'Ben', 'Chloé', 'Dmitri', 'Eva', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas',
              'Kemal', 'Lena', 'Marta', 'Nils', 'Olga', 'Pavel', 'Quinn', 'Rosa', 'Sami', 'Tove'])[1 + abs(hashint4(i)::bigint) % 20]
       || ' ' ||
       (ARRAY['Andersen', 'Bianchi', 'Castillo', 'Dubois', 'Eriksen', 'Fischer', 'García', 'Hansen',
              'Ivanova', 'Jensen', 'Kowalski', 'López', 'Müller', 'Novak', 'Olsen', 'Petit', 'Quist',
              'Rossi', 'Schmidt', 'Tanaka', 'Urban', 'Vogel', 'Weber', 'Yilmaz', 'Zhang'])[1 + abs(hashint4(i + 7919)::bigint) % 25]
                                                          AS name,
       'member' || i || '@example.com'                    AS email,
       CASE
           WHEN i % 25 = 0  THEN 'OWNER'
           WHEN i % 25 < 3  THEN 'ADMIN'
           WHEN i % 25 < 7  THEN 'MANAGER'
           WHEN i % 25 < 21 THEN 'SALES_REP'
           ELSE 'READ_ONLY'
       END                                                AS role,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '5 minutes'                 AS created_at,
       timestamptz '2025-06-01 00:00:00+00' - (abs(hashint4(i)::bigint) % 5000) * interval '1 hour' AS last_seen_at
FROM generate_series(0, 99999) AS i;
