// Package realtime carries events from the transaction that caused them to
// the subscriptions that report them, across every gateway process:
// pg_notify inside the writing transaction, one LISTEN connection per
// process, and a bounded queue per subscriber. The bus arrives with the first
// subscription that needs it (session events).
package realtime
