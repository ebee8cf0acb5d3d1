package notify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Delivery after Start: each channel has a lane, a queue with one
// goroutine that sends what is in it, so a slow or failing channel delays
// and drops nothing of another's and a tick never waits for a channel.
// Every queued alert is in the spool until it is delivered or dropped.
const (
	// firstBackoff is the wait before the first retry of a temporary
	// failure; each further retry waits twice as long, up to maxBackoff,
	// with jitter, or longer when the server asked (Retry-After), until
	// the alert is MaxAlertAge old.
	firstBackoff = 2 * time.Second
	maxBackoff   = 5 * time.Minute
	// maxRetryWait caps a server's Retry-After.
	maxRetryWait = time.Hour
	// attemptTimeout bounds one send, on top of the channel's own timeout.
	attemptTimeout = 2 * time.Minute
	// maxQueued bounds a lane's queue when there is no spool.
	maxQueued = MaxSpooled
)

// delivery is the Dispatcher's delivery state after Start.
type delivery struct {
	mu      sync.Mutex
	running bool
	lanes   map[string]*lane
	spool   *Spool
	status  *statusBook
	wg      sync.WaitGroup
	// cancel ends every lane's sends and waits: Stop's grace is over.
	cancel context.CancelFunc
	// draining tells the lanes to exit once their queue is empty.
	draining chan struct{}
}

// lane is one channel's queue and sender.
type lane struct {
	name                    string
	ch                      Channel
	digestAfter, maxPerHour int
	wake                    chan struct{}

	mu sync.Mutex
	// tick holds what was queued in this tick, until EndTick moves it to
	// queue: a tick's alerts are seen together, to digest them.
	tick, queue []*SpoolEntry
	// held says the queue head waits for max_per_hour's hour to end.
	windowStart time.Time
	windowSent  int
}

// Start loads the spool (when the Dispatcher has one), drops what is
// older than MaxAlertAge, and starts one sender per channel. From then on
// Dispatch queues. Alerts spooled for a channel the config no longer has
// stay in the spool (and in `ptrule alerts`) until they are too old. ctx
// ends every sender at once; Stop is the orderly end.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running {
		return errors.New("the alert dispatcher is already started")
	}
	if d.spoolDir != "" {
		sp, err := OpenSpool(d.spoolDir)
		if err != nil {
			return err
		}
		d.spool = sp
	}
	d.status = newStatusBook(d.spoolDir)
	d.lanes = map[string]*lane{}
	for name, ch := range d.channels {
		l := &lane{name: name, ch: ch, digestAfter: DefaultDigestAfter, wake: make(chan struct{}, 1)}
		inner := ch
		if c, ok := ch.(*configured); ok {
			l.digestAfter, l.maxPerHour = c.limits()
			inner = c.Channel
		}
		if _, ok := inner.(*LogChannel); ok {
			// The log writes one line per alert, which the journal
			// keeps and grep finds: it is never digested (ParseChannel
			// refuses digest_after and max_per_hour for it).
			l.digestAfter, l.maxPerHour = math.MaxInt, 0
		}
		d.lanes[name] = l
	}
	if d.spool != nil {
		entries, bad := d.spool.Load()
		for _, err := range bad {
			d.log.Error("alert spool", "err", err)
		}
		now := time.Now()
		orphans := map[string]int{}
		for _, e := range entries {
			if now.Sub(e.Queued) > MaxAlertAge {
				d.drop(e.Channel, []*SpoolEntry{e}, fmt.Sprintf("undelivered for longer than %s", MaxAlertAge))
				continue
			}
			l := d.lanes[e.Channel]
			if l == nil {
				orphans[e.Channel]++
				continue
			}
			l.queue = append(l.queue, e)
		}
		for name, n := range orphans {
			d.log.Warn("spooled alerts for a channel that is not configured are kept until they are too old: add the channel back to deliver them", "channel", name, "alerts", n, "max_age", MaxAlertAge.String())
		}
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.draining = make(chan struct{})
	d.running = true
	for _, l := range d.lanes {
		d.wg.Go(func() { d.run(ctx, l) })
	}
	return nil
}

// enqueue queues a for channels when the Dispatcher is started; ok is
// false when it is not.
func (d *Dispatcher) enqueue(a Alert, channels []string) (res []Result, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return nil, false
	}
	names := dedupe(channels)
	if len(names) == 0 {
		names = d.defaults
	}
	now := time.Now()
	res = make([]Result, len(names))
	for i, name := range names {
		res[i].Channel = name
		ch, known := d.channels[name]
		if f, filters := ch.(severityFilter); filters && !f.takes(a.Severity) {
			res[i].Skipped = true
			continue
		}
		if !known {
			res[i].Err = fmt.Errorf("%w %q: define it under channels: in the config, or fix the alert action (known: %v)", ErrUnknownChannel, name, d.Names())
			continue
		}
		if err := d.lanes[name].add(d.spool, a, now); err != nil {
			res[i].Err = fmt.Errorf("%w: %w", ErrNotQueued, err)
		}
		res[i].Queued = res[i].Err == nil
		if res[i].Err != nil {
			d.log.Error("alert not queued", "channel", name, "rule", a.Rule, "err", res[i].Err)
		}
	}
	return res, true
}

// add puts a in the lane's tick, spooling it first when there is a spool.
func (l *lane) add(sp *Spool, a Alert, now time.Time) error {
	e := &SpoolEntry{Version: spoolVersion, Channel: l.name, Queued: now, Alert: a}
	if sp != nil {
		var err error
		if e, err = sp.Put(l.name, a, now); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if sp == nil && len(l.tick)+len(l.queue) >= maxQueued {
		return fmt.Errorf("%w: %d alerts wait for channel %s", ErrSpoolFull, maxQueued, l.name)
	}
	l.tick = append(l.tick, e)
	return nil
}

// EndTick hands what was queued since the last EndTick to the channels'
// senders: a channel with more than its digest_after alerts waiting gets
// them as one digest. The daemon calls it at the end of each tick.
func (d *Dispatcher) EndTick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.lanes {
		l.endTick()
	}
}

func (l *lane) endTick() {
	l.mu.Lock()
	l.queue = append(l.queue, l.tick...)
	l.tick = nil
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Stop ends delivery: nothing more is queued (Dispatch sends at once
// again), what is queued is delivered within grace, and what is left
// then stays in the spool for the next start. It returns how many alerts
// were left undelivered.
func (d *Dispatcher) Stop(grace time.Duration) int {
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return 0
	}
	d.running = false
	for _, l := range d.lanes {
		l.endTick()
	}
	close(d.draining)
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	timer := time.NewTimer(grace)
	select {
	case <-done:
		timer.Stop()
	case <-timer.C:
		d.cancel()
		<-done
	}
	d.cancel()
	left := 0
	for _, l := range d.lanes {
		l.mu.Lock()
		left += len(l.queue)
		l.mu.Unlock()
	}
	if left > 0 {
		where := "lost: there is no spool"
		if d.spool != nil {
			where = "kept in the spool for the next start"
		}
		d.log.Warn("stop: alerts not delivered within the grace", "alerts", left, "where", where)
	}
	return left
}

// run is a lane's sender.
func (d *Dispatcher) run(ctx context.Context, l *lane) {
	for {
		batch, why := d.next(ctx, l)
		if batch == nil {
			return
		}
		d.deliver(ctx, l, batch, why)
	}
}

// next waits for what the lane sends next: the queue's head, or all of
// the queue (up to maxDigest) as one digest when more than digest_after
// wait, or when max_per_hour held them. It returns nil when the lane is
// to end: ctx is done, or Stop was called and nothing is left that may be
// sent now (what max_per_hour holds stays spooled).
func (d *Dispatcher) next(ctx context.Context, l *lane) ([]*SpoolEntry, string) {
	held := false
	for {
		if ctx.Err() != nil {
			return nil, ""
		}
		l.mu.Lock()
		now := time.Now()
		n := len(l.queue)
		if l.maxPerHour > 0 && !l.windowStart.IsZero() && now.Sub(l.windowStart) >= time.Hour {
			held = held || (l.windowSent >= l.maxPerHour && n > 0)
			l.windowStart, l.windowSent = time.Time{}, 0
		}
		capped := l.maxPerHour > 0 && l.windowSent >= l.maxPerHour
		if n > 0 && !capped {
			batch, why := l.queue[:1], ""
			switch {
			case held && n > 1:
				batch, why = l.queue[:min(n, maxDigest)], fmt.Sprintf("channel %s sends at most %d messages an hour (max_per_hour)", l.name, l.maxPerHour)
			case n > l.digestAfter:
				batch, why = l.queue[:min(n, maxDigest)], fmt.Sprintf("more than %d were waiting for channel %s (digest_after)", l.digestAfter, l.name)
			}
			l.mu.Unlock()
			return batch, why
		}
		var hourEnd <-chan time.Time
		var timer *time.Timer
		if n > 0 && capped {
			timer = time.NewTimer(l.windowStart.Add(time.Hour).Sub(now))
			hourEnd = timer.C
		}
		l.mu.Unlock()
		select {
		case <-d.draining:
			// Stop queues nothing after closing draining, so what was
			// seen above is all there is.
			return nil, ""
		default:
		}
		select {
		case <-ctx.Done():
			return nil, ""
		case <-d.draining:
		case <-l.wake:
		case <-hourEnd:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// deliver sends batch (one alert, or several as one digest) until it is
// delivered, rejected twice, failed permanently, too old, or ctx ends.
func (d *Dispatcher) deliver(ctx context.Context, l *lane, batch []*SpoolEntry, why string) {
	a := batch[0].Alert
	if len(batch) > 1 {
		a = digest(batch, why)
	}
	oldest := batch[0].Queued
	for _, e := range batch {
		if e.Queued.Before(oldest) {
			oldest = e.Queued
		}
	}
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := sendOnce(actx, l.ch, l.name, a)
		cancel()
		if err == nil {
			d.delivered(l, batch)
			return
		}
		if ctx.Err() != nil {
			return // stopping: the batch stays in the spool
		}
		se := Classify(err)
		d.failed(l.name, err)
		switch {
		case se.Rejected && !a.Plain:
			d.log.Warn("alert delivery failed; sending it again as plain, shortened text", "channel", l.name, "alerts", len(batch), "err", err)
			a.Plain = true
			continue
		case se.Rejected:
			d.log.Error("alert delivery failed", "channel", l.name, "alerts", len(batch), "err", err)
			d.forget(l, batch)
			d.drop(l.name, batch, "rejected even as plain text: "+err.Error())
			return
		case !se.Retry:
			d.log.Error("alert delivery failed and is not retried until ptrule restarts: fix the channel's config; the alert stays in the spool", "channel", l.name, "alerts", len(batch), "err", err)
			d.forget(l, batch)
			return
		}
		wait := backoff(attempt)
		if se.RetryAfter > wait {
			wait = min(se.RetryAfter, maxRetryWait)
		}
		if time.Now().Add(wait).Sub(oldest) > MaxAlertAge {
			d.log.Error("alert delivery failed", "channel", l.name, "alerts", len(batch), "err", err)
			d.forget(l, batch)
			d.drop(l.name, batch, fmt.Sprintf("undelivered for longer than %s; last error: %v", MaxAlertAge, err))
			return
		}
		d.log.Warn("alert delivery failed; retrying", "channel", l.name, "alerts", len(batch), "attempt", attempt+1, "retry_in", wait.String(), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is the wait before retry attempt+1: firstBackoff doubled per
// attempt, capped at maxBackoff, less up to a quarter at random so that
// lanes that failed together do not retry together.
func backoff(attempt int) time.Duration {
	w := maxBackoff
	if attempt < 20 {
		w = min(firstBackoff<<attempt, maxBackoff)
	}
	return w - rand.N(w/4+1)
}

// delivered removes a delivered batch from the queue and the spool.
func (d *Dispatcher) delivered(l *lane, batch []*SpoolEntry) {
	d.forget(l, batch)
	l.mu.Lock()
	if l.maxPerHour > 0 {
		if l.windowStart.IsZero() {
			l.windowStart = time.Now()
		}
		l.windowSent++
	}
	l.mu.Unlock()
	d.unspool(batch)
	if err := d.status.update(l.name, func(cs *ChannelStatus) {
		cs.LastDelivered = time.Now()
		cs.Delivered += len(batch)
	}); err != nil {
		d.log.Error("alert delivery status", "err", err)
	}
}

// forget takes batch, the head of the lane's queue, out of it.
func (d *Dispatcher) forget(l *lane, batch []*SpoolEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queue = l.queue[len(batch):]
	if len(l.queue) == 0 {
		l.queue = nil
	}
}

// unspool removes batch's files from the spool.
func (d *Dispatcher) unspool(batch []*SpoolEntry) {
	if d.spool == nil {
		return
	}
	for _, e := range batch {
		if err := d.spool.Remove(e.ID); err != nil {
			d.log.Error("alert spool", "err", err)
		}
	}
}

// failed records a failed attempt in the channel's status.
func (d *Dispatcher) failed(channel string, err error) {
	if uerr := d.status.update(channel, func(cs *ChannelStatus) {
		cs.LastError, cs.LastErrorAt = err.Error(), time.Now()
	}); uerr != nil {
		d.log.Error("alert delivery status", "err", uerr)
	}
}

// drop gives batch up: it is removed from the spool, counted and logged.
func (d *Dispatcher) drop(channel string, batch []*SpoolEntry, why string) {
	d.unspool(batch)
	for _, e := range batch {
		d.log.Error("alert dropped", "channel", channel, "rule", e.Alert.Rule, "subject", e.Alert.Subject, "queued", e.Queued, "why", why)
	}
	if err := d.status.update(channel, func(cs *ChannelStatus) {
		cs.Dropped += len(batch)
		cs.LastDrop = why
	}); err != nil {
		d.log.Error("alert delivery status", "err", err)
	}
}

// Status returns what the delivery of channel last did, as `ptrule
// alerts` shows it; the zero value before Start.
func (d *Dispatcher) Status(channel string) ChannelStatus {
	d.mu.Lock()
	b := d.status
	d.mu.Unlock()
	if b == nil {
		return ChannelStatus{}
	}
	return b.get(channel)
}
