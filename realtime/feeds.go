package realtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Persisted streams. An account's activity and a user's notifications are
// rows with positions 1, 2, 3, ... in commit order (see the db package);
// their bus events only say that a stream advanced. Feeds follows the
// streams this process's subscribers watch: one follower per stream reads
// each new row once, however many subscribers it has, and hands it to each
// of them, so ten thousand dashboards of one account cost one read per
// change. A subscriber that resumes from a cursor first replays the rows
// after it, then joins the follower; positions make the switch exact (no
// row twice, none missed), whichever process it connects to.

// Item is a row of a persisted stream.
type Item interface{ Position() int64 }

// Source reads one kind of stream.
type Source[T Item] interface {
	// Head is the stream's last position, and the highest position no
	// longer kept (a cursor below it cannot be replayed).
	Head(ctx context.Context, id uuid.UUID) (last, floor int64, err error)
	// Since reads up to limit rows after position after, in order.
	Since(ctx context.Context, id uuid.UUID, after int64, limit int) ([]T, error)
}

// Errors of Follow.
var (
	// ErrCursorAhead: the cursor names a position the stream never had.
	ErrCursorAhead = errors.New("realtime: cursor beyond the stream")
	// ErrCursorExpired: the rows after the cursor are no longer all kept,
	// or there are more than MaxReplay of them.
	ErrCursorExpired = errors.New("realtime: cursor too old to replay")
)

const (
	// MaxReplay bounds how far behind a resumed subscriber may be.
	MaxReplay = 10_000
	// readBatch is how many rows one read takes.
	readBatch = 500
	// pollEvery bounds how late a follower notices rows whose wake-up was
	// lost (a bus reconnecting, a process that died between commit and
	// publish on an outside bus).
	pollEvery = 5 * time.Second
	// retryAfter spaces the reads of a follower whose read failed.
	retryAfter = time.Second
)

// Feeds follows the streams of one kind.
type Feeds[T Item] struct {
	src   Source[T]
	bus   Bus
	topic func(id string) string
	log   *slog.Logger
	// before, if set, sees every batch a follower read before its
	// subscribers do, on the follower's goroutine.
	before func(ctx context.Context, id uuid.UUID, items []T, subs []*Follow[T])

	mu        sync.Mutex
	followers map[uuid.UUID]*follower[T]
}

// NewFeeds returns the feeds of the streams src reads, woken by the bus
// events of topic(id). before, if not nil, sees each batch first (to
// refresh what subscribers may see).
func NewFeeds[T Item](src Source[T], bus Bus, topic func(id string) string, before func(ctx context.Context, id uuid.UUID, items []T, subs []*Follow[T]), logger *slog.Logger) *Feeds[T] {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Feeds[T]{src: src, bus: bus, topic: topic, before: before, log: logger, followers: map[uuid.UUID]*follower[T]{}}
	bus.OnConnect(func(context.Context) { f.wakeAll() })
	return f
}

// Follow is one subscriber of a stream.
type Follow[T Item] struct {
	// Data is the subscriber's own, for before.
	Data any
	ctx  context.Context
	// send hands an item over. With wait false it must not block, and
	// returns false when the subscriber's queue is full; with wait true it
	// may block, and returns false when the subscriber took nothing for
	// too long or its context ended.
	send func(item T, wait bool) bool
	// end is told why the subscription ended, unless its context did.
	end func(error)

	// pos is the last position handed over (or skipped); guarded by the
	// follower's mu once live.
	pos int64
	// watched: its leave is set to run when ctx ends (leaveWith); until
	// then, whoever gives up on it leaves for it.
	watched bool
}

// follower reads one stream for its subscribers.
type follower[T Item] struct {
	id   uuid.UUID
	wake chan struct{}
	stop chan struct{}
	// ready is closed once last is known.
	ready chan struct{}
	err   error // why the follower could not start; set before ready closes

	// members counts the subscribers that joined and have not left;
	// guarded by Feeds.mu.
	members int

	mu   sync.Mutex
	last int64
	subs map[*Follow[T]]struct{}
}

// Follow subscribes to stream id from after (nil: from now on). send and
// end are as in Follow; send is called from one goroutine at a time, with
// wait true while the subscriber replays, and end at most once. A live
// subscriber whose queue is full goes back to replaying, from the stream's
// rows at its own pace, so that a burst costs no memory and cuts off no
// one who keeps reading; one that takes nothing for a while ends with
// ErrOverflow. The subscription ends with ctx, with nothing more called.
func (f *Feeds[T]) Follow(ctx context.Context, id uuid.UUID, after *int64, data any, send func(item T, wait bool) bool, end func(error)) error {
	fl := f.join(id)
	select {
	case <-fl.ready:
	case <-ctx.Done():
		f.leave(fl, nil)
		return ctx.Err()
	}
	if fl.err != nil {
		f.leave(fl, nil)
		return fl.err
	}
	sub := &Follow[T]{Data: data, ctx: ctx, send: send, end: end}
	if after == nil {
		fl.mu.Lock()
		sub.pos = fl.last
		fl.subs[sub] = struct{}{}
		fl.mu.Unlock()
		sub.watched = true
		f.leaveWith(ctx, fl, sub)
		return nil
	}
	last, floor, err := f.src.Head(ctx, id)
	if err != nil {
		f.leave(fl, nil)
		return err
	}
	switch {
	case *after > last:
		f.leave(fl, nil)
		return ErrCursorAhead
	case *after < floor || last-*after > MaxReplay:
		f.leave(fl, nil)
		return ErrCursorExpired
	}
	sub.pos = *after
	go f.replay(ctx, fl, sub)
	return nil
}

// replay hands sub the rows after its position, then makes it live (again:
// a live subscriber whose queue filled replays too).
func (f *Feeds[T]) replay(ctx context.Context, fl *follower[T], sub *Follow[T]) {
	giveUp := func(err error) {
		if ctx.Err() == nil {
			sub.end(err)
		}
		if !sub.watched {
			f.leave(fl, nil)
		}
	}
	for {
		items, err := f.src.Since(ctx, fl.id, sub.pos, readBatch)
		if err != nil {
			if ctx.Err() == nil {
				f.log.ErrorContext(ctx, "replay stream", "stream", fl.id, "err", err)
			}
			giveUp(err)
			return
		}
		for _, it := range items {
			if !sub.send(it, true) {
				giveUp(ErrOverflow)
				return
			}
			sub.pos = it.Position()
		}
		if len(items) == readBatch {
			continue
		}
		fl.mu.Lock()
		if fl.last <= sub.pos {
			// Caught up: from here the follower hands over what comes
			// (unless the subscription ended meanwhile).
			if ctx.Err() == nil {
				fl.subs[sub] = struct{}{}
			}
			fl.mu.Unlock()
			if !sub.watched {
				sub.watched = true
				f.leaveWith(ctx, fl, sub)
			}
			return
		}
		fl.mu.Unlock()
	}
}

// join returns the follower of stream id, started if need be, counting
// one more subscriber until its leave.
func (f *Feeds[T]) join(id uuid.UUID) *follower[T] {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl := f.followers[id]
	if fl == nil {
		fl = &follower[T]{id: id, wake: make(chan struct{}, 1), stop: make(chan struct{}), ready: make(chan struct{}),
			subs: map[*Follow[T]]struct{}{}}
		f.followers[id] = fl
		go f.run(fl)
	}
	fl.members++
	return fl
}

// leave undoes a join (and removes sub, if given, from the follower's
// subscribers); the last to leave stops the follower.
func (f *Feeds[T]) leave(fl *follower[T], sub *Follow[T]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sub != nil {
		fl.mu.Lock()
		delete(fl.subs, sub)
		fl.mu.Unlock()
	}
	fl.members--
	if fl.members == 0 {
		delete(f.followers, fl.id)
		close(fl.stop)
	}
}

// leaveWith makes sub leave when ctx ends, at no goroutine's cost.
func (f *Feeds[T]) leaveWith(ctx context.Context, fl *follower[T], sub *Follow[T]) {
	context.AfterFunc(ctx, func() { f.leave(fl, sub) })
}

func (f *Feeds[T]) wakeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.followers {
		fl.signal()
	}
}

func (fl *follower[T]) signal() {
	select {
	case fl.wake <- struct{}{}:
	default:
	}
}

// run follows one stream until its last subscriber leaves.
func (f *Feeds[T]) run(fl *follower[T]) {
	ctx := context.Background()
	// Watch before reading the head, so that no advance falls between.
	stopWatch := f.bus.Watch(f.topic(fl.id.String()), func(Envelope) { fl.signal() })
	defer stopWatch()
	last, _, err := f.src.Head(ctx, fl.id)
	fl.last, fl.err = last, err
	close(fl.ready)
	if err != nil {
		<-fl.stop
		return
	}
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	for {
		select {
		case <-fl.stop:
			return
		case <-fl.wake:
		case <-poll.C:
		}
		f.advance(ctx, fl)
	}
}

// advance reads what the stream gained and hands it to the subscribers.
func (f *Feeds[T]) advance(ctx context.Context, fl *follower[T]) {
	for {
		fl.mu.Lock()
		last := fl.last
		fl.mu.Unlock()
		items, err := f.src.Since(ctx, fl.id, last, readBatch)
		if err != nil {
			f.log.ErrorContext(ctx, "follow stream", "stream", fl.id, "err", err)
			time.AfterFunc(retryAfter, fl.signal)
			return
		}
		if len(items) == 0 {
			return
		}
		if f.before != nil {
			fl.mu.Lock()
			subs := make([]*Follow[T], 0, len(fl.subs))
			for s := range fl.subs {
				subs = append(subs, s)
			}
			fl.mu.Unlock()
			f.before(ctx, fl.id, items, subs)
		}
		fl.mu.Lock()
		for _, it := range items {
			p := it.Position()
			if p != fl.last+1 {
				f.log.ErrorContext(ctx, "stream positions not contiguous", "stream", fl.id, "last", fl.last, "next", p)
			}
			for sub := range fl.subs {
				if p <= sub.pos {
					continue // read by its replay already
				}
				if !sub.send(it, false) {
					// Its queue is full: it reads at its own pace from
					// here, from the rows, until it catches up.
					delete(fl.subs, sub)
					go f.replay(sub.ctx, fl, sub)
					continue
				}
				sub.pos = p
			}
			fl.last = p
		}
		fl.mu.Unlock()
		if len(items) < readBatch {
			return
		}
	}
}
