// Package web will serve the console (sign in, switch accounts, search, link
// a mailbox, watch live activity) as embedded static files, with its
// browser tests. Until the console issue lands, / redirects to GraphiQL in
// development.
package web
