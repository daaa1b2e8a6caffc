package workers

import (
	"context"
	"time"

	"github.com/brazesync/brazesync/internal/metric"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

type taskMetrics struct {
	outcomes *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newTaskMetrics(reg prometheus.Registerer) *taskMetrics {
	m := &taskMetrics{
		outcomes: metric.CounterVec("brazesync_tasks_total", "Tasks processed by type and outcome (success, wait, retry, failed).", "type", "outcome"),
		seconds:  metric.HistogramVec("brazesync_task_seconds", "Task processing time by type.", prometheus.ExponentialBuckets(0.005, 3, 10), "type"),
	}
	reg.MustRegister(m.outcomes, m.seconds)
	return m
}

// observe is the middleware every task goes through: it counts outcomes,
// times tasks and classifies errors once (a permanent fault becomes
// asynq.SkipRetry).
func (s *Server) observe(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := skipRetry(next.ProcessTask(ctx, t))
		s.metrics.seconds.WithLabelValues(t.Type()).Observe(time.Since(start).Seconds())
		outcome := "success"
		switch {
		case err == nil:
		case !IsFailure(err):
			outcome = "wait"
		case isPermanent(err):
			outcome = "failed"
		default:
			outcome = "retry"
		}
		s.metrics.outcomes.WithLabelValues(t.Type(), outcome).Inc()
		return err
	})
}

// QueueCollector exports Asynq queue sizes to Prometheus.
type QueueCollector struct {
	inspector *asynq.Inspector
	size      *prometheus.Desc
	// up is 1 when the queues could be read, 0 when Redis failed (the
	// sizes are then missing, not zero).
	up *prometheus.Desc
}

// NewQueueCollector returns a collector reading queues through inspector.
func NewQueueCollector(inspector *asynq.Inspector) *QueueCollector {
	return &QueueCollector{inspector: inspector,
		size: prometheus.NewDesc("brazesync_queue_tasks", "Tasks in each Asynq queue by state.", []string{"queue", "state"}, nil),
		up:   prometheus.NewDesc("brazesync_queue_stats_up", "1 when every Asynq queue could be read for brazesync_queue_tasks, 0 when Redis failed.", nil, nil)}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.size; ch <- c.up }

// Collect implements prometheus.Collector. A Redis failure does not fail
// the whole scrape: brazesync_queue_stats_up says it.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	up := 1.0
	defer func() { ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up) }()
	queues, err := c.inspector.Queues()
	if err != nil {
		up = 0
		return
	}
	for _, q := range queues {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			up = 0
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled, "retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), q, state)
		}
	}
}
