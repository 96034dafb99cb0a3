package resolvers

import (
	"context"
	"sync"
	"time"

	"switchboard/crm"
	"switchboard/graph/model"
)

// Heartbeat ticks every seconds with the server time, the first at once.
// Every subscription of one interval shares one ticker (metronome below),
// so an idle dashboard's heartbeat costs a channel, not a goroutine.
func (r *subscriptionResolver) Heartbeat(ctx context.Context, seconds int) (<-chan *model.Heartbeat, error) {
	if seconds < 1 || seconds > 60 {
		return nil, crm.InvalidInput("seconds", "must be from 1 to 60")
	}
	return r.heartbeats().subscribe(ctx, time.Duration(seconds)*time.Second), nil
}

func (r *Resolver) heartbeats() *metronome {
	r.beatOnce.Do(func() { r.beats = &metronome{clock: r.Clock, beats: map[time.Duration]*beat{}} })
	return r.beats
}

// metronome runs one ticker per interval that has subscribers.
type metronome struct {
	clock func() time.Time
	mu    sync.Mutex
	beats map[time.Duration]*beat
}

type beat struct {
	subs map[chan *model.Heartbeat]struct{}
	stop chan struct{}
}

func (m *metronome) subscribe(ctx context.Context, every time.Duration) <-chan *model.Heartbeat {
	ch := make(chan *model.Heartbeat, 1)
	ch <- &model.Heartbeat{Time: m.clock().UTC()}
	m.mu.Lock()
	b := m.beats[every]
	if b == nil {
		b = &beat{subs: map[chan *model.Heartbeat]struct{}{}, stop: make(chan struct{})}
		m.beats[every] = b
		go m.tick(every, b)
	}
	b.subs[ch] = struct{}{}
	m.mu.Unlock()
	context.AfterFunc(ctx, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(b.subs, ch)
		if len(b.subs) == 0 {
			delete(m.beats, every)
			close(b.stop)
		}
	})
	return ch
}

// tick beats for every subscriber of one interval until the last leaves. A
// subscriber still holding the previous beat skips this one.
func (m *metronome) tick(every time.Duration, b *beat) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		hb := &model.Heartbeat{Time: m.clock().UTC()}
		m.mu.Lock()
		for ch := range b.subs {
			select {
			case ch <- hb:
			default:
			}
		}
		m.mu.Unlock()
	}
}
