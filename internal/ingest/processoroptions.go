package ingest

import (
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Defaults of ProcessorOptions.
const (
	ConcurrencyDefault   = 4
	ReadCountDefault     = 1000
	PollIntervalDefault  = 25 * time.Millisecond
	ClaimIdleDefault     = 30 * time.Second
	ClaimIntervalDefault = 5 * time.Second
	MaxDeliveriesDefault = 20
	RetryBackoffDefault  = time.Second
	LingerDefault        = 50 * time.Millisecond
	TurnDefault          = time.Second
	// ForgetConsumersAfterDefault is the default of ForgetConsumersAfter.
	ForgetConsumersAfterDefault = time.Hour
	maxRetryBackoff             = 30 * time.Second
)

// ProcessorOptions tune a Processor; the zero value uses the defaults.
type ProcessorOptions struct {
	Logger *slog.Logger
	// Consumer names this processor in the consumer groups (default
	// hostname-pid). Two live processors must not share a name.
	Consumer string
	// Concurrency is how many accounts are processed at once.
	Concurrency int
	// ReadCount is how many queued requests one read takes.
	ReadCount int
	// PollInterval is how often the active-account set is read when idle.
	PollInterval time.Duration
	// ClaimIdle is how long a request may stay unacknowledged with another
	// consumer (e.g. one that crashed) before this one takes it over.
	ClaimIdle time.Duration
	// ClaimInterval is how often each account is checked for such requests.
	ClaimInterval time.Duration
	// MaxDeliveries is how often a request is tried before it is moved to
	// the account's dead-letter stream.
	MaxDeliveries int64
	// RetryBackoff is the first wait after a failed apply; it doubles up to
	// 30 s.
	RetryBackoff time.Duration
	// Linger is how long the processor waits after a read that found fewer
	// requests than it asked for before it reads again: under a steady
	// stream of requests it then applies them in batches of hundreds, whose
	// fixed costs (round trips, transactions) are shared, instead of a few
	// at a time. It adds at most Linger to the time until an event is in its
	// profile; a processor lingers only while no other account waits for
	// one of its slots (default 50 ms).
	Linger time.Duration
	// Turn is how long the processor keeps applying one account's requests
	// while they keep coming before it gives the slot to an account waiting
	// for one of its Concurrency slots (default 1 s). An account that has
	// caught up gives its slot to a waiting one at once.
	Turn time.Duration
	// ForgetConsumersAfter is how long another consumer with nothing pending
	// must have been silent before it is removed from the group (a process
	// that restarted under a new name leaves its old one behind; default 1 h).
	ForgetConsumersAfter time.Duration
}

func (o ProcessorOptions) withDefaults() ProcessorOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = host + "-" + strconv.Itoa(os.Getpid())
	}
	if o.Concurrency <= 0 {
		o.Concurrency = ConcurrencyDefault
	}
	if o.ReadCount <= 0 {
		o.ReadCount = ReadCountDefault
	}
	if o.PollInterval <= 0 {
		o.PollInterval = PollIntervalDefault
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = ClaimIdleDefault
	}
	if o.ClaimInterval <= 0 {
		o.ClaimInterval = ClaimIntervalDefault
	}
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = MaxDeliveriesDefault
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = RetryBackoffDefault
	}
	if o.Linger <= 0 {
		o.Linger = LingerDefault
	}
	if o.Turn <= 0 {
		o.Turn = TurnDefault
	}
	if o.ForgetConsumersAfter <= 0 {
		o.ForgetConsumersAfter = ForgetConsumersAfterDefault
	}
	return o
}
