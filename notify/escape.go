package notify

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Process-controlled text (a command line in a Subject or Message) is
// hostile: it may hold markup, mentions that page a whole team, or control
// characters. Each chat format has an escaper here that rewrites one
// "unit" of text at a time (usually one rune, sometimes a rune with what
// follows), and shortening always drops whole units, so a cut can never
// fall inside an escape sequence or a UTF-8 sequence.

// escaper returns the escaped form of the unit at the start of s (never
// empty) and how many bytes of s it consumed (at least 1).
type escaper func(s string) (unit string, n int)

// measure returns the length of text as a destination counts it.
type measure func(string) int

// utf16Len counts UTF-16 code units: what JavaScript's length counts, and
// never fewer than the characters Slack, Telegram or Discord count, so a
// text within a limit by this measure is within it by theirs.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// byteLen counts bytes, for limits on the size of a payload.
func byteLen(s string) int { return len(s) }

// ellipsis marks text that was shortened.
const ellipsis = "…"

// cleanRune returns the rune to show for r: control characters other than
// newline and tab, invalid UTF-8, and the bidirectional overrides that can
// make a command line read differently from what it is all become U+FFFD.
func cleanRune(r rune) rune {
	switch {
	case r == '\n' || r == '\t':
		return r
	case r < 0x20 || (r >= 0x7f && r < 0xa0):
		return utf8.RuneError
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return utf8.RuneError
	}
	return r
}

// decodeClean decodes the first rune of s through cleanRune.
func decodeClean(s string) (rune, int) {
	r, n := utf8.DecodeRuneInString(s)
	return cleanRune(r), n
}

// plainEscape keeps text as it is apart from cleanRune: for destinations
// that render no markup (Telegram without a parse mode, Teams TextRuns,
// JSON fields).
func plainEscape(s string) (string, int) {
	r, n := decodeClean(s)
	return string(r), n
}

// massMentions are the words after "@" that page a whole channel in Slack,
// Mattermost, Discord or Rocket.Chat.
var massMentions = []string{"everyone", "here", "channel", "all"}

// breakMention returns "@" followed by a zero-width space when s (which
// starts with "@") is a mass mention, so that no server parses it as one;
// the text still reads the same.
func breakMention(s string) (string, bool) {
	rest := s[1:]
	for _, m := range massMentions {
		if len(rest) >= len(m) && strings.EqualFold(rest[:len(m)], m) && !wordByte(rest, len(m)) {
			return "@\u200b", true
		}
	}
	return "", false
}

// wordByte reports whether s has a letter, digit, _ or - at i, so that
// "@allison" is a name and "@all" a mass mention.
func wordByte(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c >= 0x80
}

// slackEscape escapes Slack mrkdwn (and Mattermost's Slack-compatible
// text): &, < and > become entities, which is all Slack needs so that
// "<!channel>", "<@U123>" and "<http://x|y>" show as text; "@channel" and
// friends get a zero-width space for servers that honour them without
// angle brackets.
func slackEscape(s string) (string, int) {
	switch s[0] {
	case '&':
		return "&amp;", 1
	case '<':
		return "&lt;", 1
	case '>':
		return "&gt;", 1
	case '@':
		if u, ok := breakMention(s); ok {
			return u, 1
		}
	}
	return plainEscape(s)
}

// telegramEscape escapes text for Telegram's HTML parse mode: &, < and >
// become the entities Telegram knows.
func telegramEscape(s string) (string, int) {
	switch s[0] {
	case '&':
		return "&amp;", 1
	case '<':
		return "&lt;", 1
	case '>':
		return "&gt;", 1
	}
	return plainEscape(s)
}

// discordMarkdown are the characters Discord's markdown gives a meaning
// to (emphasis, code, spoilers, quotes, headings, lists, masked links,
// mentions, escapes); each is shown literally after a backslash.
const discordMarkdown = "\\*_~`|>#-[]()<:"

// discordEscape escapes Discord markdown with backslashes and breaks
// @everyone and @here with a zero-width space. The webhook payload also
// sets allowed_mentions to nothing, so no mention pings even if one got
// through.
func discordEscape(s string) (string, int) {
	c := s[0]
	if c == '@' {
		if u, ok := breakMention(s); ok {
			return u, 1
		}
	}
	if strings.IndexByte(discordMarkdown, c) >= 0 {
		return "\\" + string(c), 1
	}
	return plainEscape(s)
}

// escapeLimit escapes s with esc, unit by unit, and stops before the unit
// that would take the result past limit (by m), ending it with an
// ellipsis; the ellipsis is counted within limit. It returns the text and
// whether it was shortened. A limit too small for even the ellipsis gives
// "" (shortened when s was not empty).
func escapeLimit(s string, esc escaper, m measure, limit int) (string, bool) {
	var b strings.Builder
	used := 0
	room := limit - m(ellipsis)
	// fits remembers where the result still had room for the ellipsis.
	fits := -1
	for i := 0; i < len(s); {
		if used <= room {
			fits = b.Len()
		}
		u, n := esc(s[i:])
		w := m(u)
		if used+w > limit {
			if fits < 0 {
				return "", true
			}
			return b.String()[:fits] + ellipsis, true
		}
		b.WriteString(u)
		used += w
		i += n
	}
	return b.String(), false
}

// part is one piece of a chat message: markup written as it is, or text
// escaped and shortened to its share of the limit.
type part struct {
	markup string
	text   string
	// max caps the text's share of the limit; 0 gives it what the capped
	// parts and the markup leave. At most one part should have 0.
	max int
}

// renderParts joins parts, escaping each text with esc, so that the whole
// stays within limit by m. Capped texts are shortened first to their cap;
// the uncapped text gets what remains. A text shortened to nothing keeps
// its markup, so tags stay balanced.
func renderParts(parts []part, esc escaper, m measure, limit int) string {
	rest := limit
	out := make([]string, len(parts))
	for i, p := range parts {
		if p.text == "" {
			out[i] = p.markup
			rest -= m(p.markup)
		}
	}
	for i, p := range parts {
		if p.text != "" && p.max > 0 {
			t, _ := escapeLimit(p.text, esc, m, min(p.max, max(rest, 0)))
			out[i] = t
			rest -= m(t)
		}
	}
	for i, p := range parts {
		if p.text != "" && p.max == 0 {
			t, _ := escapeLimit(p.text, esc, m, max(rest, 0))
			out[i] = t
			rest -= m(t)
		}
	}
	return strings.Join(out, "")
}

// alertTitle is the first line of a chat message: the subject, or the
// rule's name when the subject template rendered empty.
func alertTitle(a Alert) string {
	if a.Subject != "" {
		return a.Subject
	}
	return "ptrule: " + a.Rule
}

// alertFooter is the last line of a chat message: severity, rule, host,
// and the entity when the rule's scope has one.
func alertFooter(a Alert) string {
	parts := []string{a.Severity, "rule " + a.Rule}
	if a.Host != "" {
		parts = append(parts, "host "+a.Host)
	}
	if a.Key != "" {
		parts = append(parts, a.Key)
	}
	return strings.Join(parts, " · ")
}

// Caps on the title and footer of a chat message, so that the message
// body always keeps most of the limit.
const (
	titleMax  = 250
	footerMax = 250
)

// plainLimit is the length a channel shortens a Plain alert to: a quarter
// of its limit, at most 2000, so that a server that refused the first try
// for its length takes the second.
func plainLimit(limit int) int { return min(limit/4, 2000) }

// layout is the shape every chat message takes: the title between
// titleOpen and titleClose, the message on the lines below, then the
// footer between footOpen and footClose. Markup-free formats pass empty
// strings and get a blank line between the pieces instead.
func layout(a Alert, titleOpen, titleClose, footOpen, footClose string) []part {
	sep := "\n"
	if titleOpen == "" {
		sep = "\n\n"
	}
	ps := []part{{markup: titleOpen}, {text: alertTitle(a), max: titleMax}, {markup: titleClose}}
	if a.Message != "" {
		ps = append(ps, part{markup: sep}, part{text: a.Message})
	}
	return append(ps, part{markup: sep}, part{markup: footOpen}, part{text: alertFooter(a), max: footerMax}, part{markup: footClose})
}

// plainText renders a as markup-free text (title, message and footer
// separated by blank lines), escaped with esc (a format without markup
// passes plainEscape) and within limit.
func plainText(a Alert, esc escaper, m measure, limit int) string {
	return renderParts(layout(a, "", "", "", ""), esc, m, limit)
}
