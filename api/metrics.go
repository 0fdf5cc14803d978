package api

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vhsm/vhsm/replica/client"
)

// Metrics are the API's Prometheus metrics:
//
//   - vhsm_api_requests_total{route,method,status}
//   - vhsm_api_request_duration_seconds{route,method} (histogram)
//   - vhsm_api_rate_limited_total
//   - vhsm_api_panics_total
//   - vhsm_hsm_culprits_total{op,replica,reason}: replicas whose answers the
//     HSM client discarded as provably wrong (see [Metrics.ObserveCulprits]).
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	rateLimited prometheus.Counter
	panics      prometheus.Counter
	culprits    *prometheus.CounterVec
}

// NewMetrics registers the API's metrics (and the Go runtime and process
// collectors) in reg; nil means a new registry.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vhsm_api_requests_total", Help: "API requests by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vhsm_api_request_duration_seconds", Help: "API request latency by route pattern and method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vhsm_api_rate_limited_total", Help: "Requests refused with 429 (per-token or failed-authentication limits).",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vhsm_api_panics_total", Help: "Handler panics recovered into a 500 (should stay 0).",
		}),
		culprits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vhsm_hsm_culprits_total", Help: "HSM replica answers discarded as provably wrong, by operation, replica and reason.",
		}, []string{"op", "replica", "reason"}),
	}
	reg.MustRegister(m.requests, m.latency, m.rateLimited, m.panics, m.culprits)
	return m
}

// ObserveCulprits counts culprits; pass it to client.New with
// client.WithCulpritHandler.
func (m *Metrics) ObserveCulprits(op string, culprits []client.Culprit) {
	for _, c := range culprits {
		m.culprits.WithLabelValues(op, strconv.Itoa(c.Replica), c.Reason).Inc()
	}
}

// Registry returns the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
