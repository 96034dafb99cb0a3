package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/graph/model"
	"switchboard/realtime"
)

// The live subscriptions: notifications and activity, followed through
// realtime.Feeds (one reader per stream per process, whatever the number of
// subscribers). Each activity subscriber filters what the follower hands
// it with its own grant, which the follower refreshes, before handing on
// any entry that follows a change of members or roles.

// GrantSource reads the grants of an account's members (db.ActivityFeed).
type GrantSource interface {
	Grants(ctx context.Context, accountID uuid.UUID, userIDs []uuid.UUID) (map[uuid.UUID]crm.Grant, error)
}

// Caps on live subscriptions (notifications and activity), in each
// process.
const (
	MaxLivePerStream = 16
	MaxLivePerUser   = 64
	// liveQueue is what a subscriber may have pending before it goes
	// back to reading the stream at its own pace.
	liveQueue = 64
)

// Live is the process's live feeds.
type Live struct {
	activity      *realtime.Feeds[crm.FeedEntry]
	notifications *realtime.Feeds[crm.FeedNotification]
	grants        GrantSource
	log           *slog.Logger
	// stall is how long a subscriber may take nothing it has pending.
	stall time.Duration

	mu       sync.Mutex
	byStream map[Stream]int
	byUser   map[uuid.UUID]int
}

// NewLive follows activity and notifications through bus; a subscriber
// that takes none of what it has pending for stall is closed as too slow.
func NewLive(bus realtime.Bus, activity interface {
	realtime.Source[crm.FeedEntry]
	GrantSource
}, notifications realtime.Source[crm.FeedNotification], stall time.Duration, logger *slog.Logger) *Live {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Live{grants: activity, log: logger, stall: stall, byStream: map[Stream]int{}, byUser: map[uuid.UUID]int{}}
	l.activity = realtime.NewFeeds(activity, bus, realtime.ActivityTopic, l.refreshGrants, logger)
	l.notifications = realtime.NewFeeds(notifications, bus, realtime.NotificationsTopic, nil, logger)
	return l
}

// reserve counts one more live subscription of user on the stream of ctx,
// until ctx ends or release is called, whichever comes first.
func (l *Live) reserve(ctx context.Context, user uuid.UUID) (release func(), err error) {
	s := streamFrom(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case s != nil && l.byStream[s] >= MaxLivePerStream:
		return nil, crm.Errorf(crm.CodeTooManySubscriptions, "at most %d live subscriptions per connection", MaxLivePerStream)
	case l.byUser[user] >= MaxLivePerUser:
		return nil, crm.Errorf(crm.CodeTooManySubscriptions, "at most %d live subscriptions per user", MaxLivePerUser)
	}
	if s != nil {
		l.byStream[s]++
	}
	l.byUser[user]++
	var once sync.Once
	release = func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if s != nil {
				if l.byStream[s]--; l.byStream[s] == 0 {
					delete(l.byStream, s)
				}
			}
			if l.byUser[user]--; l.byUser[user] == 0 {
				delete(l.byUser, user)
			}
		})
	}
	context.AfterFunc(ctx, release)
	return release, nil
}

// liveViewer is an activity subscriber: who, and their grant now (nil once
// they may no longer act in the account).
type liveViewer struct {
	user  uuid.UUID
	grant atomic.Pointer[crm.Grant]
}

// view is what the viewer sees of e: nothing when their role does not let
// them view it or the filter leaves it out, and without the fields their
// role hides.
func (v *liveViewer) view(e *crm.FeedEntry, f crm.ActivityFilter) (*crm.ActivityEntry, bool) {
	g := v.grant.Load()
	if g == nil || !g.Can(e.EntityType, crm.View, e.OwnerID) {
		return nil, false
	}
	switch {
	case f.ActorID != uuid.Nil && e.ActorID != f.ActorID,
		f.Action != "" && e.Action != f.Action,
		f.EntityType != "" && e.EntityType != f.EntityType,
		f.Since != nil && e.At.Before(*f.Since),
		f.Until != nil && !e.At.Before(*f.Until):
		return nil, false
	}
	out := e.ActivityEntry
	if visible := g.VisibleChanges(e.EntityType, e.Changes); len(visible) != len(e.Changes) {
		// Shaped here, for this subscriber: the changes resolver must not
		// look the grant up again for every subscriber of every entry.
		b, err := json.Marshal(visible)
		if err != nil {
			return nil, false
		}
		out.Changes, out.ChangesJSON = visible, string(b)
	}
	if out.ChangesJSON == "" {
		out.ChangesJSON = "{}"
	}
	return &out, true
}

// refreshGrants re-reads the grants of an account's subscribers when a
// batch of its activity may have changed them (members, roles), before any
// of the batch is handed on: a role that lost VIEW on deals sees no deal
// from there on.
func (l *Live) refreshGrants(ctx context.Context, accountID uuid.UUID, items []crm.FeedEntry, subs []*realtime.Follow[crm.FeedEntry]) {
	if !slices.ContainsFunc(items, func(e crm.FeedEntry) bool { return e.EntityType == crm.Members || strings.HasPrefix(e.Action, "role.") }) {
		return
	}
	seen := map[uuid.UUID]bool{}
	var users []uuid.UUID
	for _, s := range subs {
		if v := s.Data.(*liveViewer); !seen[v.user] {
			seen[v.user] = true
			users = append(users, v.user)
		}
	}
	if len(users) == 0 {
		return
	}
	grants, err := l.grants.Grants(ctx, accountID, users)
	if err != nil {
		// Keep the grants held; the access watch still ends streams
		// that lost their access.
		l.log.ErrorContext(ctx, "refresh live grants", "account", accountID, "err", err)
		return
	}
	for _, s := range subs {
		v := s.Data.(*liveViewer)
		if g, ok := grants[v.user]; ok {
			v.grant.Store(&g)
		} else {
			v.grant.Store(nil)
		}
	}
}

// follow starts a live subscription on feeds: replayed from after (a
// cursor of stream kind k of id), then live, each item shaped by shape
// (false: not for this subscriber) into a channel gqlgen reads. A
// subscriber whose queue fills reads the stream at its own pace again
// (Feeds does); one that takes nothing for the stall timeout ends its
// stream with SLOW_CONSUMER.
func follow[T realtime.Item, Out any](ctx context.Context, l *Live, feeds *realtime.Feeds[T], k crm.StreamKind, id, user uuid.UUID,
	after *string, data any, shape func(*T) (*Out, bool)) (<-chan *Out, error) {
	var from *int64
	// An empty cursor is no cursor, as in lists.
	if after != nil && *after != "" {
		pos, err := crm.ParseStreamCursor("after", *after, k, id)
		if err != nil {
			return nil, err
		}
		from = &pos
	}
	release, err := l.reserve(ctx, user)
	if err != nil {
		return nil, err
	}
	ch := make(chan *Out, liveQueue)
	send := func(item T, wait bool) bool {
		out, ok := shape(&item)
		if !ok {
			return true
		}
		if wait {
			stalled := time.NewTimer(l.stall)
			defer stalled.Stop()
			select {
			case ch <- out:
				return true
			case <-ctx.Done():
			case <-stalled.C:
			}
			return false
		}
		select {
		case ch <- out:
			return true
		default:
			return false
		}
	}
	end := func(err error) {
		close(ch)
		if s := streamFrom(ctx); s != nil && errors.Is(err, realtime.ErrOverflow) {
			s.End(crm.CodeSlowConsumer)
		}
	}
	err = feeds.Follow(ctx, id, from, data, send, end)
	if err != nil {
		release()
	}
	switch {
	case errors.Is(err, realtime.ErrCursorAhead):
		return nil, crm.InvalidInput("after", "not a cursor of this stream")
	case errors.Is(err, realtime.ErrCursorExpired):
		return nil, crm.CursorExpired()
	case err != nil:
		return nil, err
	}
	return ch, nil
}

// Notifications delivers the viewer's new notifications, from every
// account.
func (r *subscriptionResolver) Notifications(ctx context.Context, after *string) (<-chan *crm.Notification, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	return follow(ctx, r.Live, r.Live.notifications, crm.StreamNotifications, p.User.ID, p.User.ID, after, nil,
		func(n *crm.FeedNotification) (*crm.Notification, bool) { return &n.Notification, true })
}

// Activity delivers the live activity of the connection's account, as the
// viewer's role there shows it.
func (r *subscriptionResolver) Activity(ctx context.Context, after *string, filter *model.ActivityFilter) (<-chan *crm.ActivityEntry, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	account, grant, err := r.Accounts.Enter(ctx, a)
	if err != nil {
		return nil, err
	}
	f, err := activityFilter(filter)
	if err != nil {
		return nil, err
	}
	if f.ActorID != uuid.Nil {
		// A feed of someone who is not a member would only ever be
		// silent: say so.
		if _, err := r.Members.Member(ctx, a, f.ActorID); err != nil {
			return nil, err
		}
	}
	v := &liveViewer{user: p.User.ID}
	v.grant.Store(&grant)
	return follow(ctx, r.Live, r.Live.activity, crm.StreamActivity, account.ID, p.User.ID, after, v,
		func(e *crm.FeedEntry) (*crm.ActivityEntry, bool) { return v.view(e, f) })
}

// activityFilter reads the filter of the activity log and feed.
func activityFilter(filter *model.ActivityFilter) (crm.ActivityFilter, error) {
	if filter == nil {
		return crm.ActivityFilter{}, nil
	}
	f := crm.ActivityFilter{ActorID: idOrNil(filter.ActorID), Action: deref(filter.Action), Since: filter.Since, Until: filter.Until}
	if filter.EntityType != nil {
		f.EntityType = *filter.EntityType
	}
	return f, f.Check()
}

// Account is where the notification comes from.
func (notificationResolver) Account(_ context.Context, obj *crm.Notification) (*crm.Account, error) {
	return &crm.Account{ID: obj.AccountID, Name: obj.AccountName}, nil
}

// ActorID is who caused it, or null for the system.
func (notificationResolver) ActorID(_ context.Context, obj *crm.Notification) (*uuid.UUID, error) {
	if obj.ActorID == uuid.Nil {
		return nil, nil
	}
	return &obj.ActorID, nil
}

// ActorName is the actor's name, or null for the system.
func (notificationResolver) ActorName(_ context.Context, obj *crm.Notification) (*string, error) {
	if obj.ActorID == uuid.Nil {
		return nil, nil
	}
	return &obj.ActorName, nil
}

// SubjectType is the kind of what it is about, if anything.
func (notificationResolver) SubjectType(_ context.Context, obj *crm.Notification) (*crm.Entity, error) {
	if obj.SubjectType == "" {
		return nil, nil
	}
	return &obj.SubjectType, nil
}

// Notifications lists the viewer's notifications in every account.
func (r *userResolver) Notifications(ctx context.Context, obj *crm.User, first *int, after *string, unreadOnly *bool) (*crm.NotificationPage, error) {
	a, err := r.viewerActor(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Notifications.Notifications(ctx, a, crm.NotificationFilter{UnreadOnly: deref(unreadOnly)}, pageArgs(first, after))
}

// UnreadNotificationCount counts the viewer's unread notifications.
func (r *userResolver) UnreadNotificationCount(ctx context.Context, obj *crm.User) (int, error) {
	a, err := r.viewerActor(ctx, obj)
	if err != nil {
		return 0, err
	}
	return r.Resolver.Notifications.UnreadNotifications(ctx, a)
}

// NotificationPreferences lists every kind with its email choice.
func (r *userResolver) NotificationPreferences(ctx context.Context, obj *crm.User) ([]crm.NotificationPreference, error) {
	a, err := r.viewerActor(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Notifications.NotificationPreferences(ctx, a)
}

func (r *mutationResolver) MarkNotificationsRead(ctx context.Context, ids []uuid.UUID, all *bool) (int, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return 0, err
	}
	return r.Notifications.MarkNotificationsRead(ctx, a, ids, deref(all))
}

func (r *mutationResolver) SetNotificationPreference(ctx context.Context, kind crm.NotificationKind, email bool) (*crm.NotificationPreference, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Notifications.SetNotificationPreference(ctx, a, kind, email)
}
