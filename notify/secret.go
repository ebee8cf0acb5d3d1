package notify

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Secret is a password, token or credential-bearing URL from a channel's
// config. It never prints: every fmt verb, JSON and text encoding show
// secretText instead, so a Secret that ends up in a log line, an error or
// `ptrule check` output by mistake leaks nothing. Reveal returns the value
// for the one place that needs it: the request to the service.
type Secret string

const secretText = "<secret>"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return secretText }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return secretText }

// Format implements fmt.Formatter: every verb (%s, %q, %x, %d...) prints
// secretText.
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, secretText) }

// MarshalText implements encoding.TextMarshaler, which JSON and YAML use.
func (s Secret) MarshalText() ([]byte, error) { return []byte(secretText), nil }

// Secret returns the secret of a pair of keys such as password and
// password_file: the value of key (inline, as decoded) or the contents of
// the file named by fileKey, trimmed of surrounding white space (the
// newline an editor or `echo` leaves). Setting both keys, a file that
// cannot be read (readFile refuses a file a user other than root could
// change) and an empty file are problems at fileKey. A relative path is
// taken from the config file's directory. Secret returns "" when neither
// key is set; a type that needs the secret reports that itself. Neither
// the secret nor the file's contents appear in any problem.
func (c *Checker) Secret(key string, inline Secret, fileKey, file string) Secret {
	switch {
	case file == "" && !c.node.Has(fileKey):
		return inline
	case c.node.Has(key):
		c.Problem([]any{fileKey}, "set %s or %s, not both", key, fileKey)
		return ""
	case file == "":
		c.Problem([]any{fileKey}, "%s is empty: name the file that holds the secret", fileKey)
		return ""
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(c.node.Pos().File), file)
	}
	if c.readFile == nil {
		c.Problem([]any{fileKey}, "%s %s cannot be read here: no file reader was given (a bug in ptrule)", fileKey, file)
		return ""
	}
	data, err := c.readFile(file)
	if err != nil {
		hint := ""
		if errors.Is(err, fs.ErrNotExist) {
			hint = ": create it, holding only the secret and readable by root alone, or fix the path"
		}
		c.Problem([]any{fileKey}, "%s: %v%s", fileKey, err, hint)
		return ""
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		c.Problem([]any{fileKey}, "%s %s is empty: write the secret into it", fileKey, file)
		return ""
	}
	return Secret(s)
}
