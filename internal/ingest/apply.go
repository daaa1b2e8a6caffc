package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/redis/go-redis/v9"
)

// Upserter applies records to profiles; *profiles.Store implements it.
type Upserter interface {
	Upsert(ctx context.Context, account, stream string, records []profiles.Record) (profiles.Result, error)
}

// apply applies the records of msgs, grouped by stream, and acknowledges
// and deletes the messages.
func (p *Processor) apply(ctx context.Context, acct string, msgs []redis.XMessage) error {
	type origin struct {
		index int // item index in its request
	}
	type batch struct {
		records []profiles.Record
		origins []origin
	}
	batches := map[string]*batch{}
	var order []string
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
		if len(m.Values) == 0 {
			continue // deleted after it was read: only acknowledge it
		}
		stream, records, index, skip, arrival, err := decodeEntry(m)
		if err != nil {
			p.log.Error("undecodable ingest entry moved to dead letters", "account", acct, "id", m.ID, "err", err)
			p.deadLetter(ctx, acct, m, err.Error())
			ids = ids[:len(ids)-1]
			continue
		}
		b := batches[stream]
		if b == nil {
			b = &batch{}
			batches[stream] = b
			order = append(order, stream)
		}
		for i, rec := range records {
			if skip[index[i]] {
				continue
			}
			rec.Arrival = arrival
			b.records = append(b.records, rec)
			b.origins = append(b.origins, origin{index: index[i]})
		}
	}
	for _, stream := range order {
		b := batches[stream]
		res, err := p.up.Upsert(ctx, acct, stream, b.records)
		if err != nil {
			return fmt.Errorf("applying %d records of stream %q: %w", len(b.records), stream, err)
		}
		if len(res.Rejected) > 0 {
			rej := make([]profiles.Rejection, len(res.Rejected))
			for i, r := range res.Rejected {
				rej[i] = profiles.Rejection{Index: b.origins[r.Index].index, Reason: r.Reason}
			}
			if err := writeRejections(ctx, p.rdb, p.keys.streamLog(acct, stream), rej); err != nil {
				p.log.Warn("writing rejections to the stream log", "account", acct, "stream", stream, "err", err)
			}
		}
	}
	if len(ids) > 0 {
		if err := p.ackDelete(ctx, acct, ids); err != nil {
			return err
		}
	}
	return nil
}

func (p *Processor) ackDelete(ctx context.Context, acct string, ids []string) error {
	key := p.keys.queue(acct)
	pipe := p.rdb.TxPipeline()
	pipe.XAck(ctx, key, consumerGroup, ids...)
	pipe.XDel(ctx, key, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("acknowledging %d ingest entries of account %q: %w", len(ids), acct, err)
	}
	return nil
}

// decodeEntry reads one queued request.
func decodeEntry(m redis.XMessage) (stream string, records []profiles.Record, index []int, skip map[int]bool, arrival time.Time, err error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	stream = str(fieldStream)
	if stream == "" {
		return "", nil, nil, nil, time.Time{}, errors.New("entry without stream")
	}
	ms, err := strconv.ParseInt(str(fieldArrival), 10, 64)
	if err != nil {
		return "", nil, nil, nil, time.Time{}, fmt.Errorf("entry arrival time: %w", err)
	}
	parsed, err := parseRecords(str(fieldContentType), str(fieldBody))
	if err != nil {
		return "", nil, nil, nil, time.Time{}, err
	}
	records, index = parsed.Records, parsed.Index
	if r := str(fieldRejected); r != "" {
		skip = map[int]bool{}
		for _, s := range strings.Split(r, ",") {
			if i, err := strconv.Atoi(s); err == nil {
				skip[i] = true
			}
		}
	}
	return stream, records, index, skip, time.UnixMilli(ms), nil
}
