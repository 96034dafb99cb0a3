package gatewaytest

import (
	"bytes"
	"log/slog"
	"sync"
)

// Logs collects a gateway's log lines for a test to search, as text at
// debug level and above.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Logger writes to l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
