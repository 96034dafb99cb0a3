package natsbus

import "github.com/nats-io/nats.go"

// WithDialer makes the bus open its connections through d.
func WithDialer(d nats.CustomDialer) Option { return func(b *Bus) { b.dialer = d } }
