package resolvers

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/graph"
	"switchboard/graph/model"
	"switchboard/realtime"
)

type mutationResolver struct{ *Resolver }

type userResolver struct{ *Resolver }

type sessionResolver struct{ *Resolver }

type loginEventResolver struct{ *Resolver }

// Mutation returns the mutation resolvers.
func (r *Resolver) Mutation() graph.MutationResolver { return &mutationResolver{r} }

// User returns the User field resolvers.
func (r *Resolver) User() graph.UserResolver { return &userResolver{r} }

// Session returns the Session field resolvers.
func (r *Resolver) Session() graph.SessionResolver { return &sessionResolver{r} }

// LoginEvent returns the LoginEvent field resolvers.
func (r *Resolver) LoginEvent() graph.LoginEventResolver { return &loginEventResolver{r} }

// authPayload turns a sign-in result into its GraphQL shape and, over HTTP,
// sets the session cookie.
func authPayload(ctx context.Context, res *crm.AuthResult) *model.AuthPayload {
	out := &model.AuthPayload{SecondFactorRequired: res.SecondFactorRequired, User: res.User, Session: res.Session}
	if res.Token != "" {
		out.Token = &res.Token
		setCookie(ctx, res.Token, res.Session.ExpiresAt)
	}
	if res.Challenge != "" {
		out.Challenge = &res.Challenge
		out.ChallengeExpiresAt = &res.ChallengeExpiresAt
	}
	return out
}

// deref is *p, or the zero value when p is nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (r *mutationResolver) SignUp(ctx context.Context, in model.SignUpInput) (*model.AuthPayload, error) {
	res, err := r.Identity.SignUp(ctx, crm.SignUpInput{Email: in.Email, Password: in.Password, Name: in.Name, AccountName: in.AccountName}, client(ctx))
	if err != nil {
		return nil, err
	}
	return authPayload(ctx, res), nil
}

func (r *mutationResolver) Login(ctx context.Context, in model.LoginInput) (*model.AuthPayload, error) {
	res, err := r.Identity.Login(ctx, crm.LoginInput{
		Email: deref(in.Email), Password: deref(in.Password), TOTPCode: deref(in.TotpCode), Challenge: deref(in.Challenge),
	}, client(ctx))
	if err != nil {
		return nil, err
	}
	return authPayload(ctx, res), nil
}

func (r *mutationResolver) Logout(ctx context.Context) (bool, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return false, err
	}
	if err := r.Identity.Logout(ctx, p, client(ctx)); err != nil {
		return false, err
	}
	clearCookie(ctx)
	return true, nil
}

func (r *mutationResolver) ChangePassword(ctx context.Context, in model.ChangePasswordInput) (*model.AuthPayload, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := r.Identity.ChangePassword(ctx, p, in.CurrentPassword, in.NewPassword, client(ctx))
	if err != nil {
		return nil, err
	}
	return authPayload(ctx, res), nil
}

func (r *mutationResolver) RequestPasswordReset(ctx context.Context, email string) (bool, error) {
	if err := r.Identity.RequestPasswordReset(ctx, email, client(ctx)); err != nil {
		return false, err
	}
	return true, nil
}

func (r *mutationResolver) ResetPassword(ctx context.Context, in model.ResetPasswordInput) (bool, error) {
	if err := r.Identity.ResetPassword(ctx, in.Token, in.NewPassword, client(ctx)); err != nil {
		return false, err
	}
	return true, nil
}

func (r *mutationResolver) EnableTotp(ctx context.Context) (*crm.TOTPSetup, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	return r.Identity.EnableTOTP(ctx, p)
}

func (r *mutationResolver) ConfirmTotp(ctx context.Context, code string) (*model.RecoveryCodes, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := r.Identity.ConfirmTOTP(ctx, p, code)
	if err != nil {
		return nil, err
	}
	return &model.RecoveryCodes{Codes: codes}, nil
}

func (r *mutationResolver) DisableTotp(ctx context.Context, password, code string) (bool, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return false, err
	}
	if err := r.Identity.DisableTOTP(ctx, p, password, code, client(ctx)); err != nil {
		return false, err
	}
	return true, nil
}

func (r *queryResolver) Me(ctx context.Context) (*crm.User, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	return &p.User, nil
}

// viewer returns the principal when obj is the caller's own user: other
// users' sessions and login logs are not theirs to read.
func (r *Resolver) viewer(ctx context.Context, obj *crm.User) (*crm.Principal, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	if obj.ID != p.User.ID {
		return nil, crm.Forbidden("only your own")
	}
	return p, nil
}

func (r *userResolver) Session(ctx context.Context, obj *crm.User) (*crm.Session, error) {
	p, err := r.viewer(ctx, obj)
	if err != nil {
		return nil, err
	}
	return &p.Session, nil
}

func (r *userResolver) LoginEvents(ctx context.Context, obj *crm.User, first *int, after *string) (*crm.LoginEventPage, error) {
	p, err := r.viewer(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Identity.LoginEvents(ctx, p, pageArgs(first, after))
}

func pageArgs(first *int, after *string) crm.PageArgs {
	var p crm.PageArgs
	if first != nil {
		p.First = *first
		if *first == 0 {
			// PageArgs reads 0 as "not given" (the default page); a client
			// that asks for none gets the range instead (the schema gives
			// the default itself).
			p.First = -1
		}
	}
	p.After = deref(after)
	return p
}

func ipString(ip interface {
	IsValid() bool
	String() string
}) *string {
	if !ip.IsValid() {
		return nil
	}
	s := ip.String()
	return &s
}

func (r *sessionResolver) IP(ctx context.Context, obj *crm.Session) (*string, error) {
	return ipString(obj.IP), nil
}

func (r *sessionResolver) AccountID(ctx context.Context, obj *crm.Session) (*uuid.UUID, error) {
	if obj.AccountID == uuid.Nil {
		return nil, nil
	}
	return &obj.AccountID, nil
}

func (r *loginEventResolver) IP(ctx context.Context, obj *crm.LoginEvent) (*string, error) {
	return ipString(obj.IP), nil
}

func (r *loginEventResolver) SessionID(ctx context.Context, obj *crm.LoginEvent) (*uuid.UUID, error) {
	if obj.SessionID == uuid.Nil {
		return nil, nil
	}
	return &obj.SessionID, nil
}

// SessionEvents delivers the end of this connection's session. It watches
// first and re-reads the session second, so an end committed in between is
// not missed. It holds no goroutine while it waits: the bus hands the event
// straight to the channel gqlgen reads.
func (r *subscriptionResolver) SessionEvents(ctx context.Context) (<-chan model.SessionEvent, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan model.SessionEvent, 1)
	var once sync.Once
	deliver := func(end crm.SessionEnd) {
		once.Do(func() {
			ch <- sessionEvicted(end) // the only send: the buffer has room
			close(ch)
		})
	}
	stop := r.Bus.Watch(realtime.SessionTopic(p.Session.ID.String()), func(e realtime.Envelope) {
		end, err := realtime.SessionEnded(e)
		if err != nil {
			r.Logger.Error("session event", "err", err)
			return
		}
		deliver(end)
	})
	context.AfterFunc(ctx, stop)
	ended, err := r.Identity.CheckSessions(ctx, []uuid.UUID{p.Session.ID})
	if err != nil {
		stop()
		return nil, err
	}
	if len(ended) > 0 {
		deliver(ended[0])
	}
	return ch, nil
}

func sessionEvicted(e crm.SessionEnd) *model.SessionEvicted {
	out := &model.SessionEvicted{Reason: e.Reason, At: e.At}
	if e.ByIP != "" {
		out.ByIP = &e.ByIP
	}
	if e.ByDevice != "" {
		out.ByDevice = &e.ByDevice
	}
	return out
}
