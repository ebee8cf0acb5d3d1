package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// amSecrets are the secret files the alertmanager test configs name.
func amSecrets(path string) ([]byte, error) {
	switch path {
	case "/etc/ptrule/am-password":
		return []byte("SECRET-pw\n"), nil
	case "/etc/ptrule/am-token":
		return []byte("SECRET-token\n"), nil
	case "/etc/ptrule/am-two-lines":
		return []byte("SECRET\nSecond: line\n"), nil
	}
	return noFiles(path)
}

// amChannel parses config's channel "am" and builds it.
func amChannel(t *testing.T, config string) *AlertmanagerChannel {
	t.Helper()
	cfg, ps := parse(t, config, "am", amSecrets)
	if len(ps) > 0 {
		t.Fatalf("config refused: %v", ps)
	}
	return cfg.Own.Channel(Env{}).(*AlertmanagerChannel)
}

func TestAlertmanagerConfig(t *testing.T) {
	tests := []struct {
		name, config string
		// want is each problem's start, in order; none means accepted.
		want []string
	}{
		{name: "minimal", config: "{type: alertmanager, urls: [http://am:9093]}"},
		{name: "every key", config: "{type: alertmanager, urls: [http://a:9093, 'https://b/am/'], timeout: 3s, min_severity: warning, username: ptrule, password_file: /etc/ptrule/am-password}"},
		{name: "bearer", config: "{type: alertmanager, urls: [http://a:9093], bearer_token_file: /etc/ptrule/am-token}"},
		{name: "no urls", config: "{type: alertmanager}", want: []string{
			"C:2:3: channel am: an alertmanager channel needs urls: add urls: [http://alertmanager:9093]"}},
		{name: "empty urls", config: "{type: alertmanager, urls: []}", want: []string{
			"C:2:34: channel am: an alertmanager channel needs urls"}},
		{name: "bad urls, each at its place", config: "{type: alertmanager, urls: ['ftp://a', 'http://b:9093/api/v2/alerts', 'http://c:9093', 'http://c:9093/', '://x']}", want: []string{
			"C:2:35: channel am: urls[0] must be an http:// or https:// URL",
			"C:2:46: channel am: urls[1] ends in /api/v2/alerts: give the Alertmanager's base URL",
			"C:2:94: channel am: urls[3] is urls[2] again",
			"C:2:112: channel am: urls[4] not a valid URL (its text is not shown",
		}},
		{name: "negative timeout", config: "{type: alertmanager, urls: ['http://a'], timeout: -1s}", want: []string{
			`C:2:57: timeout: bad duration "-1s"`}},
		{name: "username alone", config: "{type: alertmanager, urls: ['http://a'], username: u}", want: []string{
			"C:2:58: channel am: username needs password_file (or password)"}},
		{name: "password alone", config: "{type: alertmanager, urls: ['http://a'], password_file: /etc/ptrule/am-password}", want: []string{
			"C:2:63: channel am: password_file needs username for basic auth"}},
		{name: "basic and bearer", config: "{type: alertmanager, urls: ['http://a'], username: u, password: p, bearer_token: t}", want: []string{
			"C:2:88: channel am: give basic auth (username, password_file) or bearer_token, not both"}},
		{name: "colon in username", config: "{type: alertmanager, urls: ['http://a'], username: 'a:b', password: p}", want: []string{
			"C:2:58: channel am: username must be on one line and hold no colon"}},
		{name: "token on two lines", config: "{type: alertmanager, urls: ['http://a'], bearer_token_file: /etc/ptrule/am-two-lines}", want: []string{
			"C:2:67: channel am: the bearer token holds a line break"}},
		{name: "missing secret file", config: "{type: alertmanager, urls: ['http://a'], bearer_token_file: /etc/ptrule/none}", want: []string{
			"C:2:67: channel am: bearer_token_file: open /etc/ptrule/none"}},
		{name: "unknown key", config: "{type: alertmanager, url: 'http://a'}", want: []string{
			"C:2:28: unknown key \"url\" in channel am (known keys: type, min_severity, send_resolved, digest_after, max_per_hour, urls, timeout, username, password, password_file, bearer_token, bearer_token_file)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := parse(t, "channels:\n  am: "+tt.config+"\n", "am", amSecrets)
			var got []string
			for _, p := range ps {
				got = append(got, strings.Replace(p.Error(), configPath, "C", 1))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n%s\nwant a start of\n%s", i, got[i], tt.want[i])
				}
				if strings.Contains(got[i], "SECRET") {
					t.Errorf("problem %d shows a secret: %s", i, got[i])
				}
			}
		})
	}
}

func TestAlertmanagerLabels(t *testing.T) {
	long := strings.Repeat("é", alertmanagerLabelMax) // 2 bytes each
	tests := []struct {
		name string
		a    Alert
		want map[string]string
	}{
		{name: "process", a: Alert{Rule: "r", Severity: "critical", Host: "web1", PID: 42, User: "bob"},
			want: map[string]string{"alertname": "r", "severity": "critical", "instance": "web1", "pid": "42", "user": "bob"}},
		{name: "user", a: Alert{Rule: "r", Severity: "info", Host: "h", User: "alice"},
			want: map[string]string{"alertname": "r", "severity": "info", "instance": "h", "user": "alice"}},
		{name: "session", a: Alert{Rule: "r", Severity: "warning", Host: "h", SID: 7},
			want: map[string]string{"alertname": "r", "severity": "warning", "instance": "h", "sid": "7"}},
		{name: "host", a: Alert{Rule: "r", Severity: "warning", Host: "h"},
			want: map[string]string{"alertname": "r", "severity": "warning", "instance": "h"}},
		{name: "extra labels never replace ptrule's", a: Alert{Rule: "r", Severity: "info", Host: "h",
			Labels: map[string]string{"team": "ops", "alertname": "x", "severity": "critical", "instance": "y", "pid": "1", "user": "root", "sid": "9"}},
			want: map[string]string{"alertname": "r", "severity": "info", "instance": "h", "team": "ops"}},
		{name: "names made valid, empty values dropped", a: Alert{Rule: "r", Labels: map[string]string{
			"9lives": "a", "big-team.name": "b", "équipe": "c", "": "d", "empty": "", "blank": " \n "}},
			want: map[string]string{"alertname": "r", "_9lives": "a", "big_team_name": "b", "_quipe": "c"}},
		{name: "hostile values become one clean line", a: Alert{Rule: "r\nx", Host: "h\x1b[31m", User: "bob\u202e\ttab"},
			want: map[string]string{"alertname": "r x", "instance": "h\uFFFD[31m", "user": "bob\uFFFD tab"}},
		{name: "long values cut at a rune", a: Alert{Rule: "r", User: long},
			want: map[string]string{"alertname": "r", "user": strings.Repeat("é", (alertmanagerLabelMax-len(ellipsis))/2) + ellipsis}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AlertmanagerLabels(tt.a)
			if !maps.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// FuzzAlertmanagerLabels checks that whatever an alert holds, its labels
// are ones Alertmanager accepts: valid names, non-empty one-line values of
// valid UTF-8 within the size limit, and ptrule's own labels intact.
func FuzzAlertmanagerLabels(f *testing.F) {
	f.Add("pt-rule", "bob", "team", "ops", 42)
	f.Add("r\n", "\xff\x1b", "9-x.y", "a\u202eb", 0)
	f.Add("", "", "alertname", "x", -1)
	f.Fuzz(func(t *testing.T, rule, user, name, value string, pid int) {
		a := Alert{Rule: rule, Severity: "info", Host: "h", User: user, PID: pid, Labels: map[string]string{name: value}}
		labels := AlertmanagerLabels(a)
		for n, v := range labels {
			if !labelNameRE.MatchString(n) {
				t.Errorf("label name %q is not valid", n)
			}
			if v == "" || !utf8.ValidString(v) || len(v) > alertmanagerLabelMax || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("label %s=%q is not a clean value", n, v)
			}
		}
		if labels["severity"] != "info" || labels["instance"] != "h" {
			t.Errorf("ptrule's labels were replaced: %q", labels)
		}
		if pid != 0 && labels["pid"] != fmt.Sprint(pid) {
			t.Errorf("pid label %q, want %d", labels["pid"], pid)
		}
	})
}

// amAlert is a process alert of rule for pid.
func amAlert(rule string, pid int) Alert {
	return Alert{Rule: rule, Severity: "warning", Host: "web1", PID: pid, User: "bob",
		Subject: fmt.Sprintf("pid %d", pid), Message: "details"}
}

// step is one evaluation fed to a tracker and what it must return, each
// alert as "pid state start end": state firing or resolved, times as
// offsets from t0.
type trackerStep struct {
	rule    string
	period  time.Duration
	at      time.Duration
	holding []Alert
	want    []string
}

func TestAlertmanagerTracker(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	p := time.Minute
	tests := []struct {
		name  string
		steps []trackerStep
	}{
		{name: "fires while it holds, resolves when it stops", steps: []trackerStep{
			{rule: "r", period: p, at: 0, holding: []Alert{amAlert("r", 1), amAlert("r", 2)},
				want: []string{"1 firing 0s 3m0s", "2 firing 0s 3m0s"}},
			// Re-sent at each evaluation, keeping its start.
			{rule: "r", period: p, at: p, holding: []Alert{amAlert("r", 1), amAlert("r", 2)},
				want: []string{"1 firing 0s 4m0s", "2 firing 0s 4m0s"}},
			// 2 stops matching (or is gone): resolved now.
			{rule: "r", period: p, at: 2 * p, holding: []Alert{amAlert("r", 1)},
				want: []string{"1 firing 0s 5m0s", "2 resolved 0s 2m0s"}},
			// Nothing holds: 1 is resolved, once.
			{rule: "r", period: p, at: 3 * p, want: []string{"1 resolved 0s 3m0s"}},
			{rule: "r", period: p, at: 4 * p, want: nil},
			// 2 matches again: a new alert, starting now.
			{rule: "r", period: p, at: 5 * p, holding: []Alert{amAlert("r", 2)},
				want: []string{"2 firing 5m0s 8m0s"}},
		}},
		{name: "rules are followed apart", steps: []trackerStep{
			{rule: "a", period: p, at: 0, holding: []Alert{amAlert("a", 1)}, want: []string{"1 firing 0s 3m0s"}},
			{rule: "b", period: 2 * p, at: 0, holding: []Alert{amAlert("b", 1)}, want: []string{"1 firing 0s 6m0s"}},
			// b's evaluation without the process leaves a's alert alone.
			{rule: "b", period: 2 * p, at: 2 * p, want: []string{"1 resolved 0s 2m0s"}},
			{rule: "a", period: p, at: 2 * p, holding: []Alert{amAlert("a", 1)}, want: []string{"1 firing 0s 5m0s"}},
		}},
		{name: "a change of labels resolves the old alert", steps: []trackerStep{
			{rule: "r", period: p, at: 0, holding: []Alert{amAlert("r", 1)}, want: []string{"1 firing 0s 3m0s"}},
			{rule: "r", period: p, at: p, holding: []Alert{func() Alert { a := amAlert("r", 1); a.Severity = "critical"; return a }()},
				want: []string{"1 firing 1m0s 4m0s", "1 resolved 0s 1m0s"}},
		}},
		{name: "a change of text keeps the alert", steps: []trackerStep{
			{rule: "r", period: p, at: 0, holding: []Alert{amAlert("r", 1)}, want: []string{"1 firing 0s 3m0s"}},
			{rule: "r", period: p, at: p, holding: []Alert{func() Alert { a := amAlert("r", 1); a.Subject = "new"; return a }()},
				want: []string{"1 firing 0s 4m0s"}},
		}},
		{name: "the same labels twice are one alert", steps: []trackerStep{
			{rule: "r", period: p, at: 0, holding: []Alert{amAlert("r", 1), amAlert("r", 1)}, want: []string{"1 firing 0s 3m0s"}},
		}},
		{name: "a short period holds a minute", steps: []trackerStep{
			{rule: "r", period: time.Second, at: 0, holding: []Alert{amAlert("r", 1)}, want: []string{"1 firing 0s 1m0s"}},
			{rule: "r", period: 0, at: time.Second, holding: []Alert{amAlert("r", 1)}, want: []string{"1 firing 0s 1m1s"}},
		}},
		{name: "a clock stepped back never ends an alert before it starts", steps: []trackerStep{
			{rule: "r", period: p, at: 10 * p, holding: []Alert{amAlert("r", 1), amAlert("r", 2)}, want: []string{"1 firing 10m0s 13m0s", "2 firing 10m0s 13m0s"}},
			{rule: "r", period: p, at: 0, holding: []Alert{amAlert("r", 1)}, want: []string{"1 firing 0s 3m0s", "2 resolved 0s 0s"}},
		}},
		{name: "the rule's name wins over the alert's", steps: []trackerStep{
			{rule: "r", period: p, at: 0, holding: []Alert{amAlert("other", 1)}, want: []string{"1 firing 0s 3m0s"}},
			{rule: "other", period: p, at: p, want: nil},
			{rule: "r", period: p, at: p, want: []string{"1 resolved 0s 1m0s"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewAlertmanagerTracker()
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				out := tr.Observe(s.rule, s.period, s.holding, now)
				var got []string
				for _, pa := range out {
					state := "firing"
					if pa.Resolved(now) {
						state = "resolved"
					}
					if pa.Labels["alertname"] != s.rule {
						t.Errorf("step %d: alertname %q, want %q", i, pa.Labels["alertname"], s.rule)
					}
					got = append(got, fmt.Sprintf("%s %s %s %s", pa.Labels["pid"], state, pa.StartsAt.Sub(t0), pa.EndsAt.Sub(t0)))
				}
				if !slices.Equal(got, s.want) {
					t.Errorf("step %d (%s at %s):\ngot  %q\nwant %q", i, s.rule, s.at, got, s.want)
				}
				var firing int
				for _, pa := range out {
					if !pa.Resolved(now) {
						firing++
					}
				}
				if n := tr.Firing(s.rule); n != firing {
					t.Errorf("step %d: tracker counts %d firing, returned %d", i, n, firing)
				}
			}
		})
	}
}

// TestAlertmanagerResolvedKeepsWhatWasSent checks that a resolved alert
// carries the labels, annotations and start it fired with, which is what
// lets Alertmanager and its receivers match the two.
func TestAlertmanagerResolvedKeepsWhatWasSent(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	tr := NewAlertmanagerTracker()
	fired := tr.Observe("r", time.Minute, []Alert{amAlert("r", 1)}, t0)
	resolved := tr.Observe("r", time.Minute, nil, t0.Add(time.Minute))
	if len(fired) != 1 || len(resolved) != 1 {
		t.Fatalf("got %d fired and %d resolved, want 1 and 1", len(fired), len(resolved))
	}
	f, r := fired[0], resolved[0]
	if !maps.Equal(f.Labels, r.Labels) || !maps.Equal(f.Annotations, r.Annotations) || !f.StartsAt.Equal(r.StartsAt) {
		t.Errorf("fired %+v\nresolved %+v", f, r)
	}
	if !r.EndsAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("resolved endsAt %s, want %s", r.EndsAt, t0.Add(time.Minute))
	}
}

// TestAlertmanagerSendGolden pins the request: the path, the headers and
// the JSON array of one firing alert, in normal and Plain form.
func TestAlertmanagerSendGolden(t *testing.T) {
	long := goldenAlert
	long.Message = strings.Repeat("a long message ", 1000)
	for _, tc := range []struct {
		name string
		a    Alert
	}{
		{"alertmanager", goldenAlert},
		{"alertmanager-plain", func() Alert { a := long; a.Plain = true; return a }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHookServer(t, reply(200, nil, ""))
			ch := amChannel(t, "channels:\n  am: {type: alertmanager, urls: ['"+srv.URL+"/prefix/'], username: ptrule, password_file: /etc/ptrule/am-password}\n")
			if err := ch.Send(context.Background(), tc.a); err != nil {
				t.Fatal(err)
			}
			req := srv.last(t)
			if req.Path != "/prefix/api/v2/alerts" {
				t.Errorf("posted to %s, want /prefix/api/v2/alerts", req.Path)
			}
			if ct := req.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ptrule:SECRET-pw"))
			if got := req.Header.Get("Authorization"); got != wantAuth {
				t.Errorf("Authorization %q, want %q", got, wantAuth)
			}
			checkGolden(t, tc.name+".golden", goldenBody(t, req.Body))
		})
	}
}

func TestAlertmanagerBearer(t *testing.T) {
	srv := newHookServer(t, reply(200, nil, ""))
	ch := amChannel(t, "channels:\n  am: {type: alertmanager, urls: ['"+srv.URL+"'], bearer_token_file: /etc/ptrule/am-token}\n")
	if err := ch.Send(context.Background(), goldenAlert); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(t).Header.Get("Authorization"); got != "Bearer SECRET-token" {
		t.Errorf("Authorization %q", got)
	}
}

// TestAlertmanagerHostile sends a hostile command line: it must arrive as
// the same text, cleaned of control characters, inside JSON strings, and
// the labels must stay on one line.
func TestAlertmanagerHostile(t *testing.T) {
	srv := newHookServer(t, reply(200, nil, ""))
	ch := amChannel(t, "channels:\n  am: {type: alertmanager, urls: ['"+srv.URL+"']}\n")
	a := goldenAlert
	a.Subject, a.Message, a.User = hostileMessage, hostileMessage, "bob\"}]\n<!channel>"
	if err := ch.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	var got []PostableAlert
	if err := json.Unmarshal(srv.last(t).Body, &got); err != nil || len(got) != 1 {
		t.Fatalf("body is not one alert (%v): %s", err, srv.last(t).Body)
	}
	want := strings.Map(cleanRune, hostileMessage)
	if got[0].Annotations["summary"] != want || got[0].Annotations["description"] != want {
		t.Errorf("annotations %q, want both %q", got[0].Annotations, want)
	}
	if u := got[0].Labels["user"]; u != "bob\"}] <!channel>" {
		t.Errorf("user label %q", u)
	}
}

// TestAlertmanagerPost checks that every URL gets the alerts, and how the
// failures of some are reported: by URL, without its secrets, classified
// by the most hopeful.
func TestAlertmanagerPost(t *testing.T) {
	type want struct {
		ok, retry, rejected bool
		after               time.Duration
		text                []string
	}
	tests := []struct {
		name    string
		replies [2]func(http.ResponseWriter)
		want    want
	}{
		{name: "both accept", replies: [2]func(http.ResponseWriter){reply(200, nil, ""), reply(200, nil, "")}, want: want{ok: true}},
		{name: "one down for a while", replies: [2]func(http.ResponseWriter){reply(200, nil, ""), reply(503, map[string]string{"Retry-After": "30"}, "")},
			want: want{retry: true, after: 30 * time.Second, text: []string{"Alertmanager urls[1] (http://127.0.0.1:", "answered 503 Service Unavailable"}}},
		{name: "one refuses the alerts", replies: [2]func(http.ResponseWriter){reply(400, nil, `"start time must be before end time"`), reply(200, nil, "")},
			want: want{rejected: true, text: []string{"urls[0]", `answered 400 Bad Request: "start time must be before end time"`}}},
		{name: "wrong password and down: retry", replies: [2]func(http.ResponseWriter){reply(401, nil, ""), reply(500, nil, "")},
			want: want{retry: true, text: []string{"urls[0]", "401 Unauthorized (check the token", "; ", "urls[1]", "500 Internal Server Error"}}},
		{name: "both refuse: permanent", replies: [2]func(http.ResponseWriter){reply(404, nil, ""), reply(401, nil, "")},
			want: want{text: []string{"urls[0]", "404 Not Found", "urls[1]", "401 Unauthorized"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var urls []string
			var srvs []*hookServer
			for _, r := range tt.replies {
				s := newHookServer(t, r)
				srvs = append(srvs, s)
				u := strings.Replace(s.URL, "http://", "http://user:SECRET@", 1) + "/SECRET-path"
				urls = append(urls, "'"+u+"'")
			}
			ch := amChannel(t, "channels:\n  am: {type: alertmanager, urls: ["+strings.Join(urls, ", ")+"]}\n")
			alerts := NewAlertmanagerTracker().Observe("r", time.Minute, []Alert{amAlert("r", 1)}, time.Now())
			err := ch.Post(context.Background(), alerts)
			for i, s := range srvs {
				if r := s.last(t); r.Path != "/SECRET-path/api/v2/alerts" {
					t.Errorf("server %d got %s", i, r.Path)
				}
			}
			if tt.want.ok {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			se := Classify(err)
			if se.Retry != tt.want.retry || se.Rejected != tt.want.rejected || se.RetryAfter != tt.want.after {
				t.Errorf("classified %+v, want %+v", se, tt.want)
			}
			msg := err.Error()
			if strings.Contains(msg, "SECRET") {
				t.Errorf("error shows a secret: %s", msg)
			}
			rest := msg
			for _, w := range tt.want.text {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestAlertmanagerPostNothing(t *testing.T) {
	srv := newHookServer(t, reply(200, nil, ""))
	ch := amChannel(t, "channels:\n  am: {type: alertmanager, urls: ['"+srv.URL+"']}\n")
	if err := ch.Post(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.reqs) != 0 {
		t.Errorf("no alerts made %d requests", len(srv.reqs))
	}
}

// TestDispatcherObserveRule checks how the daemon's per-evaluation call
// reaches the alertmanager channels: each gets the holding alerts routed
// to it, as Dispatch routes them, and resolves what is no longer routed
// to it; other channels get nothing.
func TestDispatcherObserveRule(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	fleet := newHookServer(t, reply(200, nil, ""))
	crit := newHookServer(t, reply(200, nil, ""))
	other := newHookServer(t, reply(200, nil, ""))
	build := func(name, url, extra string) Channel {
		cfg, ps := parse(t, "channels:\n  "+name+": {type: alertmanager, urls: ['"+url+"']"+extra+"}\n", name, amSecrets)
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		return cfg.Channel(Env{})
	}
	rec := &recorder{}
	d := NewDispatcher(map[string]Channel{
		"fleet": build("fleet", fleet.URL, ""),
		"crit":  build("crit", crit.URL, ", min_severity: critical"),
		"other": build("other", other.URL, ""),
		"mail":  rec,
	}, []string{"fleet", "mail"})

	warn := func(pid int) Alert { return amAlert("r", pid) }
	critical := func(pid int) Alert { a := amAlert("r", pid); a.Severity = "critical"; return a }
	// posted returns what server s received since the last call, as
	// "pid state" lines.
	seen := map[*hookServer]int{}
	posted := func(s *hookServer, now time.Time) []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		var out []string
		for _, r := range s.reqs[seen[s]:] {
			var alerts []PostableAlert
			if err := json.Unmarshal(r.Body, &alerts); err != nil {
				t.Fatal(err)
			}
			for _, a := range alerts {
				state := "firing"
				if a.Resolved(now) {
					state = "resolved"
				}
				out = append(out, a.Labels["pid"]+" "+state)
			}
		}
		seen[s] = len(s.reqs)
		return out
	}
	steps := []struct {
		holding            []HoldingAlert
		fleet, crit, other []string
		results            []string
	}{
		{
			holding: []HoldingAlert{
				{Alert: warn(1)}, // defaults: fleet (and mail)
				{Alert: critical(2), Channels: []string{"crit"}},      // crit only
				{Alert: warn(3), Channels: []string{"crit", "fleet"}}, // below crit's min_severity
			},
			fleet:   []string{"1 firing", "3 firing"},
			crit:    []string{"2 firing"},
			results: []string{"crit", "fleet"},
		},
		{
			// 1 is gone; 2 now goes to fleet instead of crit.
			holding: []HoldingAlert{{Alert: critical(2), Channels: []string{"fleet"}}, {Alert: warn(3), Channels: []string{"fleet"}}},
			fleet:   []string{"2 firing", "3 firing", "1 resolved"},
			crit:    []string{"2 resolved"},
			results: []string{"crit", "fleet"},
		},
		{
			fleet:   []string{"2 resolved", "3 resolved"},
			results: []string{"fleet"},
		},
		{results: nil},
	}
	for i, s := range steps {
		now := t0.Add(time.Duration(i) * time.Minute)
		res := d.ObserveRule(context.Background(), "r", time.Minute, s.holding, now)
		var names []string
		for _, r := range res {
			if r.Err != nil {
				t.Errorf("step %d: %s: %v", i, r.Channel, r.Err)
			}
			names = append(names, r.Channel)
		}
		if !slices.Equal(names, s.results) {
			t.Errorf("step %d: results for %q, want %q", i, names, s.results)
		}
		for _, c := range []struct {
			s    *hookServer
			name string
			want []string
		}{{fleet, "fleet", s.fleet}, {crit, "crit", s.crit}, {other, "other", s.other}} {
			if got := posted(c.s, now); !slices.Equal(got, c.want) {
				t.Errorf("step %d: %s got %q, want %q", i, c.name, got, c.want)
			}
		}
	}
	if n := rec.count(); n != 0 {
		t.Errorf("the mail channel got %d alerts from ObserveRule", n)
	}
}

// TestSendResolved checks that a channel with send_resolved gets one
// "Resolved:" message when a match it was alerted about stops holding,
// and that a channel without it, or one the match was not routed to, gets
// none.
func TestSendResolved(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	resolving, quiet, elsewhere := &recorder{}, &recorder{}, &recorder{}
	d := NewDispatcher(map[string]Channel{
		"resolving": &configured{Channel: resolving, min: "info", digestAfter: DefaultDigestAfter, sendResolved: true},
		"quiet":     quiet,
		"elsewhere": &configured{Channel: elsewhere, min: "info", digestAfter: DefaultDigestAfter, sendResolved: true},
	}, []string{"resolving", "quiet"})
	hold := func(pids ...int) []HoldingAlert {
		var out []HoldingAlert
		for _, pid := range pids {
			a := amAlert("r", pid)
			a.Key = fmt.Sprintf("%d@100", pid)
			out = append(out, HoldingAlert{Alert: a})
		}
		return out
	}
	ctx := t.Context()
	d.ObserveRule(ctx, "r", time.Minute, hold(1, 2), t0)
	d.ObserveRule(ctx, "r", time.Minute, hold(1, 2), t0.Add(time.Minute))
	d.ObserveRule(ctx, "r", time.Minute, hold(1), t0.Add(2*time.Minute)) // 2 ends
	d.ObserveRule(ctx, "other", time.Minute, nil, t0.Add(2*time.Minute)) // another rule: 1 holds still
	d.ObserveRule(ctx, "r", time.Minute, nil, t0.Add(3*time.Minute))     // 1 ends
	d.ObserveRule(ctx, "r", time.Minute, nil, t0.Add(4*time.Minute))     // nothing more
	var got []string
	for _, a := range resolving.got {
		got = append(got, fmt.Sprintf("%d %v %s", a.PID, a.Resolved, a.Time.Format("15:04")))
		if !strings.HasPrefix(a.Subject, "Resolved: ") || !strings.Contains(a.Message, "no longer holds") {
			t.Errorf("resolved message %q / %q", a.Subject, a.Message)
		}
	}
	if want := []string{"2 true 21:02", "1 true 21:03"}; !slices.Equal(got, want) {
		t.Errorf("resolved messages %q, want %q", got, want)
	}
	if len(quiet.got) != 0 || len(elsewhere.got) != 0 {
		t.Errorf("channels without send_resolved or without the alert got %v and %v", quiet.got, elsewhere.got)
	}
	if !d.Follows() {
		t.Error("a Dispatcher with a send_resolved channel does not follow matches")
	}
}
