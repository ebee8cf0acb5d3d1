package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	nkmatrix "github.com/nikoksr/notify/service/matrix"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"
)

func init() {
	RegisterType(ChannelType{Name: "matrix", NewConfig: func() TypeConfig { return &MatrixConfig{} }})
}

// MatrixConfig is a channel of type matrix: each alert is sent as a plain
// text message (m.text) to one room, through the homeserver's
// client-server API, by nikoksr/notify's matrix service. The account
// behind the access token must have joined the room.
type MatrixConfig struct {
	// Homeserver is the homeserver's base URL (https://matrix.example.org).
	Homeserver string `yaml:"homeserver"`
	// AccessToken is the sending account's access token; AccessTokenFile
	// names a file holding it.
	AccessToken     Secret `yaml:"access_token"`
	AccessTokenFile string `yaml:"access_token_file"`
	// RoomID is the room's ID (!abc123:example.org), not an alias.
	RoomID string `yaml:"room_id"`
	// Timeout bounds one attempt; 0 or unset means DefaultSendTimeout
	// (the config decoder refuses a negative one).
	Timeout time.Duration `yaml:"timeout"`

	token Secret
}

// matrixLimit is how many bytes of JSON the message text may take in an
// event: Matrix refuses events over 65536 bytes, and this leaves room for
// the rest of the event and the homeserver's additions.
const matrixLimit = 32000

// Check implements TypeConfig.
func (c *MatrixConfig) Check(ck *Checker) {
	checkServiceURL(ck, "homeserver", c.Homeserver, true, "the Matrix homeserver (https://matrix.example.org)")
	c.token = requireSecret(ck, "access_token", c.AccessToken, c.AccessTokenFile, "the sending account's access token")
	switch {
	case c.RoomID == "":
		ck.Problem([]any{"room_id"}, "room_id is required: add the ID of the room to send to (!abc123:example.org, in the room's advanced settings)")
	case !strings.HasPrefix(c.RoomID, "!") || len(c.RoomID) < 2 || strings.IndexFunc(c.RoomID, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' }) >= 0:
		ck.Problem([]any{"room_id"}, "room_id %q is not a room ID: use the ID that starts with ! (in the room's advanced settings), not an alias (#room:server)", c.RoomID)
	}
}

// Channel implements TypeConfig.
func (c *MatrixConfig) Channel(Env) Channel {
	return &MatrixChannel{homeserver: c.Homeserver, token: c.token, roomID: c.RoomID, timeout: orDefaultTimeout(c.Timeout)}
}

// MatrixChannel sends alerts to a Matrix room as plain text. It is safe
// for concurrent use: each Send builds its own service and client.
type MatrixChannel struct {
	homeserver, roomID string
	token              Secret
	timeout            time.Duration
}

// matrixEscape keeps the text as it is (an m.text body without a format is
// shown as plain text) apart from cleanRune, and breaks @room (which
// notifies everyone in the room) and the other mass mentions with a
// zero-width space.
func matrixEscape(s string) (string, int) {
	if s[0] == '@' {
		rest := s[1:]
		if len(rest) >= 4 && strings.EqualFold(rest[:4], "room") && !wordByte(rest, 4) {
			return "@\u200b", 1
		}
		if u, ok := breakMention(s); ok {
			return u, 1
		}
	}
	return plainEscape(s)
}

// htmlJSONLen is the length of s as a JSON string encoded by
// encoding/json's default, which also writes <, > and & as \u003c and so
// on (mautrix encodes events that way).
func htmlJSONLen(s string) int {
	return jsonLen(s) + 5*strings.Count(s, "<") + 5*strings.Count(s, ">") + 5*strings.Count(s, "&")
}

// matrixText renders a as a Matrix message: title, message and footer,
// separated by blank lines, within matrixLimit (plainLimit of it with
// a.Plain).
func matrixText(a Alert) string {
	limit := matrixLimit
	if a.Plain {
		limit = plainLimit(matrixLimit)
	}
	return plainText(a, matrixEscape, htmlJSONLen, limit)
}

// matrixStatus learns the status of the homeserver's answer from the log
// line mautrix writes for each request (to the zerolog logger of the
// request's context): notify's matrix service drops mautrix's error and
// returns a fixed text, so the log line is the only place the status
// survives.
type matrixStatus struct {
	mu     sync.Mutex
	status int
	failed string
}

func (m *matrixStatus) Write(p []byte) (int, error) {
	var line struct {
		Status int    `json:"status_code"`
		Error  string `json:"error"`
	}
	if json.Unmarshal(p, &line) == nil {
		m.mu.Lock()
		if line.Status != 0 {
			m.status = line.Status
		}
		if line.Error != "" {
			m.failed = line.Error
		}
		m.mu.Unlock()
	}
	return len(p), nil
}

// Send implements Channel: one PUT of an m.room.message event within the
// channel's timeout.
func (c *MatrixChannel) Send(ctx context.Context, a Alert) error {
	const what = "Matrix homeserver"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	svc, err := nkmatrix.New("", id.RoomID(c.roomID), c.homeserver, c.token.Reveal())
	if err != nil {
		return Permanent(fmt.Errorf("%s: the homeserver URL cannot be used: check homeserver in the config", what))
	}
	st := &matrixStatus{}
	ctx = zerolog.New(st).Level(zerolog.DebugLevel).WithContext(ctx)
	err = svc.Send(ctx, "", matrixText(a))
	if err == nil {
		return nil
	}
	st.mu.Lock()
	status, failed := st.status, st.failed
	st.mu.Unlock()
	if status == 0 && failed == "" {
		failed = err.Error()
	}
	return serviceFailure(ctx, what, c.timeout, status, nil, "", fmt.Errorf("%s", stripURL(failed)))
}

// stripURL removes what follows "Put " or "Post " in a net/http error text
// up to the next ": ", so that a URL (which holds the room and transaction
// IDs) does not clutter the error.
func stripURL(s string) string {
	for _, verb := range []string{"Put \"", "Post \"", "Get \""} {
		if i := strings.Index(s, verb); i >= 0 {
			if j := strings.Index(s[i+len(verb):], "\": "); j >= 0 {
				s = s[:i] + strings.TrimSuffix(verb, " \"") + s[i+len(verb)+j+1:]
			}
		}
	}
	return s
}
