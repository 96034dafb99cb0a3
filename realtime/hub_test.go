package realtime_test

import (
	"testing"

	"switchboard/realtime"
)

// TestClosedDuringDelivery closes a subscription from a handler, between
// the moment Deliver picks its targets and the moment it sends: the
// closed subscription must be skipped, not sent to.
func TestClosedDuringDelivery(t *testing.T) {
	t.Parallel()
	bus := realtime.NewHub(nil)
	sub := bus.Subscribe("x")
	bus.OnEvent(func(realtime.Envelope) { sub.Close() })
	bus.Deliver(realtime.Envelope{Topic: "x", Type: "test"})
	if _, ok := <-sub.C(); ok {
		t.Fatal("an event reached a closed subscription")
	}
}
