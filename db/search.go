package db

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// Search over every account a viewer may see (search_index.go writes the
// documents). One search is one transaction of four statements: the
// viewer's accounts and roles, the verified account set for row-level
// security, the search, and the set's reset. The search statement widens
// the query's words by each account's lexicon (typos), takes per type the
// newest matching documents the viewer may read (at most
// searchCandidates), scores them, and returns one page of hits and the
// facets of all candidates.

// searchCandidates bounds the documents one type contributes to a search.
const searchCandidates = 200

// phoneTail is how many of a long number's last digits it is matched by.
const phoneTail = 9

// maxSearchWords bounds the words of a query that count.
const maxSearchWords = 12

// SearchService implements crm.SearchService.
type SearchService struct{ db *DB }

var _ crm.SearchService = (*SearchService)(nil)

// NewSearchService returns the search service.
func NewSearchService(d *DB) *SearchService { return &SearchService{db: d} }

// searchTerms is a query taken apart.
type searchTerms struct {
	words  []string         // words, in order; each becomes one or more lexemes
	prefix bool             // words also match as prefixes
	exact  string           // the whole query as one lexeme when it is an address or a domain
	digits string           // a phone number's digits (sb_phone_digits), when it looks like one
	marks  []*regexp.Regexp // the words, without case, for marking snippets
}

// phoneDigits is a number's digits without leading zeros, as
// sb_phone_digits keeps them.
func phoneDigits(s string) string {
	return strings.TrimLeft(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s), "0")
}

var (
	emailLike  = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
	domainLike = regexp.MustCompile(`^[\p{L}\p{N}-]+(\.[\p{L}\p{N}-]+)+$`)
	phoneLike  = regexp.MustCompile(`^[0-9 +\-()./]+$`)
)

// parseSearch takes a checked query apart.
func parseSearch(text string) searchTerms {
	var st searchTerms
	lower := strings.ToLower(strings.TrimSpace(text))
	if emailLike.MatchString(lower) || domainLike.MatchString(lower) && strings.ContainsFunc(lower, unicode.IsLetter) {
		st.exact = lower
	}
	if phoneLike.MatchString(lower) {
		digits := phoneDigits(lower)
		switch {
		case len(digits) > phoneTail:
			// A country code the stored number may lack: "+1 (555)
			// 123-4567" finds "(555) 123-4567" by its last digits.
			st.digits = digits[len(digits)-phoneTail:]
		case len(digits) >= 5:
			st.digits = digits
		}
	}
	for _, w := range strings.Fields(lower) {
		// What the index's parser reads as parts of words, addresses and
		// numbers; anything else only separates them.
		w = strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune("@._+-'", r) {
				return r
			}
			return ' '
		}, w)
		for _, part := range strings.Fields(w) {
			if len(st.words) < maxSearchWords {
				st.words = append(st.words, part)
			}
		}
	}
	for _, w := range st.words {
		if len(w) >= 2 {
			st.marks = append(st.marks, regexp.MustCompile(`(?i)`+regexp.QuoteMeta(w)))
		}
	}
	// Every word matches as the start of a word too ("jon schm"), except
	// in a whole address or domain.
	st.prefix = len(st.words) > 0 && st.exact == ""
	return st
}

// searchCursor is a position in a search's hits: after the hit with this
// score, entity and id, among documents numbered at most hwm.
type searchCursor struct {
	hwm    int64
	score  string
	entity string
	id     uuid.UUID
}

func (c searchCursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.hwm, 10) + "|" + c.score + "|" + c.entity + "|" + c.id.String()))
}

// scoreText is a score in a search cursor: numeric's text, bounded.
var scoreText = regexp.MustCompile(`^-?[0-9]{1,20}(\.[0-9]{1,30})?$`)

func decodeSearchCursor(s string) (*searchCursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := crm.InvalidInput("after", "is not a cursor from this search")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 {
		return nil, bad
	}
	c := searchCursor{score: parts[1], entity: parts[2]}
	if c.hwm, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
		return nil, bad
	}
	// The score as PostgreSQL wrote it (numeric's text); ParseFloat would
	// take Go's forms too (0x1p-2, 1_0), which numeric refuses.
	if !scoreText.MatchString(c.score) {
		return nil, bad
	}
	if !crm.Entity(c.entity).IsRecord() {
		return nil, bad
	}
	if c.id, err = uuid.Parse(parts[3]); err != nil {
		return nil, bad
	}
	return &c, nil
}

// searchAccess is an account a search reads, with the viewer's role there.
type searchAccess struct {
	account crm.Account
	grant   crm.Grant
}

// searchAccounts returns the accounts where the principal has active
// access from ip, in the order of only (when given, else all).
func searchAccounts(ctx context.Context, tx *Tx, p *crm.Principal, ip netip.Addr, only []uuid.UUID) ([]searchAccess, error) {
	rows, err := userMemberships(ctx, tx, p.User.ID, only)
	if err != nil {
		return nil, fmt.Errorf("search accounts: %w", err)
	}
	out := make([]searchAccess, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		if r.status(tx.Now) != crm.MemberActive {
			continue
		}
		allow, err := parsePrefixes(r.Allowlist)
		if err != nil {
			return nil, err
		}
		if !crm.AllowedFrom(allow, ip) {
			continue
		}
		role, err := r.role()
		if err != nil {
			return nil, err
		}
		out = append(out, searchAccess{
			account: crm.Account{ID: r.AccountID, Name: r.AccountName, CreatedAt: r.AccountCreatedAt.UTC(), IPAllowlist: allow},
			grant:   crm.Grant{UserID: p.User.ID, Role: role},
		})
	}
	return out, nil
}

// Search implements crm.SearchService.
func (s *SearchService) Search(ctx context.Context, a crm.Actor, sq crm.SearchQuery) (*crm.SearchResult, error) {
	sq, err := sq.Check()
	if err != nil {
		return nil, err
	}
	after, err := decodeSearchCursor(sq.Page.After)
	if err != nil {
		return nil, err
	}
	// The searchable types asked for (all when none are named).
	var types []*crm.RecordType
	for _, rt := range crm.RecordTypes {
		if rt.Search != "" && (sq.Types == nil || slices.Contains(sq.Types, rt.Search)) {
			types = append(types, rt)
		}
	}
	terms := parseSearch(sq.Text)
	var only []uuid.UUID
	if sq.Accounts != nil {
		only = dedupeIDs(slices.Clone(sq.Accounts))
	}
	out := &crm.SearchResult{}
	err = s.db.searching(ctx, a, types, terms, only, after, sq.Page.First, func(ctx context.Context, tx *Tx, stmt string, args []any, access []searchAccess) error {
		out.Nodes, out.PageInfo = []crm.SearchHit{}, crm.PageInfo{}
		out.Facets = crm.SearchFacets{Accounts: []crm.AccountFacet{}, Types: []crm.TypeFacet{}}
		if stmt == "" {
			return nil // nothing the viewer may see, or nothing to look for
		}
		var rows []searchRow
		if err := tx.Select(ctx, &rows, stmt, args...); err != nil {
			return fmt.Errorf("search: %w", err)
		}
		fillSearch(out, rows, access, terms, sq.Page.First)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// searching runs fn in the actor's transaction with the search statement
// ("" when there is nothing to run) and the accounts it reads, admitting
// those accounts to row-level security for fn alone.
func (d *DB) searching(ctx context.Context, a crm.Actor, types []*crm.RecordType, terms searchTerms, only []uuid.UUID, after *searchCursor, first int,
	fn func(ctx context.Context, tx *Tx, stmt string, args []any, access []searchAccess) error) error {
	return d.readAs(ctx, a, func(ctx context.Context, tx *Tx, p *crm.Principal) error {
		access, err := searchAccounts(ctx, tx, p, a.Client.IP, only)
		if err != nil {
			return err
		}
		if len(access) == 0 || len(terms.words) == 0 && terms.digits == "" {
			return fn(ctx, tx, "", nil, access)
		}
		stmt, args := searchStatement(p.User.ID, access, types, terms, after, first)
		if stmt == "" {
			return fn(ctx, tx, "", nil, access)
		}
		ids := make([]string, len(access))
		for i, ac := range access {
			ids[i] = ac.account.ID.String()
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('app.account_ids', $1, true)`, strings.Join(ids, ",")); err != nil {
			return fmt.Errorf("search scope: %w", err)
		}
		err = fn(ctx, tx, stmt, args, access)
		// The set admits this statement only: the operation's later reads
		// are scoped as before.
		if _, resetErr := tx.Exec(ctx, `SELECT set_config('app.account_ids', '', true)`); err == nil && resetErr != nil {
			err = fmt.Errorf("search scope: %w", resetErr)
		}
		return err
	})
}

// searchRow is a hit or a facet (kind) of the search statement.
type searchRow struct {
	Kind      string     `db:"kind"`
	AccountID uuid.UUID  `db:"account_id"`
	Entity    string     `db:"entity"`
	RecordID  *uuid.UUID `db:"record_id"`
	Title     *string    `db:"title"`
	Snippet   *string    `db:"snippet"`
	Score     *string    `db:"score"`
	Digits    *string    `db:"digits"`
	Count     int64      `db:"n"`
	HWM       int64      `db:"hwm"`
}

// wordsSQL is the search's CTEs lex and q: q holds the tsquery a search
// runs (each word's lexemes, ANDed; each also as a prefix; each long word
// the accounts do not know widened by the accounts' terms that look alike),
// its terms one by one (for the index's choice, sb_search_docs) and the
// exact one it ranks by, all NULL when the words hold no lexeme.
func wordsSQL(q *query, st searchTerms, lexicon []uuid.UUID) string {
	pWords, pPrefix, pLexicon := q.arg(pq.Array(st.words)), q.arg(st.prefix), q.arg(pq.Array(lexicon))
	return `lex AS (
	SELECT u.i, l.lex FROM unnest(` + pWords + `::text[]) WITH ORDINALITY u(word, i)
	CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('sb_search', u.word))) l(lex)),
q AS (
SELECT string_agg(x.term, ' & ')::tsquery AS query, array_agg(x.term::tsquery) AS terms, string_agg(x.plain, ' & ')::tsquery AS exact FROM (
	SELECT '(' || sb_quote_lexeme(lex.lex)
		|| CASE WHEN ` + pPrefix + ` AND length(lex.lex) >= 2 THEN ':*' ELSE '' END
		-- A word the accounts know, or (as a prefix) the start of one, is
		-- taken as meant: the range is the terms from the word to the word
		-- followed by the last character (search_term.term sorts by
		-- code point), or (whole words) to the word followed by the first.
		-- OFFSET 0: a lookup per word, never a hash of every term of the
		-- accounts.
		|| CASE WHEN length(lex.lex) < 4 OR EXISTS (SELECT 1 FROM search_term t WHERE t.account_id = ANY (` + pLexicon + `)
				AND t.term >= lex.lex AND t.term < lex.lex || CASE WHEN ` + pPrefix + ` THEN chr(1114111) ELSE chr(1) END OFFSET 0)
			THEN ''
			ELSE coalesce((SELECT string_agg(' | ' || sb_quote_lexeme(s.term), '')
				FROM sb_similar_terms(lex.lex, ` + pLexicon + `) s(term)), '') END || ')' AS term,
		sb_quote_lexeme(lex.lex) AS plain
	FROM lex ORDER BY lex.i) x)`
}

// searchStatement builds the search; "" when there is nothing to run (no
// type the viewer may view anywhere, or no word and no number).
func searchStatement(viewer uuid.UUID, access []searchAccess, types []*crm.RecordType, st searchTerms, after *searchCursor, first int) (string, []any) {
	if len(st.words) == 0 && st.digits == "" {
		return "", nil
	}
	q := &query{}
	pViewer := q.arg(viewer)
	lexicon := make([]uuid.UUID, len(access))
	for i, ac := range access {
		lexicon[i] = ac.account.ID
	}
	words := wordsSQL(q, st, lexicon)
	pQuery, pTerms, pExact := "(SELECT query FROM q)", "(SELECT terms FROM q)", "(SELECT exact FROM q)"
	hidden := []string{} // never NULL: x <> ALL (NULL) is not true
	for _, ac := range access {
		for _, f := range ac.grant.Role.HiddenFields {
			hidden = append(hidden, ac.account.ID.String()+":"+f)
		}
	}
	pHidden := q.arg(pq.Array(hidden))
	pText := q.arg(strings.ToLower(strings.Join(strings.Fields(strings.Join(st.words, " ")), " ")))
	var hwm any
	if after != nil {
		hwm = after.hwm
	}
	pHWM := q.arg(hwm)
	var likeArg any // NULL: no number to match
	if st.digits != "" {
		likeArg = "%" + st.digits + "%"
	}
	like := q.arg(likeArg)

	var cands []string
	for _, t := range types {
		full, own := []uuid.UUID{}, []uuid.UUID{}
		for _, ac := range access {
			switch ac.grant.Role.Matrix.Scope(t.Entity, crm.View) {
			case crm.ScopeAll:
				full = append(full, ac.account.ID)
			case crm.ScopeOwn:
				own = append(own, ac.account.ID)
			}
		}
		if len(full)+len(own) == 0 {
			continue
		}
		pFull, pOwn := q.arg(pq.Array(full)), q.arg(pq.Array(own))
		// By the registry's order (contacts first), whatever order types has.
		bonus := fmt.Sprintf("%.1f", float64(len(crm.RecordTypes)-slices.Index(crm.RecordTypes, t))/10)
		cands = append(cands, "SELECT d.*, "+bonus+" AS bonus FROM sb_search_docs("+pq.QuoteLiteral(string(t.Entity))+", "+
			pQuery+"::tsquery, "+pTerms+"::tsquery[], "+like+"::text, "+pFull+"::uuid[], "+pOwn+"::uuid[], "+pViewer+"::uuid, "+pHidden+"::text[], "+
			"(SELECT hwm FROM h), "+strconv.Itoa(searchCandidates)+") d")
	}
	if len(cands) == 0 {
		return "", nil
	}

	exact := "0"
	if st.exact != "" {
		exact = "CASE WHEN d.tsv @@ sb_quote_lexeme(" + q.arg(st.exact) + ")::tsquery THEN 100 ELSE 0 END"
	}
	phone := "0"
	if st.digits != "" {
		phone = "CASE WHEN d.digits LIKE " + like + " THEN 50 ELSE 0 END"
	}
	page := ""
	if after != nil {
		s, e, id := q.arg(after.score), q.arg(after.entity), q.arg(after.id)
		page = " WHERE (score < " + s + "::numeric OR (score = " + s + "::numeric AND (entity, record_id) > (" + e + ", " + id + "::uuid)))"
	}
	limit := q.arg(first + 1)

	stmt := `WITH h AS (SELECT coalesce(` + pHWM + `::bigint, (SELECT last_value FROM search_doc_seq)) AS hwm),
` + words + `,
cand AS (` + strings.Join(cands, "\nUNION ALL\n") + `),
scored AS (
	SELECT d.account_id, d.entity, d.record_id, d.grp, d.title, d.body, d.digits, round((` + exact + ` + ` + phone + `
		+ CASE WHEN lower(unaccent(d.title)) = unaccent(` + pText + `) THEN 20 ELSE 0 END
		+ 10 * coalesce(ts_rank('{0.1, 0.2, 0.4, 1.0}', d.tsv, ` + pExact + `::tsquery), 0)
		+ 3 * coalesce(ts_rank('{0.1, 0.2, 0.4, 1.0}', d.tsv, ` + pQuery + `::tsquery), 0)
		+ 5 * similarity(lower(unaccent(d.title)), unaccent(` + pText + `))
		+ d.bonus)::numeric, 6) AS score
	FROM cand d),
best AS (
	SELECT DISTINCT ON (account_id, entity, record_id) * FROM scored
	ORDER BY account_id, entity, record_id, score DESC, grp),
page AS (
	SELECT * FROM best` + page + ` ORDER BY score DESC, entity, record_id LIMIT ` + limit + `)
SELECT 'hit' AS kind, p.account_id, p.entity, p.record_id, p.title,
	ts_headline('sb_search', p.body, coalesce(` + pQuery + `::tsquery, ''::tsquery),
		'StartSel=«, StopSel=», MaxWords=30, MinWords=12, ShortWord=1, MaxFragments=2, FragmentDelimiter=" … "') AS snippet,
	p.score::text AS score, p.digits, 0::bigint AS n, (SELECT hwm FROM h) AS hwm
FROM page p
UNION ALL
SELECT 'facet', account_id, entity, NULL, NULL, NULL, NULL, NULL, count(*), (SELECT hwm FROM h) FROM best GROUP BY account_id, entity`
	return stmt, q.args
}

// fillSearch turns the statement's rows into a page of hits and facets.
func fillSearch(out *crm.SearchResult, rows []searchRow, access []searchAccess, st searchTerms, first int) {
	accounts := make(map[uuid.UUID]crm.Account, len(access))
	for _, ac := range access {
		accounts[ac.account.ID] = ac.account
	}
	var hits []searchRow
	byAccount := map[uuid.UUID]int{}
	byType := map[crm.SearchType]int{}
	var hwm int64
	for _, r := range rows {
		hwm = r.HWM
		if r.Kind == "hit" {
			hits = append(hits, r)
			continue
		}
		byAccount[r.AccountID] += int(r.Count)
		byType[crm.Entity(r.Entity).Info().Record.Search] += int(r.Count)
	}
	// In the statement's order (which a UNION ALL need not keep).
	slices.SortStableFunc(hits, func(a, b searchRow) int {
		as, _ := strconv.ParseFloat(*a.Score, 64)
		bs, _ := strconv.ParseFloat(*b.Score, 64)
		switch {
		case as != bs:
			return cmp.Compare(bs, as)
		case a.Entity != b.Entity:
			return strings.Compare(a.Entity, b.Entity)
		}
		return strings.Compare(a.RecordID.String(), b.RecordID.String())
	})
	hits, out.PageInfo.HasNextPage = pageOf(hits, first)
	for _, r := range hits {
		rt := crm.Entity(r.Entity).Info().Record
		score, _ := strconv.ParseFloat(*r.Score, 64)
		out.Nodes = append(out.Nodes, crm.SearchHit{
			Account: accounts[r.AccountID], Type: rt.Search, RecordID: *r.RecordID, Title: *r.Title,
			Snippet: highlight(*r.Snippet, r.Digits, st), Score: score,
		})
	}
	if n := len(hits); n > 0 {
		last := hits[n-1]
		out.PageInfo.End = searchCursor{hwm: hwm, score: *last.Score, entity: last.Entity, id: *last.RecordID}.encode()
	}
	for _, ac := range access {
		if n := byAccount[ac.account.ID]; n > 0 {
			out.Facets.Accounts = append(out.Facets.Accounts, crm.AccountFacet{Account: ac.account, Count: n})
		}
	}
	slices.SortStableFunc(out.Facets.Accounts, func(a, b crm.AccountFacet) int { return b.Count - a.Count })
	for _, rt := range crm.RecordTypes {
		if n := byType[rt.Search]; n > 0 && rt.Search != "" {
			out.Facets.Types = append(out.Facets.Types, crm.TypeFacet{Type: rt.Search, Count: n})
		}
	}
}

// highlight marks the match in a snippet the index's headline left
// unmarked: a phone number by its digits, else the query's words inside
// addresses and domains (which the headline treats as whole words).
func highlight(snippet string, digits *string, st searchTerms) string {
	if strings.Contains(snippet, "«") {
		return snippet
	}
	if st.digits != "" && digits != nil {
		parts := strings.Split(snippet, ", ")
		for i, part := range parts {
			if strings.Contains(phoneDigits(part), st.digits) {
				parts[i] = "«" + part + "»"
				return strings.Join(parts, ", ")
			}
		}
	}
	for _, re := range st.marks {
		if loc := re.FindStringIndex(snippet); loc != nil {
			return snippet[:loc[0]] + "«" + snippet[loc[0]:loc[1]] + "»" + snippet[loc[1]:]
		}
	}
	return snippet
}
