package db

import (
	"context"
	"errors"
	"sync"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// A unit of work is the database side of one GraphQL operation's reads.
// Every read the operation makes (authentication, the account scope, each
// list) runs in one transaction, begun at the first read and committed when
// the operation ends; the request's session and each account's scope are
// verified once, in that transaction, however many fields ask. Writes do not
// join it: each write is a transaction of its own that verifies the actor
// again under locks (DB.write), and tells the unit what it verified.
//
// A unit serialises its reads (a transaction is one connection), so an
// operation's resolvers that run at once take turns here.

type unitKey struct{}

type unit struct {
	db *DB
	// hint is the account the operation asked for (uuid.Nil: the session's
	// current one), entered with the authentication in one statement; client
	// is who asked.
	hint   uuid.UUID
	client crm.Client
	// inAccount: the operation reads in an account, so its first
	// authentication reads the membership too (crm.Operations).
	inAccount bool

	mu  sync.Mutex
	tx  *Tx
	end func(error) error
	// auths and scopes remember verifications made in this unit (or by a
	// write of this operation), by token and by token and account.
	auths  map[string]authMemo
	scopes map[scopeKey]scopeMemo
	// scope is what the transaction's settings hold now; unverified, that
	// its account is one the actor was refused (or not yet verified) in,
	// which no read may keep.
	scope      Scope
	unverified bool
}

type authMemo struct {
	principal *crm.Principal
	err       error
}

type scopeKey struct {
	token   string
	account uuid.UUID
}

type scopeMemo struct {
	e   *entered
	err error
}

// BeginOperation implements crm.Operations.
func (d *DB) BeginOperation(ctx context.Context, a crm.Actor, inAccount bool) (context.Context, func()) {
	u := &unit{db: d, hint: a.AccountID, client: a.Client, inAccount: inAccount,
		auths: map[string]authMemo{}, scopes: map[scopeKey]scopeMemo{}}
	return context.WithValue(ctx, unitKey{}, u), u.close
}

func (d *DB) unitFrom(ctx context.Context) *unit {
	u, _ := ctx.Value(unitKey{}).(*unit)
	if u == nil || u.db != d {
		return nil
	}
	return u
}

// close ends the unit's transaction. Reads have nothing to keep; it commits
// rather than rolls back only because that is as cheap and ends a touched
// session's new last_seen_at too.
func (u *unit) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.finish(nil)
}

// finish ends the transaction, if one is open, with err's outcome.
func (u *unit) finish(err error) {
	if u.tx == nil {
		return
	}
	if endErr := u.end(err); endErr != nil && err == nil {
		u.db.log.Warn("end read transaction", "err", endErr)
	}
	u.tx, u.end, u.scope, u.unverified = nil, nil, Scope{}, false
}

// begin opens the unit's transaction if it has none. The database work
// keeps going when the client leaves: a read is short, and cancelling it
// would cost the pool its connection.
func (u *unit) begin(ctx context.Context) error {
	if u.tx != nil {
		return nil
	}
	tx, end, err := u.db.begin(ctx)
	if err != nil {
		return err
	}
	u.tx, u.end = tx, end
	return nil
}

// authenticate verifies token in the unit's transaction, once. The
// membership of the operation's account comes in the same statement when
// the operation reads in an account, or when the caller is about to
// (member): its first scoped read then costs no statement of its own.
func (u *unit) authenticate(ctx context.Context, token string, member bool) (*crm.Principal, error) {
	if m, ok := u.auths[token]; ok {
		return m.principal, m.err
	}
	if err := u.begin(ctx); err != nil {
		return nil, err
	}
	member = member || u.inAccount
	in := userOnly
	if member {
		in = memberOf(u.hint)
	}
	p, r, err := u.db.authenticate(ctx, u.tx, token, in, false)
	if u.abort(err) {
		return nil, err
	}
	u.auths[token] = authMemo{principal: p, err: err}
	// A refused session (ended, expired) may have left its scope in the
	// settings too.
	u.unverified = err != nil
	if err == nil {
		u.scope, u.unverified = Scope{UserID: p.User.ID}, false
		if member {
			// The settings name the account whether or not the membership
			// holds; a refusal leaves them for the next read to replace.
			u.scope.AccountID = target(u.hint, p)
			e, enterErr := enterAs(p, r, crm.Actor{Token: token, AccountID: u.hint, Client: u.client}, u.tx.Now)
			u.scopes[scopeKey{token, u.scope.AccountID}] = scopeMemo{e: e, err: enterErr}
			u.unverified = enterErr != nil
		}
		u.commitTouch(r)
	}
	return p, err
}

// commitTouch commits the unit's transaction at once when its app_enter
// touched the session: the touch holds the session's row until the
// transaction ends, and a write of the same operation (a sign-out, a
// password change), in a transaction of its own, would wait for it until
// the operation timed out. The verifications stand for the operation; its
// next read begins a transaction again. That is once a minute a session.
func (u *unit) commitTouch(r *enterRow) {
	if u.tx != nil && r != nil && r.touched(u.tx.Now) {
		u.finish(nil)
	}
}

func target(requested uuid.UUID, p *crm.Principal) uuid.UUID {
	if requested != uuid.Nil {
		return requested
	}
	return p.Session.AccountID
}

// verify returns the actor's verified scope, from what the unit already
// knows or, once, from the unit's transaction. The caller holds u.mu.
func (u *unit) verify(ctx context.Context, a crm.Actor) (*entered, error) {
	p, err := u.authenticate(ctx, a.Token, true)
	if err != nil {
		return nil, err
	}
	key := scopeKey{a.Token, target(a.AccountID, p)}
	if m, ok := u.scopes[key]; ok {
		return m.e, m.err
	}
	if err := u.begin(ctx); err != nil {
		return nil, err
	}
	e, r, err := u.db.enterRow(ctx, u.tx, a, false)
	if u.abort(err) {
		return nil, err
	}
	u.scopes[key] = scopeMemo{e: e, err: err}
	// app_enter set the account's scope before the membership was read:
	// a refusal leaves it in the settings, unverified.
	u.scope, u.unverified = Scope{UserID: p.User.ID, AccountID: key.account}, err != nil
	u.commitTouch(r)
	return e, err
}

// run runs a read in the unit: the actor's scope verified once, fn in the
// unit's transaction with the settings of that scope.
func (u *unit) run(ctx context.Context, a crm.Actor, fn func(ctx context.Context, tx *Tx, e *entered) error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, err := u.verify(ctx, a)
	if err != nil {
		return err
	}
	if err := u.begin(ctx); err != nil {
		return err
	}
	if want := (Scope{UserID: e.userID(), AccountID: e.account.ID}); u.scope != want || u.unverified {
		if err := u.tx.setScope(ctx, want); u.abort(err) {
			return err
		}
		u.scope, u.unverified = want, false
	}
	err = fn(ctx, u.tx, e)
	u.abort(err)
	return err
}

// runAs runs a read of the user's own (in no account) in the unit.
func (u *unit) runAs(ctx context.Context, token string, fn func(ctx context.Context, tx *Tx, p *crm.Principal) error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, err := u.authenticate(ctx, token, false)
	if err != nil {
		return err
	}
	return u.asUser(ctx, p.User.ID, func(ctx context.Context, tx *Tx) error { return fn(ctx, tx, p) })
}

// runUser runs a read of a verified user's own in the unit.
func (u *unit) runUser(ctx context.Context, userID uuid.UUID, fn func(ctx context.Context, tx *Tx) error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.asUser(ctx, userID, fn)
}

// asUser runs fn in the unit's transaction with a scope of userID's.
func (u *unit) asUser(ctx context.Context, userID uuid.UUID, fn func(ctx context.Context, tx *Tx) error) error {
	if err := u.begin(ctx); err != nil {
		return err
	}
	// A read of the user's own may keep an account the user was verified
	// in (their own rows are all it asks for), never one they were refused.
	if u.scope.UserID != userID || u.unverified {
		want := Scope{UserID: userID}
		if err := u.tx.setScope(ctx, want); u.abort(err) {
			return err
		}
		u.scope, u.unverified = want, false
	}
	err := fn(ctx, u.tx)
	u.abort(err)
	return err
}

// remember records what a write of the operation verified, for the
// operation's later reads.
func (u *unit) remember(a crm.Actor, e *entered) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.auths[a.Token]; !ok {
		p := e.principal
		u.auths[a.Token] = authMemo{principal: &p}
	}
	u.scopes[scopeKey{a.Token, e.account.ID}] = scopeMemo{e: e}
}

// abort reports whether err leaves the unit's transaction unusable: an
// error from the database (or anything but a domain error) aborts a
// PostgreSQL transaction, so it is rolled back, and the next read begins
// another, with the verifications made so far, which stay true for the
// operation. A domain error (a refusal) leaves the transaction as it was.
func (u *unit) abort(err error) bool {
	if err == nil {
		return false
	}
	if _, isPG := errors.AsType[*pq.Error](err); isPG || !errors.As(err, new(*crm.Error)) {
		u.finish(err)
		return true
	}
	return false
}
