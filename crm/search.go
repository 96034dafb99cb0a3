package crm

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// SearchType is a kind of record search finds (RecordType.Search).
type SearchType string

// Search types.
const (
	SearchContact SearchType = "CONTACT"
	SearchCompany SearchType = "COMPANY"
	SearchDeal    SearchType = "DEAL"
	SearchTask    SearchType = "TASK"
	SearchNote    SearchType = "NOTE"
	SearchMail    SearchType = "MAIL"
)

// Search limits.
const (
	MaxSearchAccounts = 100 // accounts one search may name
)

// SearchQuery is one search.
type SearchQuery struct {
	Text string
	// Accounts narrows the search to these (nil: every account with
	// access); one without access is left out, as if it did not exist.
	Accounts []uuid.UUID
	// Types narrows the kinds of records (nil: all).
	Types []SearchType
	Page  PageArgs
}

// Check validates a search: its text (1 to MaxSearchText characters, not
// only spaces), at most MaxSearchAccounts accounts, known types, the page.
// Errors name the argument.
func (q SearchQuery) Check() (SearchQuery, error) {
	var err error
	if q.Page, err = q.Page.Check(); err != nil {
		return q, err
	}
	if err := CheckText("query", q.Text); err != nil {
		return q, err
	}
	q.Text = strings.TrimSpace(q.Text)
	switch n := utf8.RuneCountInString(q.Text); {
	case n == 0:
		return q, InvalidInput("query", "enter something to search for")
	case n > MaxSearchText:
		return q, InvalidInput("query", "has at most %d characters", MaxSearchText)
	}
	if len(q.Accounts) > MaxSearchAccounts {
		return q, InvalidInput("accounts", "name at most %d accounts", MaxSearchAccounts)
	}
	for _, t := range q.Types {
		if RecordTypeOf(t) == nil {
			return q, InvalidInput("types", "unknown type %q", t)
		}
	}
	return q, nil
}

// RecordTypeOf returns the record type search calls t (nil for none).
func RecordTypeOf(t SearchType) *RecordType {
	for _, rt := range RecordTypes {
		if rt.Search == t && t != "" {
			return rt
		}
	}
	return nil
}

// SearchHit is one record found.
type SearchHit struct {
	Account  Account
	Type     SearchType
	RecordID uuid.UUID
	Title    string
	Snippet  string
	Score    float64
}

// TenantID is the hit's account: its record's hidden fields are judged by
// the viewer's role there.
func (h *SearchHit) TenantID() uuid.UUID { return h.Account.ID }

// SearchResult is a page of hits, best first, and what the best matches
// hold per account and type.
type SearchResult struct {
	Nodes    []SearchHit
	PageInfo PageInfo
	Facets   SearchFacets
}

// SearchFacets count hits among the matches a search weighs (of each
// type, the newest it reads).
type SearchFacets struct {
	Accounts []AccountFacet
	Types    []TypeFacet
}

// AccountFacet is how many hits one account holds.
type AccountFacet struct {
	Account Account
	Count   int
}

// TypeFacet is how many hits one type holds.
type TypeFacet struct {
	Type  SearchType
	Count int
}

// SearchService searches every account a viewer may see.
type SearchService interface {
	// Search finds records in the accounts where the actor has active
	// access from their address (or those of q.Accounts among them), as
	// the actor's role in each shows them. Errors: BAD_USER_INPUT.
	Search(ctx context.Context, a Actor, q SearchQuery) (*SearchResult, error)
}
