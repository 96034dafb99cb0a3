package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"switchboard/db"
)

// healthz answers while the process can serve HTTP at all.
func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

// readyz answers 200 only when the database is reachable, every embedded
// migration has been applied and the event bus listens, so a load balancer
// keeps traffic away from a process whose schema is behind or that would
// miss session events.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := g.db.Ping(ctx); err != nil {
		g.log.WarnContext(ctx, "not ready: database unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "database unreachable"})
		return
	}
	pending, err := db.PendingMigrations(ctx, g.db.Pool())
	if err != nil {
		g.log.WarnContext(ctx, "not ready: migration status unknown", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "migration status unknown"})
		return
	}
	select {
	case <-g.resolver.Bus.Ready():
	default:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "event bus not listening yet"})
		return
	}
	if pending > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "migrations pending", "pending": pending})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
