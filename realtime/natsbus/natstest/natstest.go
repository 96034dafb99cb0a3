// Package natstest gives tests a NATS server with JetStream: the one
// SWITCHBOARD_TEST_NATS_URL names, else the local default (CI starts one),
// and a stream of their own on it. Without a server the test fails: the
// NATS suites never skip.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is the test's NATS server and its stream.
type Server struct {
	URL string
	// Stream and Subject are this test's alone (Subject is the one the
	// gateway derives from SWITCHBOARD_NATS_STREAM); the stream is deleted
	// when the test ends.
	Stream, Subject string
	JS              jetstream.JetStream
}

// New finds the server and names a stream for t.
func New(t testing.TB) Server {
	t.Helper()
	serverURL := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if serverURL == "" {
		serverURL = nats.DefaultURL
	}
	shown := "SWITCHBOARD_TEST_NATS_URL"
	if u, err := url.Parse(serverURL); err == nil {
		shown = u.Redacted()
	}
	nc, err := nats.Connect(serverURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("no NATS server answers at %s (%v): start one with JetStream (nats-server -js), or set SWITCHBOARD_TEST_NATS_URL", shown, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("the NATS server at %s has no JetStream (%v): start it with -js", shown, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	stream := "SWITCHBOARD_TEST_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("delete test stream %s: %v", stream, err)
		}
	})
	return Server{URL: serverURL, Stream: stream, Subject: "switchboard." + stream, JS: js}
}
