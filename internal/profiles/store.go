package profiles

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	BatchSizeDefault  = 500
	MappingTTLDefault = 2 * time.Second
)

// maxBatchArguments and maxBatchBytes bound a batch however large
// BatchSize is: its records and identities (the arguments of its commit)
// and its data.
const (
	maxBatchArguments = 400_000
	maxBatchBytes     = 16 << 20
)

// ErrNotFound is returned when no profile matches.
var ErrNotFound = errors.New("profile not found")

// Options tune a Store. The zero value uses the defaults.
type Options struct {
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// BatchSize is the number of records written by one commit (default
	// BatchSizeDefault).
	BatchSize int
	// MappingTTL is how long a stream mapping read from Redis is cached in
	// this process (default MappingTTLDefault). A changed mapping takes
	// effect everywhere within it.
	MappingTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = BatchSizeDefault
	}
	if o.MappingTTL <= 0 {
		o.MappingTTL = MappingTTLDefault
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store keeps the profiles of every account in Redis.
type Store struct {
	rdb  redis.UniversalClient
	keys keys
	hook ChangeHook
	opt  Options
	log  *slog.Logger

	mu       sync.Mutex
	mappings map[string]cachedMapping
	// createdScratch recycles *createdProfiles (see addCreationWrites).
	createdScratch sync.Pool

	// onTurnWait, when not nil, is called each time a writer finds the
	// write turn taken and pauses (tests wait on it).
	onTurnWait func()
}

type cachedMapping struct {
	m       *compiledMapping
	expires time.Time
}

// New returns a Store. hook, when not nil, is told about every change after
// it is stored; it may be called concurrently.
func New(rdb redis.UniversalClient, ns keyspace.Namespace, hook ChangeHook, opts Options) *Store {
	opts = opts.withDefaults()
	return &Store{
		rdb:            rdb,
		keys:           keys{ns: ns},
		hook:           hook,
		opt:            opts,
		log:            opts.Logger.With("component", "profiles"),
		mappings:       map[string]cachedMapping{},
		createdScratch: sync.Pool{New: func() any { return new(createdProfiles) }},
	}
}

// Rejection names a record that was not applied and why.
type Rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	// Kind says what of the record is wrong: RejectedValue...
	Kind string `json:"-"`
}

// Result counts what an Upsert did.
type Result struct {
	Applied  int         `json:"applied"`
	Rejected []Rejection `json:"rejected,omitempty"`
}

// Check maps and types records without writing anything and returns the
// rejections, as Upsert would give them.
func (s *Store) Check(ctx context.Context, account, stream string, records []Record) ([]Rejection, error) {
	check, err := s.NewCheck(ctx, account, stream)
	if err != nil {
		return nil, err
	}
	var rej []Rejection
	for i, r := range records {
		if err := check(r); err != nil {
			rej = append(rej, Rejection{Index: i, Reason: err.Error(), Kind: rejectionKind(err)})
		}
	}
	return rej, nil
}

// RecordCheck checks one record as Upsert would map and type it, writing
// nothing: nil, or the *RecordError that would reject it.
type RecordCheck func(Record) error

// NewCheck returns the check of records of stream into account's
// profiles, under the stream's mapping as it is now. A RecordCheck is used
// by one goroutine at a time.
func (s *Store) NewCheck(ctx context.Context, account, stream string) (RecordCheck, error) {
	m, err := s.compiledMapping(ctx, account, stream)
	if err != nil {
		return nil, err
	}
	pr := m.newPreparer(s.opt.Now(), false)
	return func(r Record) error {
		_, err := pr.prepare(r)
		return err
	}, nil
}

// idNumber orders profile ids; ids are decimal numbers.
func idNumber(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
}
