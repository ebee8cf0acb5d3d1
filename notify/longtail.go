package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// The pagerduty, mattermost and matrix channel types deliver through the
// services of github.com/nikoksr/notify. Each wraps one service the same
// way:
//
//   - A new service is built for every Send, so that no service (several
//     keep state such as request headers or hooks) is ever shared between
//     goroutines, and each send sees its own answer.
//   - The service's own Send is called for one destination; notify.Send and
//     its aggregate error (which keeps only the first failure) are never
//     used.
//   - The call runs under the channel's timeout (key timeout, default
//     DefaultSendTimeout) and the caller's context; every service used here
//     passes the context to its request.
//   - The failure is classified from the HTTP status when the service lets
//     ptrule see it (Temporary for 429 and 5xx, Rejected for 400 and 413,
//     Permanent for the rest), and as Temporary when the server was never
//     reached or did not answer in time.
//   - The text is ptrule's own rendering, escaped for the service's format
//     and shortened within its limit; the service only carries it.

// checkServiceURL reports a URL key that is not an absolute http or https
// URL at key, or a missing one when required.
func checkServiceURL(c *Checker, key, raw string, required bool, what string) {
	if raw == "" {
		if required {
			c.Problem([]any{key}, "%s is required: add %s: with the URL of %s", key, key, what)
		}
		return
	}
	if msg := checkURL(raw); msg != "" {
		c.Problem([]any{key}, "%s %s: write it as https://host[:port]", key, msg)
		return
	}
	if u, _ := url.Parse(raw); u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		c.Problem([]any{key}, "%s must be a plain base URL, without user:password@, ?query or #fragment: the credentials go in their own key", key)
	}
}

// requireSecret reads the secret of key and key_file and reports when
// neither is set. A secret goes into an HTTP header, so one with a line
// break or another control character (which no token has) is refused here
// rather than failing every send.
func requireSecret(c *Checker, key string, inline Secret, file string, what string) Secret {
	fileKey := key + "_file"
	s := c.Secret(key, inline, fileKey, file)
	if inline == "" && !c.node.Has(fileKey) {
		c.Problem([]any{fileKey}, "%s is required: name a file, readable by root alone, that holds %s", fileKey, what)
	}
	if strings.ContainsFunc(s.Reveal(), unicode.IsControl) {
		at := key
		if file != "" {
			at = fileKey
		}
		c.Problem([]any{at}, "the secret of %s holds a line break or control character: write it on one line", at)
		return ""
	}
	return s
}

// exchange is an HTTP client for one send that remembers the last answer
// (or failure) it passed on, so that the send can be classified by the
// server's status and Retry-After even when the library's error does not
// carry them. It reads at most maxReplyBytes of any body and does not
// follow redirects (see newHTTPClient).
type exchange struct {
	d    cappedDoer
	resp *http.Response
	err  error
}

func newExchange() *exchange { return &exchange{d: cappedDoer{newHTTPClient()}} }

// Do implements the HTTP client interfaces of the services' libraries.
func (x *exchange) Do(req *http.Request) (*http.Response, error) {
	resp, err := x.d.Do(req)
	x.resp, x.err = resp, err
	return resp, err
}

// serviceFailure classifies a send that failed with err, given the status
// of the server's answer (0 when there was none), its header (nil when
// unknown) and the server's own reason when one was extracted. A 2xx
// answer that the library could not read is Temporary: the alert may not
// have arrived, and a duplicate is better than a loss.
func serviceFailure(ctx context.Context, what string, timeout time.Duration, status int, header http.Header, detail string, err error) error {
	if status == 0 {
		return transportError(ctx, what, timeout, err)
	}
	if status >= 200 && status <= 299 {
		return Temporary(fmt.Errorf("%s answered %d but its reply could not be read (%s); it may not have taken the alert",
			what, status, bodySnippet([]byte(netErrText(err)))), 0)
	}
	return classifyStatus(what, &httpReply{Status: status, Header: header}, bodySnippet([]byte(detail)), 0)
}
