package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSenderTypesDeliverFromConfig proves the adapter: a sender type is
// decoded from the config, checked, built with its secret file read
// through the config's reader (a relative path from the config's
// directory), and delivers.
func TestSenderTypesDeliverFromConfig(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var asked string
	read := func(path string) ([]byte, error) {
		asked = path
		return []byte(srv.URL + "/hook\n"), nil
	}
	cfg, ps := parse(t, "channels:\n  chat: {type: slack, webhook_url_file: slack-url, min_severity: warning}\n", "chat", read)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if asked != "/etc/ptrule/slack-url" {
		t.Errorf("the secret was read from %q, want the config's directory", asked)
	}
	ch := cfg.Channel(Env{})
	if err := ch.Send(context.Background(), Alert{Rule: "pt-deleted", Severity: "critical", Subject: "s", Message: "m", Host: "web1"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "pt-deleted") {
		t.Errorf("the server got %q", got)
	}
}

// TestSenderTypesReportAtTheirKey checks that a sender type's own checks
// and its constructor's failures are config problems in the file.
func TestSenderTypesReportAtTheirKey(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"own check", "channels:\n  ops: {type: telegram, chat_id: 5}\n", "C:2:3: channel ops: "},
		{"unknown key", "channels:\n  ops: {type: discord, webhook_url: 'https://discord.com/api/webhooks/1/x', color: red}\n", `unknown key "color" in channel ops`},
		{"secret file missing", "channels:\n  ops: {type: telegram, chat_id: 5, token_file: /nope}\n", "channel ops: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := parse(t, tt.config, "ops", noFiles)
			if len(ps) == 0 {
				t.Fatal("the channel was accepted")
			}
			text := strings.ReplaceAll(ps.Error(), configPath, "C")
			if !strings.Contains(text, tt.want) {
				t.Errorf("problems %q, want %q", text, tt.want)
			}
		})
	}
}
