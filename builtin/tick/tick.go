// Package tick runs the daemon's rules on their schedules: each tick
// collects the facts once for every rule that is due, evaluates them,
// decides and acts, and returns a Report of what it did, which the daemon
// logs and which other readers (metrics, a status page) can take from
// Runner.Last at any time.
package tick

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"ptrule/builtin/act"
	"ptrule/builtin/collect"
	"ptrule/engine"
)

// Collector reads the facts of the host: a *collect.Collector.
type Collector interface {
	Collect(collect.CollectOptions) (*engine.Snapshot, error)
}

// Store is the suppression state: marks read and recorded by decisions,
// saved after every tick.
type Store interface {
	engine.Store
	Save(now time.Time) error
}

// Report is what one tick did.
type Report struct {
	// Start is when the tick began.
	Start time.Time
	// Due are the names of the rules that were due, in the rule set's
	// order. A tick with no rule due does nothing and has no report.
	Due []string
	// Shortest is the shortest period among the due rules: a tick that
	// takes longer overran it.
	Shortest time.Duration
	// Processes is how many processes the snapshot held.
	Processes int
	// Matches is how many matches the evaluation found.
	Matches int
	// Collect, Evaluate and Act are how long each step took; Act includes
	// saving the suppression state.
	Collect, Evaluate, Act time.Duration
	// Decisions are the decisions that were applied, fired and
	// suppressed, each with what its actions did.
	Decisions []act.Result
	// CollectErr is set when the facts could not be collected: the tick
	// did nothing else.
	CollectErr error
	// EvalErrors are the expressions that failed for some entity.
	EvalErrors []error
	// FollowErrors are the channels that follow alerts (Alertmanager)
	// and could not be told which matches hold.
	FollowErrors []error
	// SaveErr is set when the suppression state could not be saved.
	SaveErr error
	// Expired are the ignore entries expired at the snapshot's time that
	// were not reported since the rules were loaded or for a day.
	Expired []engine.IgnoreEntry
	// HitsErr is set when the ignore hit counts could not be saved.
	HitsErr error
	// Stopped reports that a stop was asked for before every decision
	// was applied: the rest were not, and their marks not recorded, so
	// the next start acts on them.
	Stopped bool
}

// Took is how long the tick took, from its start to the end of its act
// step.
func (r *Report) Took() time.Duration { return r.Collect + r.Evaluate + r.Act }

// Overran reports whether the tick took longer than the shortest period
// of its due rules.
func (r *Report) Overran() bool { return r.Took() > r.Shortest }

// Fired counts the decisions that fired.
func (r *Report) Fired() int {
	n := 0
	for _, d := range r.Decisions {
		if d.Status == engine.StatusFired {
			n++
		}
	}
	return n
}

// Log writes the report to the daemon's log: errors, one line per fired
// match (and, at debug level, per suppressed one), a debug line with the
// tick's figures, and a warning when the tick overran its interval.
func (r *Report) Log(log *slog.Logger) {
	if r.CollectErr != nil {
		log.Error("collecting facts", "err", r.CollectErr)
		return
	}
	for _, err := range r.EvalErrors {
		log.Error("evaluating", "err", err)
	}
	for _, o := range r.Decisions {
		if o.Status == engine.StatusSuppressed {
			log.Debug("match suppressed", "rule", o.Rule.Name, "entity", o.Entity(), "until", o.Until, "by", o.SuppressedBy)
			continue
		}
		log.Info("match", "rule", o.Rule.Name, "entity", o.Entity(), "key", o.Key, "actions", o.Summary())
	}
	if r.Stopped {
		log.Info("stop: skipping the rest of the tick")
		return
	}
	for _, err := range r.FollowErrors {
		log.Error("telling a channel which alerts hold", "err", err)
	}
	if r.SaveErr != nil {
		log.Error("saving suppression state", "err", r.SaveErr)
	}
	for _, e := range r.Expired {
		log.Warn("ignore entry expired: it hides nothing any more; renew its expires= or remove the line",
			"entry", e.String(), "expired", engine.FormatExpiry(e.Expires), "reason", e.Reason, "owner", e.Owner)
	}
	if r.HitsErr != nil {
		log.Error("saving ignore hit counts", "err", r.HitsErr)
	}
	took := r.Took()
	log.Debug("tick", "rules", strings.Join(r.Due, ","), "processes", r.Processes, "matches", r.Matches, "fired", r.Fired(),
		"took", took.String(), "collect", r.Collect.String(), "evaluate", r.Evaluate.String(), "act", r.Act.String())
	if r.Overran() {
		log.Warn("tick overran its interval; the next one starts late rather than overlapping", "took", took.String(), "interval", r.Shortest.String())
	}
}

// Runner holds the running rules, their schedule and what acts on them. Its
// methods other than Last are called from one goroutine, the daemon's loop.
type Runner struct {
	rules     *engine.RuleSet
	interval  time.Duration
	collector Collector
	actor     *act.Actor
	store     Store
	// next is when each rule is due next, by name.
	next map[string]time.Time
	// quiet counts, by rule and suppress key, the matches a suppression
	// silenced since the key last fired: the next alert says how many.
	// It is kept in memory only, and starts at zero after a restart.
	quiet map[[2]string]int
	last  atomic.Pointer[Report]
	// hits counts which ignore entry hid each process, nil for none.
	hits HitCounter
	// expiredSaid is when each expired ignore entry (by its String) was
	// last reported; Load forgets it, so a load reports them again.
	expiredSaid map[string]time.Time
	// lastSweep is when a tick last decided for every process whether
	// it is ignored, to count every entry's hits.
	lastSweep time.Time
}

// HitCounter counts the processes each ignore entry hid: a
// *state.IgnoreHits.
type HitCounter interface {
	Count(e engine.IgnoreEntry, t time.Time)
	Save() error
}

// expiredEvery is how often an expired ignore entry is reported again.
const expiredEvery = 24 * time.Hour

// hitSweep is how often a tick decides for every process whether it is
// ignored, reading what the ignore list needs, to count the hits of
// entries no rule asked about. `ptrule ignores` reports hits by the day.
const hitSweep = time.Hour

// CountIgnoreHits makes each tick count, in h, the entry that hid each
// process, and save h after the tick.
func (r *Runner) CountIgnoreHits(h HitCounter) { r.hits = h }

// NewRunner returns a Runner that collects with c; Load gives it rules.
func NewRunner(c Collector) *Runner {
	return &Runner{collector: c, next: map[string]time.Time{}, quiet: map[[2]string]int{}, expiredSaid: map[string]time.Time{}}
}

// Load makes a rule set, the config's interval, an actor and a store the
// running ones. Rules keep their schedule across a reload; new ones are
// due now. A rule whose period changed (its every, or the interval it
// follows) is due one new period after its last run: moved from 1h to
// 30s, it must not wait out the hour.
func (r *Runner) Load(rs *engine.RuleSet, interval time.Duration, a *act.Actor, store Store) {
	next := map[string]time.Time{}
	for _, rule := range rs.Rules {
		t, ok := r.next[rule.Name]
		if !ok {
			continue
		}
		if old := r.rules.Rule(rule.Name); old != nil && !t.IsZero() {
			t = t.Add(period(rule, interval) - period(old, r.interval))
		}
		next[rule.Name] = t
	}
	r.next = next
	r.rules, r.interval, r.actor, r.store = rs, interval, a, store
	r.expiredSaid = map[string]time.Time{}
}

// period is a rule's period under the given interval.
func period(rule *engine.Rule, interval time.Duration) time.Duration {
	if rule.Every > 0 {
		return rule.Every
	}
	return interval
}

// Wait returns how long until the next rule is due.
func (r *Runner) Wait(now time.Time) time.Duration {
	soonest := time.Duration(-1)
	for _, rule := range r.rules.Rules {
		if !rule.Enabled {
			continue
		}
		w := max(r.next[rule.Name].Sub(now), 0)
		if soonest < 0 || w < soonest {
			soonest = w
		}
	}
	if soonest < 0 {
		return r.interval // no enabled rule: wake now and then for nothing
	}
	return soonest
}

// Last returns the report of the last tick that had rules due, or nil.
// It is safe to call from any goroutine.
func (r *Runner) Last() *Report { return r.last.Load() }

// StopGrace bounds how long in-flight actions may run after a stop signal:
// then their context is cancelled (a kill's grace period is cut short).
const StopGrace = 10 * time.Second

// Serve runs the rules on their schedules until a signal other than SIGHUP
// arrives on sigs, logging each tick's report. SIGHUP calls reload, which
// may Load new rules. On a stop, the tick under way applies no further
// decision, its actions in flight get StopGrace to finish, and the
// suppression state is saved.
func (r *Runner) Serve(sigs <-chan os.Signal, reload func(), log *slog.Logger) {
	// actCtx bounds in-flight actions once a stop was asked for.
	actCtx, cancelActs := context.WithCancel(context.Background())
	defer cancelActs()
	stopping := make(chan struct{})
	reloads := make(chan struct{}, 1)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				select {
				case reloads <- struct{}{}:
				default:
				}
				continue
			}
			log.Info("stopping", "signal", sig.String())
			close(stopping)
			time.AfterFunc(StopGrace, cancelActs)
			return
		}
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stopping:
			if err := r.Flush(); err != nil {
				log.Error("saving suppression state", "err", err)
			}
			log.Info("ptrule stopped")
			return
		case <-reloads:
			log.Info("reloading")
			reload()
		case <-timer.C:
			if rep := r.Tick(actCtx, stopping); rep != nil {
				rep.Log(log)
			}
		}
		timer.Reset(r.Wait(time.Now()))
	}
}

// Tick runs every rule that is due: one collection serves them all. It
// returns nil when no rule was due. When stopping is closed before every
// decision was applied, the rest are skipped. The report is also published
// for Last.
func (r *Runner) Tick(ctx context.Context, stopping <-chan struct{}) *Report {
	rep := &Report{Start: time.Now()}
	isDue := map[*engine.Rule]bool{}
	for _, rule := range r.rules.Rules {
		if rule.Enabled && !r.next[rule.Name].After(rep.Start) {
			p := period(rule, r.interval)
			isDue[rule] = true
			rep.Due = append(rep.Due, rule.Name)
			r.next[rule.Name] = rep.Start.Add(p)
			if rep.Shortest == 0 || p < rep.Shortest {
				rep.Shortest = p
			}
		}
	}
	if len(rep.Due) == 0 {
		return nil
	}
	defer r.last.Store(rep)
	dueFn := func(rule *engine.Rule) bool { return isDue[rule] }

	// Facts are read as the rules reach them: for most processes, the
	// stat and the owner only.
	snap, err := r.collector.Collect(collect.CollectOptions{})
	rep.Collect = time.Since(rep.Start)
	if err != nil {
		rep.CollectErr = err
		return rep
	}
	defer snap.Release()
	rep.Processes = len(snap.Procs)

	t := time.Now()
	view, matches, errs := r.rules.EvaluateView(snap, dueFn)
	rep.Evaluate, rep.Matches, rep.EvalErrors = time.Since(t), len(matches), errs
	r.ignoreHits(view, rep)
	if r.hits != nil {
		// Saved however the tick ends, a stop included.
		defer func() { rep.HitsErr = r.hits.Save() }()
	}

	t = time.Now()
	defer func() { rep.Act = time.Since(t) }()
	// Whatever happens below, what was queued goes to the channels.
	defer r.actor.EndTick()
	for _, dec := range r.actor.Decide(matches, r.store, snap.Time) {
		select {
		case <-stopping:
			// Stop asked: what is left of this tick is not started, and
			// its suppressions are not recorded, so the next start
			// alerts on what this one did not.
			rep.Stopped = true
			return rep
		default:
		}
		r.countQuiet(&dec)
		o := r.actor.Apply(ctx, dec, false)
		if dec.Status == engine.StatusFired {
			// The actions ran (alerts handed to their channels): now
			// the match may silence its repeats.
			o.Commit(r.store)
		}
		rep.Decisions = append(rep.Decisions, o)
	}
	r.pruneQuiet(snap.Time)
	r.follow(ctx, rep, dueFn, snap.Time)
	rep.SaveErr = r.Flush()
	return rep
}

// ignoreHits counts the entry that hid each process of the view whose
// ignore decision was made, and reports the expired entries not reported
// since the load or for a day. A tick decides only for the processes a
// rule asked about; once every hitSweep it decides for all, so that an
// entry that hides only processes no rule looks at (a root daemon's)
// still shows as used in `ptrule ignores`.
func (r *Runner) ignoreHits(v *engine.View, rep *Report) {
	if r.hits != nil {
		if v.Time.Sub(r.lastSweep) >= hitSweep {
			v.DecideAll()
			r.lastSweep = v.Time
		}
		for i := range v.Procs {
			if e, ok := v.DecidedIgnoredBy(i); ok {
				r.hits.Count(e, v.Time)
			}
		}
	}
	for _, e := range r.rules.Ignore.Expired(v.Time) {
		k := e.String()
		if said, ok := r.expiredSaid[k]; ok && v.Time.Sub(said) < expiredEvery {
			continue
		}
		r.expiredSaid[k] = v.Time
		rep.Expired = append(rep.Expired, e)
	}
}

// countQuiet counts a suppressed decision under the key that silenced it,
// and gives a fired one the count of its keys, which start again at zero.
func (r *Runner) countQuiet(d *engine.Decision) {
	if d.Status == engine.StatusSuppressed {
		r.quiet[[2]string{d.Rule.Name, d.SuppressedBy}]++
		return
	}
	for _, key := range d.SuppressKeys() {
		k := [2]string{d.Rule.Name, key}
		d.Quieted += r.quiet[k]
		delete(r.quiet, k)
	}
}

// pruneQuiet forgets the counts of keys whose suppression is over: their
// match did not fire again (its entity is gone), and nothing would ever
// report them.
func (r *Runner) pruneQuiet(now time.Time) {
	for k := range r.quiet {
		if until, ok := r.store.Until(k[0], k[1]); !ok || !now.Before(until) {
			delete(r.quiet, k)
		}
	}
}

// follow tells the channels that follow alerts while they hold
// (Alertmanager) which matches of each due rule hold now, so that they
// keep those firing and resolve the rest. A rule that failed for some
// entity is left out this time: what failed may still hold, and must not
// be resolved for a failure.
func (r *Runner) follow(ctx context.Context, rep *Report, due func(*engine.Rule) bool, now time.Time) {
	failed := map[string]bool{}
	for _, err := range rep.EvalErrors {
		var ee *engine.EvalError
		if errors.As(err, &ee) {
			failed[ee.Rule] = true
		}
	}
	for _, rule := range r.rules.Rules {
		if !rule.Enabled || !due(rule) || failed[rule.Name] {
			continue
		}
		for _, d := range r.actor.Hold(ctx, rule, period(rule, r.interval), rep.Decisions, now) {
			if d.Err != nil {
				rep.FollowErrors = append(rep.FollowErrors, d.Err)
			}
		}
	}
}

// Flush saves the suppression state.
func (r *Runner) Flush() error {
	if r.store == nil {
		return nil
	}
	return r.store.Save(time.Now())
}
