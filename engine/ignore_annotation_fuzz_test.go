package engine

import (
	"strings"
	"testing"
	"time"
)

// FuzzIgnoreAnnotation parses an annotation line above an entry: it never
// panics, a good annotation's fields survive a round trip through
// Annotation, and the entry below is kept whatever the annotation says.
func FuzzIgnoreAnnotation(f *testing.F) {
	for _, s := range []string{
		`reason="billing daemon" owner=ops expires=2027-03-01`,
		`expires=2027-03-01T12:00:00+02:00`,
		`reason="a \"quoted\" \\ word"`,
		`reason="unterminated`,
		`reason=x reason=y`,
		`colour=blue`,
		`expires=tomorrow`,
		`novalue`,
		`reason=""`,
		`reason="x"y`,
		`reason="\n"`,
		"owner=\x01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ann string) {
		if strings.ContainsAny(ann, "\r\n") {
			return
		}
		src := "# ptrule: " + ann + "\nexe:/usr/sbin/x\n"
		l, probs := ParseIgnore("f.pignore", []byte(src), 1, nil)
		for _, p := range probs {
			if p.Pos.Line != 1 || p.Pos.Col < 1 || p.Msg == "" {
				t.Fatalf("bad problem %#v: %v", p.Pos, p)
			}
		}
		es := l.Entries()
		if len(es) != 1 || es[0].Value != "/usr/sbin/x" || es[0].Pos.Line != 2 {
			t.Fatalf("entry lost or changed under annotation %q: %#v", ann, es)
		}
		e := es[0]
		if len(probs) > 0 {
			return
		}
		// A clean annotation written back parses to the same fields.
		back := "# ptrule: " + e.Annotation() + "\nexe:/usr/sbin/x\n"
		l2, probs2 := ParseIgnore("f.pignore", []byte(back), 1, nil)
		if len(probs2) > 0 {
			t.Fatalf("annotation %q written back as %q: %v", ann, e.Annotation(), probs2)
		}
		e2 := l2.Entries()[0]
		if e2.Reason != e.Reason || e2.Owner != e.Owner || !e2.Expires.Equal(e.Expires) {
			t.Fatalf("round trip of %q: %#v != %#v", ann, e2, e)
		}
		if !e.Expires.IsZero() && (e.ExpiredAt(e.Expires) || !e.ExpiredAt(e.Expires.Add(time.Nanosecond))) {
			t.Fatalf("expiry %v is not the last matching instant", e.Expires)
		}
	})
}
