// Package resolvers implements the GraphQL schema in graph/. Resolvers are
// thin: they authenticate, pick the account scope, call a crm service and let
// the one error presenter map what comes back. The package also assembles
// the executor: limits, error presentation, metrics hooks and the WebSocket
// init function.
package resolvers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"switchboard/crm"
	"switchboard/graph"
	"switchboard/graph/model"
	"switchboard/realtime"
)

// Resolver is the root of the resolver tree and holds its dependencies.
type Resolver struct {
	Version     string
	Environment string
	Clock       func() time.Time
	Logger      *slog.Logger
	Identity    crm.IdentityService
	Accounts    crm.AccountService
	Members     crm.MemberService
	Roles       crm.RoleService
	Invitations crm.InvitationService
	Protections crm.ProtectionService
	Audit       crm.AuditService
	Records     crm.Records
	Search      crm.SearchService
	// Notifications are the viewer's, in every account.
	Notifications crm.NotificationService
	// Live follows the persisted streams for subscriptions.
	Live *Live
	// Access re-checks live streams (the gateway's watch uses it).
	Access crm.AccessChecker
	// Operations groups each operation's reads into one transaction.
	Operations crm.Operations
	Bus        realtime.Bus

	beatOnce sync.Once
	beats    *metronome
}

var _ graph.ResolverRoot = (*Resolver)(nil)

// Query returns the query resolvers.
func (r *Resolver) Query() graph.QueryResolver { return &queryResolver{r} }

// Subscription returns the subscription resolvers.
func (r *Resolver) Subscription() graph.SubscriptionResolver { return &subscriptionResolver{r} }

type queryResolver struct{ *Resolver }

type subscriptionResolver struct{ *Resolver }

func (r *queryResolver) ServerInfo(ctx context.Context) (*model.ServerInfo, error) {
	return &model.ServerInfo{Version: r.Version, Environment: r.Environment, Time: r.Clock().UTC()}, nil
}
