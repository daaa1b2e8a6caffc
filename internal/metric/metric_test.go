package metric_test

import (
	"slices"
	"testing"

	"github.com/brazesync/brazesync/internal/metric"
	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsKeepNameHelpAndLabels registers one metric of each kind and
// reads back its name, help, type and labels as a scrape shows them.
func TestMetricsKeepNameHelpAndLabels(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := metric.Counter("t_counter_total", "A counter.")
	cv := metric.CounterVec("t_by_kind_total", "A counter by kind.", "kind", "outcome")
	g := metric.Gauge("t_gauge", "A gauge.")
	hv := metric.HistogramVec("t_seconds", "A histogram by route.", []float64{.1, 1}, "route")
	reg.MustRegister(c, cv, g, hv)
	c.Add(2)
	cv.WithLabelValues("a", "ok").Inc()
	g.Set(3)
	hv.WithLabelValues("/x").Observe(.5)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type family struct {
		help, typ string
		labels    []string
	}
	want := map[string]family{
		"t_counter_total": {"A counter.", "COUNTER", nil},
		"t_by_kind_total": {"A counter by kind.", "COUNTER", []string{"kind", "outcome"}},
		"t_gauge":         {"A gauge.", "GAUGE", nil},
		"t_seconds":       {"A histogram by route.", "HISTOGRAM", []string{"route"}},
	}
	if len(mfs) != len(want) {
		t.Fatalf("gathered %d families, want %d", len(mfs), len(want))
	}
	for _, mf := range mfs {
		w, ok := want[mf.GetName()]
		if !ok {
			t.Errorf("unexpected family %s", mf.GetName())
			continue
		}
		var labels []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		if mf.GetHelp() != w.help || mf.GetType().String() != w.typ || !slices.Equal(labels, w.labels) {
			t.Errorf("%s: help %q, type %s, labels %v; want %q, %s, %v", mf.GetName(), mf.GetHelp(), mf.GetType(), labels, w.help, w.typ, w.labels)
		}
		if n := len(mf.GetMetric()[0].GetHistogram().GetBucket()); w.typ == "HISTOGRAM" && n != 2 {
			t.Errorf("%s has %d buckets, want 2", mf.GetName(), n)
		}
	}
}
