package resolvers

import (
	"context"
	"time"

	"switchboard/crm"
	"switchboard/graph/model"
)

func (r *subscriptionResolver) Heartbeat(ctx context.Context, seconds int) (<-chan *model.Heartbeat, error) {
	if seconds < 1 || seconds > 60 {
		return nil, crm.InvalidInput("seconds", "must be from 1 to 60")
	}
	ch := make(chan *model.Heartbeat, 1)
	go func() {
		defer close(ch)
		ticker := time.NewTicker(time.Duration(seconds) * time.Second)
		defer ticker.Stop()
		// The first beat goes out at once, so a client knows the
		// subscription is live without waiting a whole interval.
		for {
			select {
			case ch <- &model.Heartbeat{Time: r.Clock().UTC()}:
			case <-ctx.Done():
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return ch, nil
}
