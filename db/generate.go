package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	_ "embed" // generate.sql
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/secrets"
)

// The benchmark dataset: a seeded, deterministic generator of accounts,
// members, custom roles, companies, contacts, deals and mail at scale,
// written in SQL (generate.sql) into an empty, migrated database. A build
// is named after its parameters (GenerateParams.Name), so that it is built
// once and reused; the table generated_dataset, written last, says a build
// is complete.

//go:embed generate.sql
var generateSQL string

// generateVersion is part of every dataset's name: bump it whenever
// generate.sql or the roles below change what a build writes, so that no
// build of an older generator is taken for one of this.
const generateVersion = 1

// The viewer: a login that is a member of GenerateParams.ViewerAccounts
// accounts with mixed roles, for benchmarks that act as one user. Every
// generated login has the same password. generate.sql spells the email out
// too (pg_temp.member_email).
const (
	ScaleViewerEmail    = "viewer@scale.test"
	ScaleViewerPassword = "scale-viewer-password"
)

// GenerateParams are what a dataset is built from. Records are distributed
// over the accounts unevenly (account a's share is proportional to 1/a: a
// few big accounts, many small ones); every account has at least one
// contact.
type GenerateParams struct {
	Seed              int64 `json:"seed"`
	Accounts          int   `json:"accounts"`
	MembersPerAccount int   `json:"membersPerAccount"`
	Contacts          int   `json:"contacts"`
	Companies         int   `json:"companies"`
	Deals             int   `json:"deals"`
	Mail              int   `json:"mail"`
	// ViewerAccounts is how many accounts the viewer is a member of,
	// spread over the accounts from the biggest down.
	ViewerAccounts int `json:"viewerAccounts"`
}

// DefaultGenerateParams is the benchmark scale: 1,000 accounts of 5
// members, 1,000,000 contacts, 200,000 companies, 300,000 deals and
// 2,000,000 mail messages; the viewer is in 50 accounts.
func DefaultGenerateParams() GenerateParams {
	return GenerateParams{
		Seed: 1, Accounts: 1000, MembersPerAccount: 5,
		Contacts: 1_000_000, Companies: 200_000, Deals: 300_000, Mail: 2_000_000,
		ViewerAccounts: 50,
	}
}

// maxGenerateRows bounds every count: row numbers within an account are
// integers in the SQL.
const maxGenerateRows = 100_000_000

// Validate reports parameters the generator cannot build.
func (p GenerateParams) Validate() error {
	for _, c := range []struct {
		name      string
		v, lo, hi int
	}{
		{"accounts", p.Accounts, 1, 1_000_000},
		{"members per account", p.MembersPerAccount, 1, 1000},
		{"contacts", p.Contacts, p.Accounts, maxGenerateRows},
		{"companies", p.Companies, 0, maxGenerateRows},
		{"deals", p.Deals, 0, maxGenerateRows},
		{"mail", p.Mail, 0, maxGenerateRows},
		{"viewer accounts", p.ViewerAccounts, 1, p.Accounts},
	} {
		if c.v < c.lo || c.v > c.hi {
			return fmt.Errorf("generate: %s must be from %d to %d, not %d", c.name, c.lo, c.hi, c.v)
		}
	}
	return nil
}

// Name is the name of the database that p builds: the same parameters
// always give the same name, and any change to them (or to the
// generator's version) another.
func (p GenerateParams) Name() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("switchboard dataset v%d seed=%d accounts=%d members=%d contacts=%d companies=%d deals=%d mail=%d viewer=%d",
		generateVersion, p.Seed, p.Accounts, p.MembersPerAccount, p.Contacts, p.Companies, p.Deals, p.Mail, p.ViewerAccounts)))
	return "sb_scale_" + hex.EncodeToString(sum[:6])
}

// GeneratedDataset is what the marker of a complete build records.
type GeneratedDataset struct {
	Name   string
	Params GenerateParams
	// MigrationVersion is the schema's version when it was built.
	MigrationVersion int64
	Steps            []GenerateStep
	Duration         time.Duration
	CompletedAt      time.Time
}

// GenerateStep is how long one step of a build took.
type GenerateStep struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// generateTables are the tables a build writes.
var generateTables = []string{"users", "accounts", "memberships", "roles", "companies", "contacts", "deals", "deal_contacts", "mail_messages"}

// Generate fills an empty, migrated database with the dataset of p, as
// the tables' owner: the data in one transaction (an interrupted build
// leaves none), then the search index's rebuild, VACUUM (FREEZE, ANALYZE),
// and last the marker that Generated reads. Progress is logged step by
// step. The full default scale takes minutes.
func (d *DB) Generate(ctx context.Context, p GenerateParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if d.admin == nil {
		return errors.New("generate: the database must be opened with Open")
	}
	start := time.Now()
	if err := d.checkEmpty(ctx); err != nil {
		return err
	}
	steps, err := generateSteps(p)
	if err != nil {
		return err
	}
	params, err := scaleParams(ctx)
	if err != nil {
		return err
	}
	var timings []GenerateStep
	timed := func(name string, fn func() error) error {
		t := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("generate: %s: %w", name, err)
		}
		took := time.Since(t)
		timings = append(timings, GenerateStep{Name: name, Seconds: took.Seconds()})
		d.log.Info("generate", "database", p.Name(), "step", name, "took", took.Round(time.Millisecond))
		return nil
	}
	if err := d.generateData(ctx, steps, params, timed); err != nil {
		return err
	}
	if err := timed("search", func() error { return d.RebuildSearch(ctx) }); err != nil {
		return err
	}
	// FREEZE too: the benchmarks then never meet a vacuum that freezes
	// the whole build, and every page is marked all-visible for
	// index-only scans.
	if err := timed("vacuum", func() error {
		_, err := d.admin.ExecContext(ctx, `VACUUM (FREEZE, ANALYZE)`)
		return err
	}); err != nil {
		return err
	}
	return d.markGenerated(ctx, p, timings, time.Since(start))
}

// checkEmpty refuses a database that is not migrated or already holds
// logins or a build.
func (d *DB) checkEmpty(ctx context.Context) error {
	var migrated, marked bool
	if err := d.admin.QueryRowContext(ctx, `SELECT to_regclass('mail_messages') IS NOT NULL, to_regclass('generated_dataset') IS NOT NULL`).
		Scan(&migrated, &marked); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	switch {
	case !migrated:
		return errors.New("generate: the database is not migrated")
	case marked:
		return errors.New("generate: the database holds a generated dataset already")
	}
	var used bool
	// users has no row-level security, and every account has a creator.
	if err := d.admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&used); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if used {
		return errors.New("generate: the database is not empty (it has logins)")
	}
	return nil
}

// generateStep is one timed part of generate.sql.
type generateStep struct{ name, sql string }

// generateSteps is generate.sql with p's numbers in, split at its
// "-- step: name" lines.
func generateSteps(p GenerateParams) ([]generateStep, error) {
	text := strings.NewReplacer(
		"{{seed}}", strconv.FormatInt(p.Seed, 10),
		"{{accounts}}", strconv.Itoa(p.Accounts),
		"{{members}}", strconv.Itoa(p.MembersPerAccount),
		"{{contacts}}", strconv.Itoa(p.Contacts),
		"{{companies}}", strconv.Itoa(p.Companies),
		"{{deals}}", strconv.Itoa(p.Deals),
		"{{mail}}", strconv.Itoa(p.Mail),
		"{{viewer_accounts}}", strconv.Itoa(p.ViewerAccounts),
	).Replace(generateSQL)
	if i := strings.Index(text, "{{"); i >= 0 {
		return nil, fmt.Errorf("generate.sql: unknown placeholder at %q", text[i:min(len(text), i+30)])
	}
	const marker = "\n-- step: "
	parts := strings.Split(text, marker)
	var out []generateStep
	for _, part := range parts[1:] { // parts[0] is the file's header
		name, body, _ := strings.Cut(part, "\n")
		out = append(out, generateStep{name: strings.TrimSpace(name), sql: body})
	}
	if len(out) == 0 {
		return nil, errors.New("generate.sql: no steps")
	}
	return out, nil
}

// scaleParams are the values generate.sql reads from pg_temp.gen_params:
// the logins' password hash, made as the application makes it (argon2id
// with the default parameters), and the custom roles every account gets.
func scaleParams(ctx context.Context) ([]any, error) {
	hash, err := secrets.NewHasher(secrets.DefaultArgon2, 1, 0).Hash(ctx, ScaleViewerPassword)
	if err != nil {
		return nil, fmt.Errorf("generate: hash the password: %w", err)
	}
	args := []any{hash}
	for _, r := range scaleRoles() {
		m, err := crm.NewMatrix(r.Permissions)
		if err != nil {
			return nil, fmt.Errorf("generate: role %s: %w", r.Name, err)
		}
		perms, err := encodePermissions(m)
		if err != nil {
			return nil, err
		}
		hidden, err := crm.CheckHiddenFields(r.HiddenFields)
		if err != nil {
			return nil, fmt.Errorf("generate: role %s: %w", r.Name, err)
		}
		args = append(args, r.Name, string(perms), pq.Array(hidden))
	}
	return args, nil
}

// scaleRoles are the custom roles of every generated account, in the
// order of gen_params' columns: own deals only, all records without
// deal amounts and contacts' addresses, and reading everything.
func scaleRoles() []crm.RoleInput {
	var own, analyst, auditor []crm.Permission
	cells := func(to *[]crm.Permission, s crm.Scope, actions []crm.Action, entities ...crm.Entity) {
		for _, e := range entities {
			for _, a := range actions {
				*to = append(*to, crm.Permission{Entity: e, Action: a, Scope: s})
			}
		}
	}
	view := []crm.Action{crm.View}
	records := []crm.Entity{crm.Contacts, crm.Companies, crm.Deals, crm.Tasks, crm.Notes, crm.Groups, crm.Campaigns, crm.Templates, crm.Mail}
	cells(&own, crm.ScopeAll, []crm.Action{crm.View, crm.Create}, crm.Contacts, crm.Companies)
	cells(&own, crm.ScopeOwn, []crm.Action{crm.Edit}, crm.Contacts, crm.Companies)
	cells(&own, crm.ScopeOwn, crm.Actions, crm.Deals, crm.Tasks, crm.Notes, crm.Mail)
	cells(&own, crm.ScopeAll, view, crm.Groups, crm.Campaigns, crm.Templates, crm.Members)
	cells(&analyst, crm.ScopeAll, view, append(records, crm.Members)...)
	cells(&auditor, crm.ScopeAll, view, append(records, crm.Members, crm.Settings)...)
	return []crm.RoleInput{
		{Name: "Deal desk (own deals)", Permissions: own},
		{Name: "Analyst (no amounts, no emails)", Permissions: analyst, HiddenFields: []string{"deals.amount", "contacts.email"}},
		{Name: "Auditor (read-only)", Permissions: auditor},
	}
}

// generateData writes the data in one transaction on one connection (the
// pg_temp helpers live in its session), with row-level security unforced
// on the tables it writes (unforced).
func (d *DB) generateData(ctx context.Context, steps []generateStep, params []any, timed func(string, func() error) error) error {
	conn, err := d.admin.Conn(ctx)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	defer tx.Rollback()
	return unforced(ctx, tx, generateTables, func() error {
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE gen_params (
		password_hash text,
		own_name text, own_permissions jsonb, own_hidden text[],
		analyst_name text, analyst_permissions jsonb, analyst_hidden text[],
		auditor_name text, auditor_permissions jsonb, auditor_hidden text[]) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO gen_params VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, params...); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		for _, s := range steps {
			if err := timed(s.name, func() error {
				_, err := tx.ExecContext(ctx, s.sql)
				return err
			}); err != nil {
				return err
			}
		}
		return nil
	}, func() error { return timed("commit", tx.Commit) })
}

// unforced runs fn in tx with row-level security unforced on tables,
// forces it again and then runs commit. Row-level security is forced on
// the tenant tables, so even their owner is subject to it (unless a
// superuser or BYPASSRLS), and a policy admits one account per
// transaction: maintenance that spans accounts (the generator, the search
// index's rebuild) takes the force off for its own transaction. DDL is
// transactional, so no other session ever sees a table without it; the
// tables stay locked until the commit.
func unforced(ctx context.Context, tx *sql.Tx, tables []string, fn, commit func() error) error {
	var forced []string
	for _, t := range tables {
		var force bool
		if err := tx.QueryRowContext(ctx, `SELECT relforcerowsecurity FROM pg_class WHERE oid = $1::regclass`, t).Scan(&force); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		if force {
			forced = append(forced, t)
		}
	}
	setForce := func(verb string) error {
		for _, t := range forced {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+pq.QuoteIdentifier(t)+` `+verb+` ROW LEVEL SECURITY`); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
		}
		return nil
	}
	if err := setForce("NO FORCE"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	if err := setForce("FORCE"); err != nil {
		return err
	}
	return commit()
}

// markGenerated writes the marker: the build is complete.
func (d *DB) markGenerated(ctx context.Context, p GenerateParams, steps []GenerateStep, took time.Duration) error {
	paramsJSON, err := json.Marshal(p)
	if err != nil {
		return err
	}
	stepsJSON, err := json.Marshal(steps)
	if err != nil {
		return err
	}
	tx, err := d.admin.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	defer tx.Rollback()
	// Owned by the tables' owner with no grant: the application's role
	// cannot read it.
	if _, err := tx.ExecContext(ctx, `
		CREATE TABLE generated_dataset (
			name              text PRIMARY KEY,
			generator_version integer NOT NULL,
			params            jsonb NOT NULL,
			migration_version bigint NOT NULL,
			steps             jsonb NOT NULL,
			seconds           double precision NOT NULL,
			completed_at      timestamptz NOT NULL
		);
		COMMENT ON TABLE generated_dataset IS 'The benchmark dataset in this database (db/generate.go): written when its build completed'`); err != nil {
		return fmt.Errorf("generate: marker: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO generated_dataset (name, generator_version, params, migration_version, steps, seconds, completed_at)
		SELECT $1, $2, $3, coalesce(max(version_id), 0), $4, $5, now() FROM goose_db_version WHERE is_applied`,
		p.Name(), generateVersion, string(paramsJSON), string(stepsJSON), took.Seconds()); err != nil {
		return fmt.Errorf("generate: marker: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("generate: marker: %w", err)
	}
	d.log.Info("generate", "database", p.Name(), "complete", took.Round(time.Second))
	return nil
}

// Generated returns the dataset whose build completed in this database,
// or nil when there is none (never built, or a build that did not
// finish).
func (d *DB) Generated(ctx context.Context) (*GeneratedDataset, error) {
	if d.admin == nil {
		return nil, nil
	}
	var marked bool
	if err := d.admin.QueryRowContext(ctx, `SELECT to_regclass('generated_dataset') IS NOT NULL`).Scan(&marked); err != nil {
		return nil, fmt.Errorf("generated dataset: %w", err)
	}
	if !marked {
		return nil, nil
	}
	var (
		out           GeneratedDataset
		params, steps []byte
		seconds       float64
	)
	err := d.admin.QueryRowContext(ctx, `SELECT name, params, migration_version, steps, seconds, completed_at FROM generated_dataset`).
		Scan(&out.Name, &params, &out.MigrationVersion, &steps, &seconds, &out.CompletedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("generated dataset: %w", err)
	}
	if err := json.Unmarshal(params, &out.Params); err != nil {
		return nil, fmt.Errorf("generated dataset: %w", err)
	}
	if err := json.Unmarshal(steps, &out.Steps); err != nil {
		return nil, fmt.Errorf("generated dataset: %w", err)
	}
	out.Duration = time.Duration(seconds * float64(time.Second))
	return &out, nil
}
