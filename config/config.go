// Package config reads Switchboard's one configuration struct from the
// environment. Every variable has a documented default (Variables lists them;
// the README's table is checked against it), and secrets never print.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Environments.
const (
	Development = "development"
	Production  = "production"
)

// Config is everything the process reads from its environment.
type Config struct {
	Env  string // development or production
	Port int

	// DatabaseURL is empty in development when the server should find or
	// start PostgreSQL itself.
	DatabaseURL     string
	DatabaseMaxOpen int
	// Migrate runs the migrations on start; production deployments usually
	// migrate once from a release step and turn this off.
	Migrate bool
	// DataDir holds development state: a private PostgreSQL cluster, the
	// development secret key and mail written as .eml files.
	DataDir string

	PublicURL string
	// AllowedOrigins are canonical (CanonicalOrigin): the public URL's
	// origin unless configured.
	AllowedOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	LogLevel       slog.Level

	Introspection bool

	// MetricsAddr is where /metrics is served instead of the public port;
	// empty keeps it on the public port.
	MetricsAddr string

	Limits Limits

	ShutdownTimeout time.Duration

	// SecretKey encrypts secrets at rest (AES-256-GCM). Empty in
	// development until one is generated under DataDir.
	SecretKey []byte

	SMTPURL  string
	MailFrom string
	// NATSURL, when set, carries events over NATS JetStream instead of
	// PostgreSQL's LISTEN/NOTIFY, on the stream NATSStream.
	NATSURL    string
	NATSStream string

	SessionIdleTimeout     time.Duration
	SessionAbsoluteTimeout time.Duration
	// SessionRecheckInterval is how often a process re-reads the sessions of
	// its open streams (activity, unannounced expiry).
	SessionRecheckInterval time.Duration

	// HashWorkers bounds concurrent password hashing (0: half the CPUs).
	HashWorkers int
	// JobPollInterval is how often idle job workers look for work.
	JobPollInterval time.Duration
	// NotificationRetention is how long notifications are kept.
	NotificationRetention time.Duration
}

// Limits bound what one client request may cost.
type Limits struct {
	MaxBodyBytes     int64
	MaxTokens        int
	MaxDepth         int
	MaxComplexity    int
	MaxAliases       int
	MaxRootFields    int
	OperationTimeout time.Duration

	WSInitTimeout  time.Duration
	WSPingInterval time.Duration
	WSMaxMessage   int64
	// MaxStreams caps open WebSocket and SSE streams; 0 derives it from
	// the process's open-file limit (StreamLimit).
	MaxStreams int
	// StreamStallTimeout is how long a live subscription may take nothing
	// of what it has pending before its stream is closed as too slow.
	StreamStallTimeout time.Duration
}

// StreamLimit is how many streams a process may hold open: MaxStreams when
// set, else what the open-file limit leaves after a reserve for ordinary
// HTTP requests, the database pools and the process's own files, so that at
// the cap it still answers health checks, metrics and queries.
func (c Config) StreamLimit(openFiles uint64) int {
	if c.Limits.MaxStreams > 0 {
		return c.Limits.MaxStreams
	}
	if openFiles == 0 {
		return 0 // unknown: no cap
	}
	reserve := uint64(c.DatabaseMaxOpen) + 64 + max(openFiles/10, 256)
	if openFiles <= reserve {
		return int(max(openFiles/4, 1))
	}
	return int(openFiles - reserve)
}

// IsProduction reports whether the process runs with production defaults.
func (c Config) IsProduction() bool { return c.Env == Production }

// LogValue shows the configuration with secrets reduced to set/unset.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("env", c.Env),
		slog.Int("port", c.Port),
		slog.String("database", RedactURL(c.DatabaseURL)),
		slog.Bool("migrate", c.Migrate),
		slog.String("data_dir", c.DataDir),
		slog.String("public_url", c.PublicURL),
		slog.Any("allowed_origins", c.AllowedOrigins),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Bool("introspection", c.Introspection),
		slog.Bool("secret_key_set", len(c.SecretKey) > 0),
		slog.String("smtp", RedactURL(c.SMTPURL)),
		slog.String("nats", RedactURL(c.NATSURL)),
	)
}

// String keeps secrets out of fmt output too.
func (c Config) String() string { return c.LogValue().String() }

// RedactURL returns u with any password replaced, for logs.
func RedactURL(u string) string {
	if u == "" {
		return ""
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparseable)"
	}
	return parsed.Redacted()
}

// Variable documents one environment variable.
type Variable struct {
	Name    string
	Default string
	Doc     string
	Secret  bool
	set     func(c *Config, v string) error
}

// Variables lists every environment variable Config reads, with its default.
func Variables() []Variable {
	return []Variable{
		{Name: "SWITCHBOARD_ENV", Default: Development, Doc: "`development` or `production`; production logs JSON, hides introspection and requires DATABASE_URL and SWITCHBOARD_SECRET_KEY",
			set: func(c *Config, v string) error {
				if v != Development && v != Production {
					return fmt.Errorf("must be %q or %q", Development, Production)
				}
				c.Env = v
				return nil
			}},
		{Name: "PORT", Default: "8080", Doc: "HTTP port (0 picks a free one)",
			set: func(c *Config, v string) error { return parseInt(v, 0, 65535, &c.Port) }},
		{Name: "DATABASE_URL", Default: "(found or started)", Doc: "PostgreSQL URL; when unset, development uses 127.0.0.1:5432 if it answers, else a private cluster under the data dir", Secret: true,
			set: func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
		{Name: "DATABASE_MAX_CONNS", Default: "20", Doc: "maximum open database connections per process",
			set: func(c *Config, v string) error { return parseInt(v, 2, 1000, &c.DatabaseMaxOpen) }},
		{Name: "SWITCHBOARD_MIGRATE", Default: "true", Doc: "create the database if missing and apply migrations on start",
			set: func(c *Config, v string) error { return parseBool(v, &c.Migrate) }},
		{Name: "SWITCHBOARD_DATA_DIR", Default: ".data", Doc: "development state: private PostgreSQL, generated secret key, mail as .eml files",
			set: func(c *Config, v string) error { c.DataDir = v; return nil }},
		{Name: "SWITCHBOARD_PUBLIC_URL", Default: "http://localhost:$PORT", Doc: "public base URL for links in mail and OAuth redirects",
			set: func(c *Config, v string) error {
				c.PublicURL = strings.TrimRight(v, "/")
				if err := validateURL(v); err != nil {
					return err
				}
				if u, _ := url.Parse(v); u.Scheme != "http" && u.Scheme != "https" {
					return errors.New("must be an http or https URL")
				}
				return nil
			}},
		{Name: "SWITCHBOARD_ALLOWED_ORIGINS", Default: "(the public URL's origin)", Doc: "comma-separated origins (`scheme://host[:port]`) allowed to send browser requests and open WebSockets; compared by scheme, host and port",
			set: func(c *Config, v string) error {
				c.AllowedOrigins = nil
				for _, s := range splitList(v) {
					o, err := CanonicalOrigin(s)
					if err != nil {
						return fmt.Errorf("%q: %w", s, err)
					}
					c.AllowedOrigins = append(c.AllowedOrigins, o)
				}
				return nil
			}},
		{Name: "SWITCHBOARD_TRUSTED_PROXIES", Default: "(none)", Doc: "comma-separated CIDRs of proxies whose X-Forwarded-For is honoured",
			set: func(c *Config, v string) error {
				c.TrustedProxies = nil
				for _, s := range splitList(v) {
					p, err := netip.ParsePrefix(s)
					if err != nil {
						return fmt.Errorf("%q is not a CIDR", s)
					}
					c.TrustedProxies = append(c.TrustedProxies, p.Masked())
				}
				return nil
			}},
		{Name: "SWITCHBOARD_SECRET_KEY", Default: "(generated under the data dir in development)", Doc: "32 random bytes, base64 (`openssl rand -base64 32`); encrypts TOTP secrets, OAuth tokens and queued mail", Secret: true,
			set: func(c *Config, v string) error {
				key, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return errors.New("must be base64")
				}
				if len(key) != 32 {
					return fmt.Errorf("must decode to 32 bytes, not %d", len(key))
				}
				c.SecretKey = key
				return nil
			}},
		{Name: "SWITCHBOARD_NATS_URL", Default: "(events go by PostgreSQL LISTEN/NOTIFY)", Doc: "NATS server with JetStream for the event bus, such as `nats://host:4222`: for deployments whose gateways outgrow one PostgreSQL's notifications", Secret: true,
			set: func(c *Config, v string) error { c.NATSURL = v; return validateURL(v) }},
		{Name: "SWITCHBOARD_NATS_STREAM", Default: "SWITCHBOARD_EVENTS", Doc: "the JetStream stream of the event bus (subject `switchboard.events`, or `switchboard.<stream>` for another stream): deployments sharing a NATS server keep apart by it",
			set: func(c *Config, v string) error {
				if !natsName.MatchString(v) {
					return errors.New("letters, digits, - and _ only, at most 64")
				}
				c.NATSStream = v
				return nil
			}},
		{Name: "SMTP_URL", Default: "(mail written as .eml files under the data dir)", Doc: "outgoing mail server: `smtp://user:pass@host:587` (STARTTLS when offered; `?tls=require` insists) or `smtps://host:465`", Secret: true,
			set: func(c *Config, v string) error { c.SMTPURL = v; return validateURL(v) }},
		{Name: "SWITCHBOARD_MAIL_FROM", Default: "Switchboard <no-reply@switchboard.localhost>", Doc: "sender of outgoing mail",
			set: func(c *Config, v string) error { c.MailFrom = v; return nil }},
		{Name: "SWITCHBOARD_SESSION_IDLE_TIMEOUT", Default: "30m", Doc: "a session without requests or open subscriptions for this long expires",
			set: func(c *Config, v string) error { return parseDuration(v, time.Minute, &c.SessionIdleTimeout) }},
		{Name: "SWITCHBOARD_SESSION_ABSOLUTE_TIMEOUT", Default: "12h", Doc: "a session expires this long after sign-in, however active",
			set: func(c *Config, v string) error { return parseDuration(v, time.Minute, &c.SessionAbsoluteTimeout) }},
		{Name: "SWITCHBOARD_SESSION_RECHECK_INTERVAL", Default: "30s", Doc: "how often each process re-reads the sessions of its open subscriptions: counts them as activity and ends expired ones",
			set: func(c *Config, v string) error {
				return parseDuration(v, 10*time.Millisecond, &c.SessionRecheckInterval)
			}},
		{Name: "SWITCHBOARD_HASH_WORKERS", Default: "(half the CPUs, at least 1)", Doc: "password hashes computed at once; the rest queue (up to 64), so a login storm cannot starve other work",
			set: func(c *Config, v string) error { return parseInt(v, 1, 256, &c.HashWorkers) }},
		{Name: "SWITCHBOARD_JOB_POLL_INTERVAL", Default: "1s", Doc: "how often idle job workers look for new jobs (outgoing mail)",
			set: func(c *Config, v string) error { return parseDuration(v, 10*time.Millisecond, &c.JobPollInterval) }},
		{Name: "SWITCHBOARD_NOTIFICATION_RETENTION", Default: "2160h", Doc: "how long notifications are kept (90 days); the activity log is history and stays",
			set: func(c *Config, v string) error { return parseDuration(v, time.Hour, &c.NotificationRetention) }},
		{Name: "SWITCHBOARD_LOG_LEVEL", Default: "info", Doc: "debug, info, warn or error",
			set: func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
		{Name: "SWITCHBOARD_INTROSPECTION", Default: "true in development, false in production", Doc: "schema introspection, field suggestions and GraphiQL",
			set: func(c *Config, v string) error { return parseBool(v, &c.Introspection) }},
		{Name: "SWITCHBOARD_METRICS_ADDR", Default: "(none: /metrics on the public port)", Doc: "`host:port` to serve /metrics on instead of the public port (which then answers 404), such as `127.0.0.1:9090`; set it in production, on a private address",
			set: func(c *Config, v string) error {
				_, port, err := net.SplitHostPort(v)
				if err != nil {
					return errors.New("must be host:port, such as 127.0.0.1:9090")
				}
				var n int
				if err := parseInt(port, 0, 65535, &n); err != nil {
					return fmt.Errorf("port %w", err)
				}
				c.MetricsAddr = v
				return nil
			}},
		{Name: "SWITCHBOARD_MAX_BODY_BYTES", Default: "1048576", Doc: "largest accepted request body",
			set: func(c *Config, v string) error { return parseInt64(v, 1024, 64<<20, &c.Limits.MaxBodyBytes) }},
		{Name: "SWITCHBOARD_MAX_TOKENS", Default: "5000", Doc: "parser token limit per document",
			set: func(c *Config, v string) error { return parseInt(v, 100, 1_000_000, &c.Limits.MaxTokens) }},
		{Name: "SWITCHBOARD_MAX_DEPTH", Default: "12", Doc: "deepest allowed selection nesting",
			set: func(c *Config, v string) error { return parseInt(v, 1, 100, &c.Limits.MaxDepth) }},
		{Name: "SWITCHBOARD_MAX_COMPLEXITY", Default: "5000", Doc: "complexity budget per operation (list fields cost their page size)",
			set: func(c *Config, v string) error { return parseInt(v, 1, 10_000_000, &c.Limits.MaxComplexity) }},
		{Name: "SWITCHBOARD_MAX_ALIASES", Default: "30", Doc: "most aliases per operation",
			set: func(c *Config, v string) error { return parseInt(v, 1, 10_000, &c.Limits.MaxAliases) }},
		{Name: "SWITCHBOARD_MAX_ROOT_FIELDS", Default: "10", Doc: "most root fields per operation",
			set: func(c *Config, v string) error { return parseInt(v, 1, 1000, &c.Limits.MaxRootFields) }},
		{Name: "SWITCHBOARD_OPERATION_TIMEOUT", Default: "15s", Doc: "time limit for one query or mutation",
			set: func(c *Config, v string) error {
				return parseDuration(v, 100*time.Millisecond, &c.Limits.OperationTimeout)
			}},
		{Name: "SWITCHBOARD_WS_INIT_TIMEOUT", Default: "10s", Doc: "time a WebSocket client has to send connection_init",
			set: func(c *Config, v string) error {
				return parseDuration(v, 100*time.Millisecond, &c.Limits.WSInitTimeout)
			}},
		{Name: "SWITCHBOARD_WS_PING_INTERVAL", Default: "20s", Doc: "WebSocket ping interval; a client that misses two pongs is dropped",
			set: func(c *Config, v string) error {
				return parseDuration(v, 100*time.Millisecond, &c.Limits.WSPingInterval)
			}},
		{Name: "SWITCHBOARD_STREAM_STALL_TIMEOUT", Default: "10s", Doc: "how long a live subscription may take none of the events it has pending before its stream is closed as too slow (SLOW_CONSUMER; it resumes from its cursor)",
			set: func(c *Config, v string) error {
				return parseDuration(v, 10*time.Millisecond, &c.Limits.StreamStallTimeout)
			}},
		{Name: "SWITCHBOARD_WS_MAX_MESSAGE", Default: "65536", Doc: "largest WebSocket message accepted from a client, in bytes",
			set: func(c *Config, v string) error { return parseInt64(v, 1024, 16<<20, &c.Limits.WSMaxMessage) }},
		{Name: "SWITCHBOARD_MAX_STREAMS", Default: "(the open-file limit less a tenth, at least 256, and the database connections)", Doc: "most WebSocket and SSE streams open at once; further ones are answered 503 TOO_MANY_STREAMS",
			set: func(c *Config, v string) error { return parseInt(v, 1, 10_000_000, &c.Limits.MaxStreams) }},
		{Name: "SWITCHBOARD_SHUTDOWN_TIMEOUT", Default: "20s", Doc: "how long graceful shutdown waits for in-flight requests",
			set: func(c *Config, v string) error { return parseDuration(v, 0, &c.ShutdownTimeout) }},
	}
}

// Load reads the configuration from getenv (os.Getenv in production, a map in
// tests) and validates it. The error names every variable at fault.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Env:             Development,
		Port:            8080,
		DatabaseMaxOpen: 20,
		Migrate:         true,
		DataDir:         ".data",
		LogLevel:        slog.LevelInfo,
		ShutdownTimeout: 20 * time.Second,
		MailFrom:        "Switchboard <no-reply@switchboard.localhost>",

		SessionIdleTimeout:     30 * time.Minute,
		SessionAbsoluteTimeout: 12 * time.Hour,
		SessionRecheckInterval: 30 * time.Second,
		JobPollInterval:        time.Second,
		NotificationRetention:  90 * 24 * time.Hour,
		NATSStream:             "SWITCHBOARD_EVENTS",
		Limits: Limits{
			MaxBodyBytes:       1 << 20,
			MaxTokens:          5000,
			MaxDepth:           12,
			MaxComplexity:      5000,
			MaxAliases:         30,
			MaxRootFields:      10,
			OperationTimeout:   15 * time.Second,
			WSInitTimeout:      10 * time.Second,
			WSPingInterval:     20 * time.Second,
			StreamStallTimeout: 10 * time.Second,
			WSMaxMessage:       64 << 10,
		},
	}
	// The environment decides defaults of other variables, so read it first.
	if v := getenv("SWITCHBOARD_ENV"); v != "" {
		c.Env = v
	}
	c.Introspection = c.Env == Development

	var errs []error
	for _, v := range Variables() {
		raw := strings.TrimSpace(getenv(v.Name))
		if raw == "" {
			continue
		}
		if err := v.set(&c, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
		}
	}
	if c.PublicURL == "" {
		c.PublicURL = fmt.Sprintf("http://localhost:%d", c.Port)
	}
	if len(c.AllowedOrigins) == 0 {
		if o, err := CanonicalOrigin(c.PublicURL); err == nil {
			c.AllowedOrigins = []string{o}
		}
	}
	if c.SessionAbsoluteTimeout < c.SessionIdleTimeout {
		errs = append(errs, errors.New("SWITCHBOARD_SESSION_ABSOLUTE_TIMEOUT: must not be shorter than the idle timeout"))
	}
	if c.SessionRecheckInterval > c.SessionIdleTimeout/2 {
		errs = append(errs, errors.New("SWITCHBOARD_SESSION_RECHECK_INTERVAL: must be at most half the idle timeout, or subscribed sessions would idle out"))
	}
	if c.IsProduction() {
		if len(c.SecretKey) == 0 {
			errs = append(errs, errors.New("SWITCHBOARD_SECRET_KEY: required in production (32 random bytes, base64: openssl rand -base64 32)"))
		}
		if c.DatabaseURL == "" {
			errs = append(errs, errors.New("DATABASE_URL: required in production"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// CanonicalOrigin returns the origin of an http or https URL the way
// browsers write it in the Origin header: lower-case scheme and host, the
// port only when it is not the scheme's default, nothing after the host.
// Two origins are the same exactly when their canonical forms are equal.
// A path other than "/", a query, a fragment or user information is an
// error: an origin names a site, not a page.
func CanonicalOrigin(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("must be an http or https origin")
	}
	if u.Host == "" || u.Hostname() == "" || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be scheme://host[:port], without path, query or user")
	}
	return u.Scheme + "://" + CanonicalHost(u.Scheme, u.Host), nil
}

// CanonicalHost returns host[:port] (a Host header, or a URL's host) lower
// case, without a trailing dot and without the scheme's default port.
func CanonicalHost(scheme, hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), ""
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func validateURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme == "" || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	return nil
}

func parseInt(v string, lo, hi int, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return fmt.Errorf("must be an integer from %d to %d", lo, hi)
	}
	*dst = n
	return nil
}

func parseInt64(v string, lo, hi int64, dst *int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return fmt.Errorf("must be an integer from %d to %d", lo, hi)
	}
	*dst = n
	return nil
}

func parseBool(v string, dst *bool) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("must be true or false")
	}
	*dst = b
	return nil
}

// natsName is what a JetStream stream name (and a subject token) may be.
var natsName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func parseDuration(v string, min time.Duration, dst *time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < min {
		return fmt.Errorf("must be a duration of at least %s, such as 30s or 15m", min)
	}
	*dst = d
	return nil
}
