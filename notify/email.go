package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// The values of an email channel's tls key.
const (
	// EmailTLSStartTLS upgrades the connection with STARTTLS and refuses to
	// send when the server does not offer it. The default.
	EmailTLSStartTLS = "starttls"
	// EmailTLSOpportunistic upgrades with STARTTLS when the server offers
	// it and sends in clear text when it does not.
	EmailTLSOpportunistic = "opportunistic"
	// EmailTLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	EmailTLSImplicit = "implicit"
	// EmailTLSNone never encrypts.
	EmailTLSNone = "none"
)

// The values of an email channel's auth key.
const (
	// EmailAuthAuto takes the best mechanism the server offers among
	// SCRAM-SHA-256, SCRAM-SHA-1, PLAIN and LOGIN, in that order. The
	// default when a username is set.
	EmailAuthAuto = "auto"
	// EmailAuthPlain is AUTH PLAIN.
	EmailAuthPlain = "plain"
	// EmailAuthLogin is AUTH LOGIN.
	EmailAuthLogin = "login"
)

const (
	// DefaultEmailTimeout bounds one send, from the connection to the
	// server's answer to the message, when the timeout key is not set.
	DefaultEmailTimeout = 10 * time.Second
	// maxEmailTimeout is the largest timeout accepted: a stuck server must
	// not hold an alert for longer.
	maxEmailTimeout = 5 * time.Minute

	// emailSubjectMax is the most runes of an alert's own subject kept in
	// the Subject header (the host prefix comes on top), so that the header
	// stays well within the 998-octet line limit of RFC 5322.
	emailSubjectMax = 200
	// emailBodyMax and emailPlainBodyMax are the most bytes of an alert's
	// message kept in the body, normally and when Alert.Plain asks for a
	// shortened message after the server refused the first one.
	emailBodyMax      = 256 << 10
	emailPlainBodyMax = 16 << 10
)

// EmailConfig is the configuration of a channel of type email: where the
// SMTP server is, how to secure and authenticate the connection, and who
// the alert goes to. The keys are those of ptrule.yaml.
type EmailConfig struct {
	// Host is the SMTP server's name or IP address, without a port.
	Host string `yaml:"host"`
	// Port is the server's port; 0 means 465 for tls: implicit, 25 for
	// tls: none and 587 otherwise.
	Port int `yaml:"port"`
	// TLS is starttls (the default), opportunistic, implicit or none.
	TLS string `yaml:"tls"`
	// From is the sender address, To the recipients (at least one), each
	// an RFC 5322 address such as "ptrule@example.com" or
	// "Ops <ops@example.com>".
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
	// Username turns on SMTP authentication, with the password given
	// inline (Password) or, better, read from PasswordFile.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Auth is the SASL mechanism: auto (the default), plain or login.
	Auth string `yaml:"auth"`
	// CAFile is a PEM file of the certificate authorities trusted for the
	// server's certificate, instead of the system's.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one send, connection included; 0 means
	// DefaultEmailTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// Check returns what is wrong with c, each problem naming its key; nil
// means NewEmail will accept it (unless a file it names cannot be read).
func (c *EmailConfig) Check() []FieldProblem {
	var ps []FieldProblem
	add := func(key, format string, args ...any) {
		ps = append(ps, FieldProblem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Host == "":
		add("host", "the SMTP server is missing: set host to its name or IP address")
	case !validEmailHost(c.Host):
		add("host", "%q is not a host name or IP address: give the port in port, and no scheme or path", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		add("port", "%d is not a TCP port: use 1 to 65535, or leave it out for the default of the tls mode", c.Port)
	}
	switch c.TLS {
	case "", EmailTLSStartTLS, EmailTLSOpportunistic, EmailTLSImplicit, EmailTLSNone:
	default:
		add("tls", "%q is not a TLS mode: use starttls, opportunistic, implicit or none", c.TLS)
	}
	if c.From == "" {
		add("from", "the sender address is missing: set from, for example ptrule@example.com")
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		add("from", "%q is not an email address (%v)", c.From, err)
	}
	if len(c.To) == 0 {
		add("to", "no recipient: list at least one address under to")
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			add("to", "entry %d, %q, is not an email address (%v)", i+1, to, err)
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		add("password", "set password or password_file, not both")
	}
	switch {
	case c.Username == "" && (c.Password != "" || c.PasswordFile != ""):
		add("username", "a password is set but no username: set username, or remove the password")
	case c.Username != "" && c.Password == "" && c.PasswordFile == "":
		add("password_file", "username %q has no password: set password_file (or password)", c.Username)
	}
	if strings.ContainsAny(c.Username, "\x00\r\n") {
		add("username", "the user name holds a NUL or line break")
	}
	switch c.Auth {
	case "", EmailAuthAuto, EmailAuthPlain, EmailAuthLogin:
		if c.Auth != "" && c.Username == "" {
			add("auth", "auth needs a username: set username and password_file, or remove auth")
		}
	default:
		add("auth", "%q is not an authentication mechanism: use auto, plain or login", c.Auth)
	}
	if c.TLS == EmailTLSNone {
		if c.Username != "" && !isLoopbackHost(c.Host) {
			add("tls", "tls: none would send the password in clear text to %s: use starttls or implicit", c.Host)
		}
		if c.CAFile != "" {
			add("ca_file", "ca_file has no use with tls: none: remove it, or use starttls or implicit")
		}
	}
	switch {
	case c.Timeout < 0:
		add("timeout", "%s is negative: give a duration such as 10s", c.Timeout)
	case c.Timeout > maxEmailTimeout:
		add("timeout", "%s is more than %s: a stuck server would hold alerts back that long", c.Timeout, maxEmailTimeout)
	}
	return ps
}

// validEmailHost reports whether h can name an SMTP server: an IP address
// or a host name, with no port, scheme, path, space or control character.
func validEmailHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// isLoopbackHost reports whether h names this machine, where a clear-text
// password never crosses a network: the three names go-mail sends a
// password to without TLS.
func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// EmailChannel sends alerts by SMTP, one connection per alert. It is safe
// for concurrent use.
type EmailChannel struct {
	host     string
	port     int
	mode     string
	from     string
	to       []string
	username string
	password string
	auth     string
	tls      *tls.Config
	timeout  time.Duration
}

// NewEmail returns the channel cfg describes. readSecret reads
// password_file and ca_file (the caller checks that only root can change
// them); a trailing newline of the password is dropped. The error never
// holds the password.
func NewEmail(cfg EmailConfig, readSecret func(path string) ([]byte, error)) (*EmailChannel, error) {
	if ps := cfg.Check(); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, p := range ps {
			msgs[i] = p.Key + ": " + p.Msg
		}
		return nil, fmt.Errorf("email channel: %s", strings.Join(msgs, "; "))
	}
	c := &EmailChannel{
		host:     cfg.Host,
		port:     cfg.Port,
		mode:     cfg.TLS,
		from:     cfg.From,
		to:       slices.Clone(cfg.To),
		username: cfg.Username,
		password: cfg.Password,
		auth:     cfg.Auth,
		timeout:  cfg.Timeout,
	}
	if c.mode == "" {
		c.mode = EmailTLSStartTLS
	}
	if c.port == 0 {
		switch c.mode {
		case EmailTLSImplicit:
			c.port = 465
		case EmailTLSNone:
			c.port = 25
		default:
			c.port = 587
		}
	}
	if c.username != "" && c.auth == "" {
		c.auth = EmailAuthAuto
	}
	if c.timeout == 0 {
		c.timeout = DefaultEmailTimeout
	}
	if (cfg.PasswordFile != "" || cfg.CAFile != "") && readSecret == nil {
		return nil, errors.New("email channel: no file reader for password_file and ca_file (a bug in the caller)")
	}
	if cfg.PasswordFile != "" {
		b, err := readSecret(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("email channel: password_file: %w", err)
		}
		c.password = strings.TrimRight(string(b), "\r\n")
		if c.password == "" {
			return nil, fmt.Errorf("email channel: password_file %s is empty: write the SMTP password into it", cfg.PasswordFile)
		}
	}
	c.tls = &tls.Config{ServerName: c.host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		b, err := readSecret(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email channel: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("email channel: ca_file %s holds no PEM certificate: give the CA certificate(s) that signed the server's, in PEM", cfg.CAFile)
		}
		c.tls.RootCAs = pool
	}
	return c, nil
}

// Send delivers a in one SMTP session bounded by the channel's timeout and
// by ctx, whichever ends first: a server that accepts the connection and
// never answers is cut off. It makes one attempt; a failure is a
// SendError: Temporary for network errors, timeouts and 4xx replies,
// Rejected when the server refused the message's content (552, 554 after
// DATA), Permanent otherwise (authentication, TLS, refused addresses). A
// message the server accepted counts as delivered even when the session
// fails afterwards, so that a retry does not send it twice.
func (c *EmailChannel) Send(ctx context.Context, a Alert) error {
	msg, err := c.message(a)
	if err != nil {
		return Permanent(fmt.Errorf("email: building the message: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	client, err := gomail.NewClient(c.host, c.options(ctx)...)
	if err != nil {
		return Permanent(fmt.Errorf("email: %w", err))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		return nil
	}
	return c.classify(ctx, err)
}

// options returns the go-mail client options of one send. Its connections
// are closed when ctx ends, which interrupts any read or write in flight.
func (c *EmailChannel) options(ctx context.Context) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(c.port),
		gomail.WithTimeout(c.timeout),
		gomail.WithTLSConfig(c.tls),
		gomail.WithoutNoop(),
		gomail.WithDialContextFunc(c.dialer(ctx)),
	}
	switch c.mode {
	case EmailTLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case EmailTLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case EmailTLSImplicit:
		// The dialer speaks TLS; WithSSL keeps go-mail from trying
		// STARTTLS over it.
		opts = append(opts, gomail.WithSSL())
	case EmailTLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.username != "" {
		opts = append(opts, gomail.WithUsername(c.username), gomail.WithPassword(c.password))
		switch c.auth {
		case EmailAuthPlain:
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain))
		case EmailAuthLogin:
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthLogin))
		default:
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
		}
	}
	return opts
}

// dialer returns the function go-mail connects with: TCP, with the TLS
// handshake for tls: implicit, and a watch that closes the TCP connection
// as soon as ctx ends. go-mail alone bounds each step by its timeout but
// ignores the context once connected.
func (c *EmailChannel) dialer(ctx context.Context) gomail.DialContextFunc {
	return func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { raw.Close() })
		if c.mode != EmailTLSImplicit {
			return raw, nil
		}
		conn := tls.Client(raw, c.tls)
		if err := conn.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

// classify turns a failed send into a SendError, with a text that says
// where it failed and what to do.
func (c *EmailChannel) classify(ctx context.Context, err error) error {
	server := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		netErr   net.Error
		dnsErr   *net.DNSError
		protoErr *textproto.Error
		sendErr  *gomail.SendError
	)
	// go-mail's own deadlines and the context's end at the same moment;
	// either one means the server did not answer in time.
	ctxErr := ctx.Err()
	switch {
	case errors.Is(ctxErr, context.Canceled):
		return Temporary(fmt.Errorf("email via %s: %w (%v)", server, ctxErr, err), 0)
	case ctxErr != nil:
		return Temporary(fmt.Errorf("email via %s: no complete answer within %s: %w (%v)", server, c.timeout, ctxErr, err), 0)
	case errors.As(err, &netErr) && netErr.Timeout():
		return Temporary(fmt.Errorf("email via %s: no complete answer within %s: %w", server, c.timeout, err), 0)
	}
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		return Permanent(fmt.Errorf("email via %s: the server's certificate is not trusted (%v): set ca_file to the CA that signed it, or fix host to the name in the certificate", server, err))
	case errors.Is(err, gosmtp.ErrUnencrypted):
		return Permanent(fmt.Errorf("email via %s: the connection is not encrypted, so the password was not sent (%v): use tls: starttls or implicit", server, err))
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return Permanent(fmt.Errorf("email via %s: the server does not offer STARTTLS (%v): use tls: implicit if it speaks TLS on connect, or opportunistic to accept clear text", server, err))
	case errors.Is(err, gomail.ErrPlainAuthNotSupported), errors.Is(err, gomail.ErrLoginAuthNotSupported),
		errors.Is(err, gomail.ErrNoSupportedAuthDiscovered), strings.Contains(err.Error(), "does not support SMTP AUTH"):
		return Permanent(fmt.Errorf("email via %s: the server does not offer the authentication asked for (%v): set auth to a mechanism it offers, or remove username if it needs none", server, err))
	}
	code := 0
	switch {
	case errors.As(err, &sendErr) && sendErr.ErrorCode() != 0:
		code = sendErr.ErrorCode()
	case errors.As(err, &protoErr):
		code = protoErr.Code
	}
	switch {
	case code >= 400 && code < 500:
		return Temporary(fmt.Errorf("email via %s: the server asked to try later: %w", server, err), 0)
	case code == 530 || code == 534 || code == 535 || code == 538:
		return Permanent(fmt.Errorf("email via %s: authentication failed: %w: check username and password_file", server, err))
	case code >= 500 && sendErr != nil && (sendErr.Reason == gomail.ErrSMTPDataClose || sendErr.Reason == gomail.ErrWriteContent || code == 552):
		return Rejected(fmt.Errorf("email via %s: the server refused the message: %w", server, err))
	case code >= 500:
		return Permanent(fmt.Errorf("email via %s: the server refused: %w", server, err))
	case errors.As(err, &dnsErr):
		return Temporary(fmt.Errorf("email via %s: cannot resolve the host: %w", server, err), 0)
	case errors.Is(err, syscall.ECONNREFUSED):
		return Temporary(fmt.Errorf("email via %s: connection refused: is the SMTP server up? %w", server, err), 0)
	case errors.As(err, &netErr):
		return Temporary(fmt.Errorf("email via %s: %w", server, err), 0)
	}
	return Temporary(fmt.Errorf("email via %s: %w", server, err), 0)
}

// message returns the email for a: a plain-text message whose subject is
// the alert's, prefixed with the host name as lfd did, and whose body is
// the alert's message followed by its facts. Control characters and
// invalid UTF-8 in the alert cannot end a header or start a new one: they
// are replaced before go-mail encodes the headers (RFC 2047) and the body
// (quoted-printable, so no line is too long).
func (c *EmailChannel) message(a Alert) (*gomail.Msg, error) {
	host := a.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	m := gomail.NewMsg()
	if err := m.From(c.from); err != nil {
		return nil, err
	}
	if err := m.To(c.to...); err != nil {
		return nil, err
	}
	m.Subject(EmailSubject(host, a.Subject))
	m.SetDate()
	m.SetMessageID()
	m.SetUserAgent("ptrule")
	m.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	if a.Rule != "" {
		m.SetGenHeader(gomail.Header("X-Ptrule-Rule"), emailHeaderText(a.Rule, 100))
	}
	if a.Severity != "" {
		m.SetGenHeader(gomail.Header("X-Ptrule-Severity"), emailHeaderText(a.Severity, 20))
	}
	m.SetBodyString(gomail.TypeTextPlain, emailBody(host, a))
	return m, nil
}

// EmailSubject returns the Subject of an alert about host: "ptrule on
// HOST: subject", on one line, valid UTF-8, the alert's subject cut to
// emailSubjectMax runes; "(no subject)" stands in for an empty one.
func EmailSubject(host, subject string) string {
	subject = emailHeaderText(subject, emailSubjectMax)
	if subject == "" {
		subject = "(no subject)"
	}
	return "ptrule on " + emailHeaderText(host, 100) + ": " + subject
}

// emailHeaderText is emailLine for a header field's text: runs of white
// space become one space (a header folded at a run would lose it), the
// text is cut to max runes, and "=?" gets a word joiner (U+2060) after its
// "=": text such as "=?UTF-8?Q?=0D=0ABcc:?=" would otherwise reach the
// reader as an RFC 2047 encoded word, decoded into a line break and a fake
// header line, while the joiner makes go-mail encode the text so that it
// shows as written.
func emailHeaderText(s string, max int) string {
	s = emailCut(strings.Join(strings.Fields(emailLine(s)), " "), max)
	return strings.ReplaceAll(s, "=?", "=\u2060?")
}

// emailBody returns the plain-text body of an alert: its message, cut to
// the channel's limit, then its facts after a signature separator.
func emailBody(host string, a Alert) string {
	limit := emailBodyMax
	if a.Plain {
		limit = emailPlainBodyMax
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(emailText(a.Message, limit), "\n"))
	b.WriteString("\n\n-- \n")
	fact := func(name, value string) {
		if value != "" {
			b.WriteString(name + ": " + emailCut(emailLine(value), 200) + "\n")
		}
	}
	fact("Rule", a.Rule)
	fact("Severity", a.Severity)
	fact("Host", host)
	if !a.Time.IsZero() {
		fact("Time", a.Time.Format(time.RFC3339))
	}
	if a.PID != 0 {
		fact("PID", strconv.Itoa(a.PID))
	}
	fact("User", a.User)
	if a.SID != 0 {
		fact("Session", strconv.Itoa(a.SID))
	}
	fact("Key", a.Key)
	b.WriteString("Sent by ptrule.\n")
	return b.String()
}

// emailLine returns s on one line: invalid UTF-8 becomes U+FFFD, tabs and
// line breaks (CR, LF, U+2028, U+2029, NEL) spaces, other control and
// bidirectional-override characters U+FFFD.
func emailLine(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\t' || r == '\r' || r == '\n' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteByte(' ')
		case unsafeRune(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// emailCut returns s cut to max runes, the cut marked with an ellipsis.
func emailCut(s string, max int) string {
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// emailText returns s as body text: invalid UTF-8 becomes U+FFFD, CR LF and
// lone CR become LF, control and bidirectional-override characters other
// than tab and LF become U+FFFD. It keeps at most max bytes, cut between
// runes and marked with a line that says how much was left out.
func emailText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	for i, r := range s {
		if b.Len()+utf8.RuneLen(r) > max {
			fmt.Fprintf(&b, "\n[… %d more bytes cut]", len(s)-i)
			break
		}
		switch {
		case r == '\r':
			b.WriteByte('\n')
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unsafeRune(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune reports whether r is a control character or one that
// reorders the text around it (a bidirectional override or isolate), which
// could make a mail reader show something other than what was sent.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}
