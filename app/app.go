// Package app assembles one gateway process from its configuration: the
// database, the event bus, the job queue, the services and the HTTP
// gateway; it starts them in order and stops them in reverse. server.go and
// the tests that need a whole process use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"switchboard/config"
	"switchboard/crm"
	"switchboard/db"
	"switchboard/gateway"
	"switchboard/graph"
	"switchboard/jobs"
	"switchboard/mail"
	"switchboard/realtime"
	"switchboard/realtime/natsbus"
	"switchboard/realtime/pgbus"
	"switchboard/resolvers"
	"switchboard/secrets"
)

// Options are what a process needs besides its configuration.
type Options struct {
	Config config.Config
	// DatabaseURL is the database to serve (already created and migrated).
	DatabaseURL string
	Logger      *slog.Logger
	// Clock replaces the wall clock for the services (tests).
	Clock func() time.Time
	// Mailer replaces the configured one (tests).
	Mailer crm.Mailer
	// Root replaces the GraphQL resolver tree (tests injecting faults).
	Root func(real *resolvers.Resolver) graph.ResolverRoot
	// HashParams replace the password-hash cost (benchmarks of other work).
	HashParams *secrets.Argon2Params
}

// App is a running process's parts.
type App struct {
	DB       *db.DB
	Bus      realtime.Bus
	Queue    *jobs.Queue
	Identity *db.IdentityService
	Accounts db.AccountServices
	Gateway  *gateway.Gateway

	log *slog.Logger
	cfg config.Config
}

// New opens the database and builds every part; nothing runs until Serve.
func New(ctx context.Context, opts Options) (*App, error) {
	cfg, logger := opts.Config, opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The event bus: PostgreSQL's LISTEN/NOTIFY (writers notify inside
	// their transactions), or NATS JetStream (writers publish after their
	// commit).
	var bus realtime.Bus = pgbus.New(opts.DatabaseURL, logger)
	var publish func(context.Context, ...realtime.Envelope) error
	if cfg.NATSURL != "" {
		subject := natsbus.DefaultSubject
		if cfg.NATSStream != natsbus.DefaultStream {
			subject = "switchboard." + cfg.NATSStream
		}
		nb := natsbus.New(cfg.NATSURL, logger, natsbus.WithStream(cfg.NATSStream, subject))
		bus, publish = nb, nb.Publish
	}
	database, err := db.Open(ctx, opts.DatabaseURL, db.Options{
		MaxOpenConns: cfg.DatabaseMaxOpen, Clock: opts.Clock, Logger: logger, Publish: publish,
		TxTimeout:             cfg.Limits.OperationTimeout,
		Sessions:              db.SessionLimits{Idle: cfg.SessionIdleTimeout, Absolute: cfg.SessionAbsoluteTimeout},
		NotificationRetention: cfg.NotificationRetention,
	})
	if err != nil {
		return nil, err
	}
	a, err := build(database, bus, opts, logger)
	if err != nil {
		_ = database.Close()
		return nil, err
	}
	return a, nil
}

func build(database *db.DB, bus realtime.Bus, opts Options, logger *slog.Logger) (*App, error) {
	cfg := opts.Config
	key, err := secretKey(cfg, logger)
	// From here cfg is what the process runs with, as the start-up log
	// shows it: the database found and the key generated included.
	cfg.SecretKey, cfg.DatabaseURL = key, opts.DatabaseURL
	if err != nil {
		return nil, err
	}
	box, err := secrets.NewBox(key)
	if err != nil {
		return nil, err
	}
	mailer := opts.Mailer
	if mailer == nil {
		if mailer, err = newMailer(cfg, logger); err != nil {
			return nil, err
		}
	}
	queue, err := jobs.New(database.Pool(), jobs.Options{Mailer: mailer, Box: box, Logger: logger, PollInterval: cfg.JobPollInterval, Pruner: database})
	if err != nil {
		return nil, err
	}
	params := secrets.DefaultArgon2
	if opts.HashParams != nil {
		params = *opts.HashParams
	}
	policy := crm.NewPasswordPolicy()
	identity := db.NewIdentityService(database, db.IdentityConfig{
		PublicURL: cfg.PublicURL,
		Hasher:    secrets.NewHasher(params, cfg.HashWorkers, 64),
		Box:       box,
		Policy:    policy,
		Outbox:    queue,
		Logger:    logger,
	})
	accountConfig := db.AccountConfig{
		PublicURL: cfg.PublicURL,
		Policy:    policy,
		Outbox:    queue,
		Identity:  identity,
		Logger:    logger,
	}
	accounts := db.NewAccountServices(database, accountConfig)
	records := db.NewRecordServices(database, accountConfig)
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	resolver := &resolvers.Resolver{
		Version:       gateway.Version(),
		Environment:   cfg.Env,
		Clock:         clock,
		Logger:        logger,
		Identity:      identity,
		Accounts:      accounts.Accounts,
		Members:       accounts.Members,
		Roles:         accounts.Roles,
		Invitations:   accounts.Invitations,
		Protections:   accounts.Protections,
		Audit:         accounts.Audit,
		Records:       records,
		Search:        db.NewSearchService(database),
		Access:        accounts.Accounts,
		Operations:    database,
		Bus:           bus,
		Notifications: db.NewNotificationService(database),
		Live:          resolvers.NewLive(bus, database.ActivityFeed(), database.NotificationFeed(), cfg.Limits.StreamStallTimeout, logger),
	}
	var root graph.ResolverRoot
	if opts.Root != nil {
		root = opts.Root(resolver)
	}
	gw, err := gateway.New(gateway.Options{Config: cfg, DB: database, Logger: logger, Resolver: resolver, Root: root})
	if err != nil {
		return nil, err
	}
	return &App{DB: database, Bus: bus, Queue: queue, Identity: identity, Accounts: accounts, Gateway: gw, log: logger, cfg: cfg}, nil
}

// Config is the configuration the process runs with: the database it
// found and the secret key it generated, in development, included.
func (a *App) Config() config.Config { return a.cfg }

// secretKey is the configured key, or in development one generated under
// the data directory (production refuses to start without one: config
// checks that).
func secretKey(cfg config.Config, logger *slog.Logger) ([]byte, error) {
	if len(cfg.SecretKey) > 0 {
		return cfg.SecretKey, nil
	}
	if cfg.IsProduction() {
		return nil, errors.New("SWITCHBOARD_SECRET_KEY is required in production")
	}
	path, err := filepath.Abs(filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return nil, err
	}
	key, created, err := secrets.DevelopmentKey(path)
	if err != nil {
		return nil, fmt.Errorf("development secret key: %w", err)
	}
	if created {
		logger.Warn("generated a development secret key; set SWITCHBOARD_SECRET_KEY in production", "path", path)
	}
	return key, nil
}

func newMailer(cfg config.Config, logger *slog.Logger) (crm.Mailer, error) {
	if cfg.SMTPURL != "" {
		return mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
	}
	if cfg.IsProduction() {
		logger.Warn("SMTP_URL is not set: outgoing mail is written to files under the data directory")
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "mail"))
	if err != nil {
		return nil, err
	}
	return mail.NewDir(dir, cfg.MailFrom), nil
}

// Serve runs the bus, the job queue and the gateway until ctx ends, then
// stops them in reverse order and closes the database. The gateway answers
// on ln, and serves /metrics on metricsLn when SWITCHBOARD_METRICS_ADDR is
// set (gateway.ListenMetrics opens it; nil otherwise).
func (a *App) Serve(ctx context.Context, ln, metricsLn net.Listener) error {
	defer a.DB.Close()
	busCtx, stopBus := context.WithCancel(context.WithoutCancel(ctx))
	var running sync.WaitGroup
	var busErr error
	running.Go(func() { busErr = a.Bus.Run(busCtx) })
	defer func() {
		stopBus()
		running.Wait()
	}()

	// The job queue needs its tables: a process started before the
	// release's migrations serves (and answers /readyz 503) until they are
	// applied, then starts working jobs.
	queueCtx, stopWaiting := context.WithCancel(ctx)
	var queueStarted bool
	var queueErr error
	running.Go(func() {
		if queueErr = a.waitForMigrations(queueCtx); queueErr != nil {
			if queueCtx.Err() != nil {
				queueErr = nil
			}
			return
		}
		if queueErr = a.Queue.Start(context.WithoutCancel(ctx)); queueErr == nil {
			queueStarted = true
		}
	})
	serveErr := a.Gateway.Serve(ctx, ln, metricsLn)
	stopWaiting()
	stopBus()
	running.Wait()

	if queueStarted {
		stopCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		queueErr = a.Queue.Stop(stopCtx)
	}
	return errors.Join(serveErr, queueErr, busErr)
}

// waitForMigrations returns once no migration is pending.
func (a *App) waitForMigrations(ctx context.Context) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		pending, err := db.PendingMigrations(ctx, a.DB.Pool())
		if err == nil && pending == 0 {
			return nil
		}
		if err != nil {
			a.log.Warn("cannot read migration status; job queue waits", "err", err)
		} else {
			a.log.Info("migrations pending; job queue waits", "pending", pending)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
