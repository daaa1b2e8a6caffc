package profiles

import "errors"

// A Bulk's batches whose records its Preread found new are resolved without
// reading, against what the account holds once the commits before them
// have applied, and committed up to maxGroup per commit. On a commitStream
// the next commit is sent while the one before still runs, linked to it
// (chainLink); without one (a client redispipe cannot reproduce, such as a
// ring), they are committed one at a time.

// maxGroup bounds the batches of one commit of new records: the commit
// holds Redis for as long as it runs.
const maxGroup = 4

// maxFlight bounds the commits of new records in flight at once on a
// commitStream: while Redis runs one, the next one is on its way behind it
// (see chainLink), so that Redis does not wait for the writer between
// them.
const maxFlight = 2

// flightGroup is a commit of new records in flight.
type flightGroup struct {
	ps   []*pending
	link chainLink
	done chan error
}

// applyFresh resolves a batch of new records without reading and queues
// it for a commit, launching one when there is room. queued is false when
// the batch could not be resolved so (the CreationHook's definitions
// changed): it is then to be read.
func (a *applier) applyFresh(b []prepared) (queued bool, err error) {
	pver, seq := a.freshBase()
	p, err := a.s.resolveFresh(a.ctx, a.account, b, pver, seq, a.bulk.hookVals)
	if err != nil {
		return false, a.failed(len(b), err)
	}
	if p.stale {
		return false, nil
	}
	a.bulk.freshBatches++
	a.queue = append(a.queue, p)
	if err := a.settleGroup(len(a.queue) >= maxGroup && a.flightFull()); err != nil {
		return true, err
	}
	a.launch()
	return true, nil
}

// freshBase is the write version and id counter of the account once every
// commit before the next batch has applied.
func (a *applier) freshBase() (pver, seq int64) {
	switch {
	case len(a.queue) > 0:
		last := a.queue[len(a.queue)-1]
		return last.pver + 1, last.w.next
	case len(a.flight) > 0:
		ps := a.flight[len(a.flight)-1].ps
		last := ps[len(ps)-1]
		return last.pver + 1, last.w.next
	}
	return a.bulk.pver, a.bulk.seq
}

// flightFull tells whether no further commit may be launched yet.
func (a *applier) flightFull() bool {
	return len(a.flight) >= maxFlight || (a.stream == nil && len(a.flight) > 0)
}

// launch commits the queued batches as one, when there is room in flight:
// on the commitStream (opened at the first launch), linked to the commit
// before it, else on its own.
func (a *applier) launch() {
	if len(a.queue) == 0 || a.flightFull() {
		return
	}
	if a.stream == nil && !a.noStream {
		var err error
		if a.stream, err = a.s.openStream(a.ctx, a.account); err != nil {
			a.noStream = true
			a.s.log.Warn("profiles: committing new records one at a time", "account", a.account, "err", err)
		}
	}
	g := &flightGroup{ps: a.queue, done: make(chan error, 1)}
	a.queue = nil
	if a.stream == nil {
		a.flight = append(a.flight, g)
		go func() { g.done <- a.s.commit(a.ctx, a.account, g.ps...) }()
		return
	}
	g.link.token = a.bulk.nextToken()
	if len(a.flight) > 0 {
		g.link.after = a.flight[len(a.flight)-1].link.token
	}
	a.flight = append(a.flight, g)
	a.stream.send(a.s.commitCommands(a.account, g.link, g.ps), g)
}

// settleGroup takes the outcome of the oldest commit in flight, waiting
// for it when wait. When it did not apply, the commits after it cannot
// have applied either (their links); their batches and the queued ones are
// written on their own.
func (a *applier) settleGroup(wait bool) error {
	if len(a.flight) == 0 {
		return nil
	}
	g := a.flight[0]
	var err error
	if wait {
		err = <-g.done
	} else {
		select {
		case err = <-g.done:
		default:
			return nil
		}
	}
	a.flight = a.flight[1:]
	if err == nil {
		for _, p := range g.ps {
			a.committed(p)
		}
		return nil
	}
	redo := g.ps
	for _, h := range a.flight {
		<-h.done
		redo = append(redo, h.ps...)
	}
	a.flight = nil
	redo = append(redo, a.queue...)
	a.queue = nil
	if !errors.Is(err, errStaleCommit) {
		n := 0
		for _, p := range redo {
			n += len(p.batch)
		}
		return a.failed(n, err)
	}
	for _, p := range redo {
		if err := a.alone(p.batch); err != nil {
			return err
		}
	}
	return nil
}

// drain writes every batch of new records resolved so far.
func (a *applier) drain() error {
	for len(a.flight) > 0 || len(a.queue) > 0 {
		if len(a.queue) > 0 && !a.flightFull() {
			a.launch()
			continue
		}
		if err := a.settleGroup(true); err != nil {
			return err
		}
	}
	return nil
}

// abandonFlight waits for the commits in flight after an error, taking
// note of those that applied, and writes nothing more.
func (a *applier) abandonFlight() {
	ok := true
	for _, g := range a.flight {
		if err := <-g.done; err != nil || !ok {
			ok = false
			continue
		}
		for _, p := range g.ps {
			a.committed(p)
		}
	}
	a.flight = nil
}

// closeStream closes the commitStream, if one was opened.
func (a *applier) closeStream() {
	if a.stream != nil {
		a.stream.close()
	}
}
