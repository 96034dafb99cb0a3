package db

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	"switchboard/realtime"
)

// notify publishes an event in tx: listeners receive it if and only if tx
// commits (invariant 5). With an outside bus it is sent after the commit.
func notify(ctx context.Context, tx *Tx, topic, typ string, data any) error {
	e, err := realtime.NewEnvelope(topic, typ, data)
	if err != nil {
		return err
	}
	if tx.db.publishOut != nil {
		tx.pending.after = append(tx.pending.after, e)
		return nil
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, realtime.Channel, string(payload)); err != nil {
		return fmt.Errorf("notify %s: %w", typ, err)
	}
	return nil
}

// nullIP stores an address as inet, or NULL when unknown.
func nullIP(ip netip.Addr) any {
	if !ip.IsValid() {
		return nil
	}
	return ip.String()
}

// parseIP reads an inet column.
func parseIP(s *string) netip.Addr {
	if s == nil {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(*s)
	if err != nil {
		return netip.Addr{}
	}
	return ip
}
