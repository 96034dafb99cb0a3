package resolvers_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/db/dbtest"
	"switchboard/gateway/gatewaytest"
)

// percentile returns the p-th percentile (0-100) of sorted durations, in
// milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(float64(len(sorted)-1)*p/100+0.5), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// BenchmarkEvictionLatency measures, over b.N evictions, the time from the
// moment a client has the answer to a sign-in made through one gateway
// process to the moment the previous session's client, subscribed on
// another process, reads its SessionEvicted frame. Both gateways are
// separate OS processes on one database. Negative samples mean the frame
// arrived first; they count as they are.
//
//	make bench BENCH=EvictionLatency BENCHTIME=1000x BENCHCOUNT=5
func BenchmarkEvictionLatency(b *testing.B) {
	database := dbtest.New(b)
	quiet := map[string]string{"SWITCHBOARD_LOG_LEVEL": "warn"}
	first := gatewaytest.StartProcess(b, database, quiet)
	second := gatewaytest.StartProcess(b, database, quiet)
	email := newEmail(b)
	token := *signUp(b, first, email).Token
	samples := make([]time.Duration, 0, b.N)

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ws := subscribeSessionEvents(b, first, gatewaytest.GraphQLTransportWS, token)
		b.StartTimer()
		var next struct{ Login authPayload }
		second.Post(b, loginRequest(email, password, nil, nil)).Decode(b, &next)
		answered := time.Now()
		frame := ws.Expect("next")
		samples = append(samples, frame.Received.Sub(answered))
		b.StopTimer()
		token = *next.Login.Token
		ws.Close()
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(percentile(samples, 50), "p50-ms")
	b.ReportMetric(percentile(samples, 99), "p99-ms")
	b.ReportMetric(percentile(samples, 100), "max-ms")
}

// BenchmarkMeDuringLoginStorm fires 200 concurrent sign-ins (real argon2id
// cost) per iteration and, meanwhile, asks `me` every 5 ms as another,
// signed-in user. It reports the `me` latency percentiles during the storm,
// the same percentiles when idle, and how the storm ended: sign-ins that
// succeeded and those shed with RATE_LIMITED once the hashing queue was
// full.
//
//	make bench BENCH=MeDuringLoginStorm BENCHTIME=1x BENCHCOUNT=5
func BenchmarkMeDuringLoginStorm(b *testing.B) {
	srv := gatewaytest.Start(b, gatewaytest.Options{Logger: slog.New(slog.DiscardHandler)})
	stormEmail, probeEmail := newEmail(b), newEmail(b)
	signUp(b, srv, stormEmail)
	probe := *signUp(b, srv, probeEmail).Token
	ask := func() time.Duration {
		start := time.Now()
		r := srv.Post(b, gatewaytest.Request{Query: `{ me { id } }`, Header: bearer(probe)})
		if len(r.Errors) > 0 {
			b.Fatalf("me: %+v", r.Errors)
		}
		return time.Since(start)
	}
	var idle []time.Duration
	for range 200 {
		idle = append(idle, ask())
	}
	slices.Sort(idle)

	var during []time.Duration
	var succeeded, shed int
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 200 {
			wg.Go(func() {
				r := srv.Post(b, loginRequest(stormEmail, password, nil, http.Header{}))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case len(r.Errors) == 0:
					succeeded++
				case r.Errors[0].Code() == "RATE_LIMITED":
					shed++
				default:
					b.Errorf("sign-in: %+v", r.Errors)
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
	probing:
		for {
			select {
			case <-done:
				break probing
			case <-time.After(5 * time.Millisecond):
				during = append(during, ask())
			}
		}
	}
	b.StopTimer()
	slices.Sort(during)
	b.ReportMetric(percentile(during, 50), "me-p50-ms")
	b.ReportMetric(percentile(during, 99), "me-p99-ms")
	b.ReportMetric(percentile(idle, 99), "idle-me-p99-ms")
	b.ReportMetric(float64(succeeded)/float64(b.N), "logins-ok/storm")
	b.ReportMetric(float64(shed)/float64(b.N), "logins-shed/storm")
}

// BenchmarkFailedSignInTiming compares how long a wrong password and an
// unknown email take to refuse, with real argon2id cost: an attacker must
// not tell them apart by timing. Each known login gets at most four wrong
// guesses, so the brute-force backoff never answers early.
//
//	make bench BENCH=FailedSignInTiming BENCHTIME=100x BENCHCOUNT=5
//
// ipSeq hands out client addresses no other attempt used.
var ipSeq atomic.Int64

func BenchmarkFailedSignInTiming(b *testing.B) {
	srv := gatewaytest.Start(b, gatewaytest.Options{Logger: slog.New(slog.DiscardHandler), Env: proxied})
	for _, tc := range []struct {
		name  string
		known bool
	}{{"wrong-password", true}, {"unknown-email", false}} {
		b.Run(tc.name, func(b *testing.B) {
			var users []string
			if tc.known {
				for range (b.N + 3) / 4 {
					users = append(users, newEmail(b))
					signUp(b, srv, users[len(users)-1])
				}
			}
			samples := make([]time.Duration, 0, b.N)
			for i := range b.N {
				email := newEmail(b)
				if tc.known {
					email = users[i/4]
				}
				// A fresh address each time: the per-address count must
				// not answer early either.
				n := ipSeq.Add(1)
				ip := fmt.Sprintf("10.%d.%d.%d", n/65536%256, n/256%256, n%256)
				start := time.Now()
				r := srv.Post(b, loginRequest(email, "not the password at all", nil, from(nil, ip)))
				samples = append(samples, time.Since(start))
				if len(r.Errors) != 1 || r.Errors[0].Code() != "UNAUTHENTICATED" {
					b.Fatalf("attempt %d: %+v", i, r.Errors)
				}
			}
			slices.Sort(samples)
			b.ReportMetric(percentile(samples, 50), "p50-ms")
			b.ReportMetric(percentile(samples, 99), "p99-ms")
		})
	}
}
