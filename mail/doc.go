// Package mail delivers crm.Email messages.
//
// Two crm.Mailer implementations share one renderer (Render), so what a
// developer inspects in a .eml file is byte for byte what production hands to
// the SMTP server:
//
//   - SMTP (NewSMTP) speaks to a relay configured by SMTP_URL.
//   - Dir (NewDir) writes .eml files for development, where no relay exists.
//
// Only the standard library is used: the message format is simple (one
// text/plain part) and net/smtp covers the protocol we need.
package mail
