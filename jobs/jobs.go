// Package jobs runs Switchboard's background work on River, spread over every
// gateway process: a job is inserted in the same transaction as the change
// that calls for it, so it exists exactly when the change committed, and it
// survives restarts. Today that is outgoing mail.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"switchboard/crm"
	"switchboard/mail"
	"switchboard/secrets"
)

// Options configure the queue.
type Options struct {
	Mailer crm.Mailer
	// Box seals mail bodies while they wait in the job table: reset and
	// invitation links are secrets.
	Box    *secrets.Box
	Logger *slog.Logger
	// PollInterval is how often idle workers look for new jobs (River's
	// database/sql driver cannot LISTEN). Default 1 s; tests use less.
	PollInterval time.Duration
	// Workers is how many jobs run at once in this process.
	Workers int
	// Pruner deletes expired rows; one process at a time runs it hourly.
	Pruner Pruner
}

// Pruner deletes what has expired (db.DB implements it).
type Pruner interface {
	Prune(ctx context.Context) (int64, error)
}

// Queue inserts and works jobs.
type Queue struct {
	client *river.Client[*sql.Tx]
	box    *secrets.Box
}

// New returns a queue on pool; Start begins working jobs.
func New(pool *sql.DB, opts Options) (*Queue, error) {
	if opts.Mailer == nil || opts.Box == nil {
		return nil, errors.New("jobs: a mailer and a box are required")
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	if opts.Workers == 0 {
		opts.Workers = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &emailWorker{mailer: opts.Mailer, box: opts.Box})
	var periodic []*river.PeriodicJob
	if opts.Pruner != nil {
		river.AddWorker(workers, &pruneWorker{pruner: opts.Pruner, log: opts.Logger})
		// River's leader runs periodic jobs, so processes do not prune at
		// once.
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return PruneArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	client, err := river.NewClient(riverdatabasesql.New(pool), &river.Config{
		PeriodicJobs:      periodic,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}},
		Workers:           workers,
		FetchPollInterval: opts.PollInterval,
		FetchCooldown:     min(opts.PollInterval, 100*time.Millisecond),
		Logger:            opts.Logger.With("component", "jobs"),
		// A job cut off by a crash is retried after this long.
		RescueStuckJobsAfter: 10 * time.Minute,
		JobTimeout:           2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &Queue{client: client, box: opts.Box}, nil
}

// Start works jobs until Stop.
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop lets running jobs finish (until ctx ends) and stops.
func (q *Queue) Stop(ctx context.Context) error { return q.client.Stop(ctx) }

// Email queues e in tx: it is sent if and only if tx commits.
func (q *Queue) Email(ctx context.Context, tx *sql.Tx, e crm.Email) error {
	body, keyID := q.box.Seal([]byte(e.Text), emailAD(e.To))
	_, err := q.client.InsertTx(ctx, tx, EmailArgs{To: e.To, Subject: e.Subject, Body: body, KeyID: keyID, MessageID: e.MessageID}, nil)
	if err != nil {
		return fmt.Errorf("queue email: %w", err)
	}
	return nil
}

// EmailArgs is a queued email. Body is sealed with the secret key.
type EmailArgs struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    []byte `json:"body"`
	KeyID   string `json:"key_id"`
	// MessageID is kept so that every attempt sends the same message.
	MessageID string `json:"message_id,omitempty"`
}

// Kind names the job in River's table.
func (EmailArgs) Kind() string { return "send_email" }

func emailAD(to string) []byte { return []byte("email body for " + to) }

type emailWorker struct {
	river.WorkerDefaults[EmailArgs]
	mailer crm.Mailer
	box    *secrets.Box
}

func (w *emailWorker) Work(ctx context.Context, job *river.Job[EmailArgs]) error {
	text, err := w.box.Open(job.Args.Body, job.Args.KeyID, emailAD(job.Args.To))
	if err != nil {
		// Sealed with a key this process no longer has: retrying cannot help.
		return river.JobCancel(fmt.Errorf("open email body: %w", err))
	}
	err = w.mailer.Send(ctx, crm.Email{To: job.Args.To, Subject: job.Args.Subject, Text: string(text), MessageID: job.Args.MessageID})
	if errors.Is(err, mail.ErrInvalidMessage) {
		return river.JobCancel(err)
	}
	return err
}

// PruneArgs is the hourly clean-up of expired rows.
type PruneArgs struct{}

// Kind names the job in River's table.
func (PruneArgs) Kind() string { return "prune_expired" }

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	pruner Pruner
	log    *slog.Logger
}

func (w *pruneWorker) Work(ctx context.Context, job *river.Job[PruneArgs]) error {
	n, err := w.pruner.Prune(ctx)
	if err == nil && n > 0 {
		w.log.Info("pruned expired rows", "rows", n)
	}
	return err
}
