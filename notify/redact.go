package notify

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
)

// Redacted is what a masked secret is replaced with.
const Redacted = "[redacted]"

// DefaultRedactions are the RE2 patterns every Redactor masks, whatever the
// config adds: values of password=, passwd=, secret=, token= and api_key=
// style assignments, the argument of --password, --token and --secret
// flags, the credentials of an Authorization: header and the user:password
// of a URL. A group named key is kept in front of the mask and one named
// end after it, so that what was masked stays recognisable.
var DefaultRedactions = []string{
	// --password x, --password=x, -token x, --client-secret=x
	`(?i)(?P<key>(?:^|\s)--?[\w-]*(?:password|passwd|token|secret)[\w-]*(?:=|\s+))\S+`,
	// password=x, DB_PASSWORD=x, client_secret: x, api_key=x, "token": "x"
	`(?i)(?P<key>[\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key)[\w-]*"?\s*[=:]\s*"?)[^\s"&,;]+`,
	// Authorization: Bearer x, authorization:Basic x
	`(?i)(?P<key>authorization\s*[:=]\s*(?:(?:bearer|basic|token|digest|negotiate)\s+)?)[^\s"',;]+`,
	// https://user:pass@host, ftp://user@host
	`(?i)(?P<key>\b[a-z][a-z0-9+.-]*://)[^/\s@]+(?P<end>@)`,
}

// Redactor masks secrets in alert text before it leaves the host. The zero
// value masks nothing; NewRedactor returns one with the defaults. It is
// safe for concurrent use.
type Redactor struct {
	res []*regexp.Regexp
}

// NewRedactor returns a Redactor with DefaultRedactions and then extra,
// each an RE2 pattern whose whole match is masked (but for groups named
// key and end, kept before and after the mask). A pattern that does not
// compile is an error naming it.
func NewRedactor(extra []string) (*Redactor, error) {
	r := &Redactor{}
	for _, p := range DefaultRedactions {
		r.res = append(r.res, regexp.MustCompile(p))
	}
	for _, p := range extra {
		re, err := CompileRedaction(p)
		if err != nil {
			return nil, err
		}
		r.res = append(r.res, re)
	}
	return r, nil
}

// CompileRedaction compiles one `redact:` pattern; its error says what is
// wrong with it and how to fix it.
func CompileRedaction(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, fmt.Errorf("redact pattern is empty: remove it or write an RE2 pattern such as (?i)api[_-]?key=\\S+")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("redact pattern %q is not RE2: %v", pattern, err)
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("redact pattern %q matches the empty string, so it would mask nothing useful and everywhere: make it match the secret itself", pattern)
	}
	return re, nil
}

// String masks every secret in s.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, re := range r.res {
		s = re.ReplaceAllString(s, "${key}"+Redacted+"${end}")
	}
	return s
}

// Alert returns a with its subject, message and label values masked.
func (r *Redactor) Alert(a Alert) Alert {
	if r == nil {
		return a
	}
	a.Subject = r.String(a.Subject)
	a.Message = r.String(a.Message)
	if len(a.Labels) > 0 {
		labels := maps.Clone(a.Labels)
		for k, v := range labels {
			labels[k] = r.String(v)
		}
		a.Labels = labels
	}
	a.Facts, _ = r.data(a.Facts).(map[string]any)
	a.Outcomes, _ = r.data(a.Outcomes).(map[string]any)
	return a
}

// data masks every string in v, a tree of maps, lists and scalars such as
// an alert's facts, into a copy: the caller's stays as it was.
func (r *Redactor) data(v any) any {
	switch v := v.(type) {
	case string:
		return r.String(v)
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = r.data(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = r.data(e)
		}
		// An argv holds a secret in the word after its flag: mask the
		// word that its pair with the previous word masks.
		for i := 1; i < len(v); i++ {
			prev, ok1 := v[i-1].(string)
			cur, ok2 := v[i].(string)
			if ok1 && ok2 && r.masksSecond(prev, cur, out[i].(string)) {
				out[i] = Redacted
			}
		}
		return out
	case []string:
		out := make([]string, len(v))
		for i, e := range v {
			out[i] = r.String(e)
		}
		for i := 1; i < len(v); i++ {
			if r.masksSecond(v[i-1], v[i], out[i]) {
				out[i] = Redacted
			}
		}
		return out
	}
	return v
}

// masksSecond reports whether masking the words prev and cur as one
// string (as in a command line) masks some of cur beyond what masking cur
// alone, giving masked, does: "--token" then "s3cret" does.
func (r *Redactor) masksSecond(prev, cur, masked string) bool {
	return !strings.HasSuffix(r.String(prev+" "+cur), " "+masked)
}
