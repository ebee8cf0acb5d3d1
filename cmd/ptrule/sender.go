package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"ptrule/builtin/act"
	"ptrule/builtin/attach"
	"ptrule/notify"
)

// newDispatcher returns the alert Dispatcher of a config: its channels,
// redaction and spool. It queues and spools only once started, as the
// daemon does; unstarted, it sends each alert at once.
func newDispatcher(cfg *Config, log *slog.Logger) *notify.Dispatcher {
	return notify.NewDispatcher(cfg.notifyChannels(log), cfg.DefaultChannels, cfg.notifyOptions(log)...)
}

// newActor returns the actor for a config: alerts through d, kills and
// runs on the host of procRoot, in its mode. perform false is a dry run.
func newActor(cfg *Config, procRoot string, log *slog.Logger, perform bool, d *notify.Dispatcher) *act.Actor {
	return act.New(act.Config{
		Perform:       perform,
		Monitor:       cfg.Mode == modeMonitor,
		MonitorRepeat: cfg.MonitorRepeat,
		Sender:        notifySender{d},
		Enricher:      attach.NewHostEnricher(procRoot),
		Log:           log,
		Foreign:       act.ForeignProcfs(procRoot),
	})
}

// notifySender lets the actor send through notify's Dispatcher: act and
// notify do not import each other, and this is where they meet.
type notifySender struct{ d *notify.Dispatcher }

// Send implements act.Sender.
func (s notifySender) Send(ctx context.Context, a act.Alert, channels []string) []act.Delivery {
	res := s.d.Dispatch(ctx, toNotify(a), channels)
	out := make([]act.Delivery, len(res))
	for i, r := range res {
		out[i] = act.Delivery{Channel: r.Channel, Err: r.Err, NotQueued: errors.Is(r.Err, notify.ErrNotQueued)}
	}
	return out
}

// Route implements act.Sender.
func (s notifySender) Route(severity string, channels []string) (send, skip []string) {
	return s.d.Route(severity, channels)
}

// EndTick implements act.TickEnder: what was queued in the tick goes to
// the channels' senders, as digests where there are many.
func (s notifySender) EndTick() { s.d.EndTick() }

// Follows implements act.Follower: whether an Alertmanager channel is
// configured.
func (s notifySender) Follows() bool { return s.d.Follows() }

// Hold implements act.Follower.
func (s notifySender) Hold(ctx context.Context, rule string, period time.Duration, held []act.Held, now time.Time) []act.Delivery {
	holding := make([]notify.HoldingAlert, len(held))
	for i, h := range held {
		holding[i] = notify.HoldingAlert{Alert: toNotify(h.Alert), Channels: h.Channels}
	}
	res := s.d.ObserveRule(ctx, rule, period, holding, now)
	out := make([]act.Delivery, len(res))
	for i, r := range res {
		out[i] = act.Delivery{Channel: r.Channel, Err: r.Err}
	}
	return out
}

// toNotify is the notify form of an alert.
func toNotify(a act.Alert) notify.Alert {
	return notify.Alert{
		Rule: a.Rule, Severity: a.Severity, Subject: a.Subject, Message: a.Message,
		Host: a.Host, Key: a.Key, Time: a.Time, PID: a.PID, User: a.User, SID: a.SID,
		Suppressed: a.Suppressed, Scope: a.Scope, Facts: a.Facts, Outcomes: a.Outcomes,
	}
}
