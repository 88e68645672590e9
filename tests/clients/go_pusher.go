// A batch job as the Go client library's push package pushes it, for
// tests/go_client.rs. Built offline in GOPATH mode against Debian's
// golang-github-prometheus-client-golang-dev.
//
//	go_pusher URL push|add|delete
//
// PUSH_TOKEN sends a bearer token; PUSH_USER and PUSH_PASSWORD use the
// pusher's own basic auth.
package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

// bearer adds a bearer token, which the push package has no option for.
type bearer struct{ token string }

func (b bearer) Do(request *http.Request) (*http.Response, error) {
	if b.token != "" {
		request.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultClient.Do(request)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_pusher URL push|add|delete")
		os.Exit(2)
	}
	url, action := os.Args[1], os.Args[2]

	lastSuccess := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "batch_last_success_timestamp_seconds",
		Help: "Last time the batch job succeeded.",
	})
	lastSuccess.Set(1700000000.5)
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "batch_records_total",
		Help: "Records processed.",
	}, []string{"table"})
	records.WithLabelValues("users").Add(42)
	records.WithLabelValues("orders").Add(7)
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "batch_step_duration_seconds",
		Help:    "Duration of each step.",
		Buckets: []float64{0.005, 0.1, 1, 2.5, 10},
	})
	for _, seconds := range []float64{0.003, 0.05, 0.7, 3, 20} {
		duration.Observe(seconds)
	}
	rowBytes := prometheus.NewSummary(prometheus.SummaryOpts{
		Name:       "batch_row_bytes",
		Help:       "Row sizes.",
		Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001},
	})
	for i := 1; i <= 100; i++ {
		rowBytes.Observe(float64(i))
	}

	pusher := push.New(url, "batch").
		Grouping("instance", "worker-1").
		Client(bearer{os.Getenv("PUSH_TOKEN")})
	if user := os.Getenv("PUSH_USER"); user != "" {
		pusher = pusher.BasicAuth(user, os.Getenv("PUSH_PASSWORD"))
	}
	var err error
	switch action {
	case "push":
		err = pusher.Collector(lastSuccess).Collector(records).
			Collector(duration).Collector(rowBytes).Push()
	case "add":
		// POST: replaces the gauge only, keeping the group's other families.
		lastSuccess.Set(1700000100)
		err = pusher.Collector(lastSuccess).Add()
	case "delete":
		err = pusher.Delete()
	default:
		err = fmt.Errorf("unknown action %q", action)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
