package gateway

import (
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"

	"switchboard/db"
)

// metrics are the gateway's Prometheus metrics, on a registry of its own so
// that several gateways in one test process do not collide.
type metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	websockets    prometheus.Gauge
	subscriptions prometheus.Gauge
	// streamsEnded counts streams the server ended on purpose, by reason.
	streamsEnded *prometheus.CounterVec
	names        operationNames
}

func newMetrics(database *db.DB) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_graphql_operations_total",
			Help: "GraphQL operations executed, by operation name and type.",
		}, []string{"operation", "type"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_graphql_operation_duration_seconds",
			Help:    "Time to execute a GraphQL query or mutation (subscriptions: time to set up), by operation name and type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_graphql_errors_total",
			Help: "Errors returned to clients, by extensions.code.",
		}, []string{"code"}),
		websockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_websockets_open",
			Help: "WebSocket connections open now.",
		}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_subscriptions_active",
			Help: "GraphQL subscriptions running now, over WebSocket or SSE.",
		}),
		streamsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_streams_ended_total",
			Help: "Streams a subscription ended on purpose, by reason (SLOW_CONSUMER: it fell behind what it was sent).",
		}, []string{"reason"}),
		names: operationNames{seen: map[string]bool{}},
	}
	m.registry.MustRegister(m.requests, m.duration, m.errors, m.websockets, m.subscriptions, m.streamsEnded,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if pool := database.RequestPool(); pool != nil {
		m.registry.MustRegister(collectors.NewDBStatsCollector(pool, "switchboard"))
	}
	if pool := database.Pool(); pool != nil {
		m.registry.MustRegister(collectors.NewDBStatsCollector(pool, "switchboard_owner"))
	}
	m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "switchboard_db_statements_total",
		Help: "Statements request work sent to the database, BEGIN and COMMIT included.",
	}, func() float64 { return float64(database.Statements()) }))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// OperationDone implements resolvers.Observer.
func (m *metrics) OperationDone(name string, kind ast.Operation, d time.Duration) {
	label := m.names.label(name)
	m.requests.WithLabelValues(label, string(kind)).Inc()
	m.duration.WithLabelValues(label, string(kind)).Observe(d.Seconds())
}

// ErrorReturned implements resolvers.Observer.
func (m *metrics) ErrorReturned(code string) {
	if code == "" {
		code = "NONE"
	}
	m.errors.WithLabelValues(code).Inc()
}

// SubscriptionStarted implements resolvers.Observer.
func (m *metrics) SubscriptionStarted() { m.subscriptions.Inc() }

// SubscriptionEnded implements resolvers.Observer.
func (m *metrics) SubscriptionEnded() { m.subscriptions.Dec() }

// operationNames bounds the label values clients can create: a name must
// look like a GraphQL name, and after maxOperationNames distinct ones the
// rest count as "other".
type operationNames struct {
	mu   sync.Mutex
	seen map[string]bool
}

const maxOperationNames = 200

var operationNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func (o *operationNames) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	if !operationNamePattern.MatchString(name) {
		return "other"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[name] {
		return name
	}
	if len(o.seen) >= maxOperationNames {
		return "other"
	}
	o.seen[name] = true
	return name
}
