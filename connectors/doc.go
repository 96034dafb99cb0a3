// Package connectors will hold the per-user OAuth mail connectors: OAuth
// state, PKCE and encrypted tokens here, with gmail/ and outlook/ beneath and
// the sync jobs that ingest mail into the CRM. Nothing lives here until the
// connectors issue; the package exists so the layout in DESIGN.md is visible.
package connectors
