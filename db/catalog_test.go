package db_test

import (
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/db/dbtest"
)

// tenantTables are the tables with an account_id column, and accounts.
func catalogTenantTables(t *testing.T, conn *sqlx.DB) []string {
	t.Helper()
	var tables []string
	if err := conn.Select(&tables, `
		SELECT c.table_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		WHERE c.table_schema = current_schema() AND c.column_name = 'account_id' AND c.table_name NOT LIKE 'river%'
		ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	return append(tables, "accounts")
}

// TestTenantKeysAreDistributable: every tenant table could be distributed
// by account_id, as Citus requires: its primary key and its unique
// constraints and indexes include account_id, and every foreign key from
// one tenant table to another carries it. (accounts is keyed by id, its
// account id.)
func TestTenantKeysAreDistributable(t *testing.T) {
	t.Parallel()
	conn, err := sqlx.Open("postgres", dbtest.New(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tenants := catalogTenantTables(t, conn)
	if len(tenants) < 20 {
		t.Fatalf("only %d tenant tables: %v", len(tenants), tenants)
	}
	key := func(table string) string {
		if table == "accounts" {
			return "id"
		}
		return "account_id"
	}
	for _, table := range tenants {
		var uniques []struct {
			Name    string         `db:"name"`
			Columns pq.StringArray `db:"columns"`
			Primary bool           `db:"primary"`
		}
		if err := conn.Select(&uniques, `
			SELECT i.relname AS name, x.indisprimary AS primary,
				array(SELECT a.attname FROM unnest(x.indkey) k JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k)::text[] AS columns
			FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
			WHERE x.indrelid = $1::regclass AND x.indisunique`, table); err != nil {
			t.Fatal(err)
		}
		hasPrimary := false
		for _, u := range uniques {
			hasPrimary = hasPrimary || u.Primary
			if !slices.Contains(u.Columns, key(table)) {
				t.Errorf("%s: unique index %s on %v leaves out %s", table, u.Name, u.Columns, key(table))
			}
		}
		if !hasPrimary {
			t.Errorf("%s has no primary key", table)
		}
		var fks []struct {
			Name    string         `db:"name"`
			Target  string         `db:"target"`
			Columns pq.StringArray `db:"columns"`
			Targets pq.StringArray `db:"targets"`
		}
		if err := conn.Select(&fks, `
			SELECT c.conname AS name, c.confrelid::regclass::text AS target,
				array(SELECT a.attname FROM unnest(c.conkey) k JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k)::text[] AS columns,
				array(SELECT a.attname FROM unnest(c.confkey) k JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k)::text[] AS targets
			FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid = $1::regclass`, table); err != nil {
			t.Fatal(err)
		}
		for _, fk := range fks {
			if !slices.Contains(tenants, fk.Target) {
				continue // to a table of no account (users): a reference table
			}
			i := slices.Index(fk.Columns, key(table))
			if i < 0 || fk.Targets[i] != key(fk.Target) {
				t.Errorf("%s: foreign key %s (%v) to %s (%v) does not carry the account", table, fk.Name, fk.Columns, fk.Target, fk.Targets)
			}
		}
	}
}

// TestEveryOwnedTableIsARecordType: the tables whose rows have owners are
// exactly the registry's record types, so that removing a member (which
// transfers by the registry) cannot leave records with a removed owner.
// The search index copies its records' owners: transferRecords moves them
// too (TestRemovalTransfersRecords searches as the heir).
func TestEveryOwnedTableIsARecordType(t *testing.T) {
	t.Parallel()
	conn, err := sqlx.Open("postgres", dbtest.New(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var owned []string
	if err := conn.Select(&owned, `SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'owner_id'
		AND table_name NOT LIKE 'search\_doc%' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, rt := range crm.RecordTypes {
		declared = append(declared, rt.Table)
	}
	slices.Sort(declared)
	if !slices.Equal(owned, declared) {
		t.Fatalf("tables with owners %v, record types %v", owned, declared)
	}
}
