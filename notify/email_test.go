package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var updateEmailGolden = flag.Bool("update-email", false, "rewrite notify/testdata/email-*.golden")

// emailTestPassword is the password of the test server's user "ptrule".
const emailTestPassword = "s3cret-Pa55"

// emailReceived is one message an emailServer accepted.
type emailReceived struct {
	from string
	to   []string
	data []byte
	tls  bool   // the session was encrypted
	user string // the user that authenticated, "" for none
	mech string // the SASL mechanism it used
}

// emailServer is an in-process SMTP server on 127.0.0.1 (go-smtp) that
// records what it receives and can misbehave on request.
type emailServer struct {
	addr  string
	port  int
	mechs []string // mechanisms offered; authentication is required when set

	rcptErr error // returned by RCPT
	dataErr error // returned after reading DATA

	// dataEntered is closed when DATA starts; with blockData, DATA then
	// waits for release.
	blockData   bool
	dataEntered chan struct{}
	enterOnce   sync.Once
	// hangAfterData makes the session stop answering once a message has
	// been accepted.
	hangAfterData bool
	release       chan struct{}

	mu    sync.Mutex
	got   []emailReceived
	auths int // AUTH commands seen
}

// emailServerOpts says how an emailServer listens.
type emailServerOpts struct {
	listen   string      // the address to listen on; 127.0.0.1 when empty
	port     int         // the port to listen on; any free one when 0
	starttls *tls.Config // offered with STARTTLS when set
	implicit *tls.Config // TLS from the first byte when set
	mechs    []string
}

func newEmailServer(t *testing.T, o emailServerOpts, setup func(*emailServer)) *emailServer {
	t.Helper()
	es := &emailServer{mechs: o.mechs, dataEntered: make(chan struct{}), release: make(chan struct{})}
	if setup != nil {
		setup(es)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &emailSession{srv: es, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = o.starttls == nil && o.implicit == nil
	srv.TLSConfig = o.starttls
	if o.listen == "" {
		o.listen = "127.0.0.1"
	}
	var l net.Listener
	var err error
	addr := net.JoinHostPort(o.listen, fmt.Sprint(o.port))
	if o.implicit != nil {
		l, err = tls.Listen("tcp", addr, o.implicit)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	es.addr = l.Addr().String()
	es.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() {
		close(es.release)
		srv.Close()
		<-done
	})
	return es
}

func (es *emailServer) received() []emailReceived {
	es.mu.Lock()
	defer es.mu.Unlock()
	return slices.Clone(es.got)
}

func (es *emailServer) authCount() int {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.auths
}

type emailSession struct {
	srv        *emailServer
	conn       *smtp.Conn
	user, mech string
	from       string
	to         []string
	delivered  bool
}

func (s *emailSession) AuthMechanisms() []string { return s.srv.mechs }

func (s *emailSession) Auth(mech string) (sasl.Server, error) {
	s.srv.mu.Lock()
	s.srv.auths++
	s.srv.mu.Unlock()
	check := func(user, pass string) error {
		if user != "ptrule" || pass != emailTestPassword {
			return smtp.ErrAuthFailed
		}
		s.user, s.mech = user, mech
		return nil
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case "LOGIN":
		return &emailLoginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *emailSession) Mail(from string, _ *smtp.MailOptions) error {
	if len(s.srv.mechs) > 0 && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *emailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.rcptErr != nil {
		return s.srv.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *emailSession) Data(r io.Reader) error {
	s.srv.enterOnce.Do(func() { close(s.srv.dataEntered) })
	if s.srv.blockData {
		<-s.srv.release
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.srv.dataErr != nil {
		return s.srv.dataErr
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.got = append(s.srv.got, emailReceived{from: s.from, to: s.to, data: data, tls: isTLS, user: s.user, mech: s.mech})
	s.srv.mu.Unlock()
	s.delivered = true
	return nil
}

func (s *emailSession) Reset() {
	if s.delivered && s.srv.hangAfterData {
		<-s.srv.release
	}
	s.from, s.to = "", nil
}

func (s *emailSession) Logout() error { return nil }

// emailLoginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type emailLoginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *emailLoginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(response) > 0 { // an initial response is the user name
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(response))
	}
}

// emailPKI is a test certificate authority and a server certificate it
// signed for 127.0.0.1 and localhost.
type emailPKI struct {
	caFile string // the CA certificate, PEM
	server tls.Certificate
}

func newEmailPKI(t *testing.T) emailPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ptrule test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return emailPKI{caFile: caFile, server: tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}
}

func (p emailPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
}

// emailPasswordFile writes the test password, with a trailing newline as
// an editor leaves it, and returns its path.
func emailPasswordFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(p, []byte(emailTestPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var emailAlert = Alert{
	Rule:     "pt-suspicious",
	Severity: "warning",
	Subject:  "suspicious process running under user bob",
	Message:  "Time: 2026-12-01 21:00:00 UTC\nAccount: bob\nCommand line: /tmp/.x/miner --pool x\n",
	Host:     "web1.example.com",
	Key:      "4242@85680000",
	Time:     time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC),
	PID:      4242,
	User:     "bob",
}

// TestEmailSendDelivers sends an alert through each TLS mode and
// authentication mechanism and checks what the server received, and how.
func TestEmailSendDelivers(t *testing.T) {
	pki := newEmailPKI(t)
	pw := emailPasswordFile(t)
	tests := []struct {
		name     string
		server   emailServerOpts
		cfg      EmailConfig
		wantTLS  bool
		wantMech string
	}{
		{
			name:     "starttls with AUTH PLAIN",
			server:   emailServerOpts{starttls: pki.serverConfig(), mechs: []string{"PLAIN"}},
			cfg:      EmailConfig{TLS: "starttls", CAFile: pki.caFile, Username: "ptrule", PasswordFile: pw, Auth: "plain"},
			wantTLS:  true,
			wantMech: "PLAIN",
		},
		{
			name:     "starttls with AUTH LOGIN",
			server:   emailServerOpts{starttls: pki.serverConfig(), mechs: []string{"LOGIN"}},
			cfg:      EmailConfig{CAFile: pki.caFile, Username: "ptrule", PasswordFile: pw, Auth: "login"},
			wantTLS:  true,
			wantMech: "LOGIN",
		},
		{
			name:     "auto prefers PLAIN to LOGIN",
			server:   emailServerOpts{starttls: pki.serverConfig(), mechs: []string{"LOGIN", "PLAIN"}},
			cfg:      EmailConfig{CAFile: pki.caFile, Username: "ptrule", Password: emailTestPassword},
			wantTLS:  true,
			wantMech: "PLAIN",
		},
		{
			name:     "auto takes LOGIN when it is all the server offers",
			server:   emailServerOpts{starttls: pki.serverConfig(), mechs: []string{"LOGIN"}},
			cfg:      EmailConfig{CAFile: pki.caFile, Username: "ptrule", PasswordFile: pw, Auth: "auto"},
			wantTLS:  true,
			wantMech: "LOGIN",
		},
		{
			name:     "implicit TLS",
			server:   emailServerOpts{implicit: pki.serverConfig(), mechs: []string{"PLAIN", "LOGIN"}},
			cfg:      EmailConfig{TLS: "implicit", CAFile: pki.caFile, Username: "ptrule", PasswordFile: pw},
			wantTLS:  true,
			wantMech: "PLAIN",
		},
		{
			name:    "opportunistic upgrades when offered",
			server:  emailServerOpts{starttls: pki.serverConfig()},
			cfg:     EmailConfig{TLS: "opportunistic", CAFile: pki.caFile},
			wantTLS: true,
		},
		{
			name:   "opportunistic sends in clear when not offered",
			server: emailServerOpts{},
			cfg:    EmailConfig{TLS: "opportunistic"},
		},
		{
			name:   "none stays in clear though STARTTLS is offered",
			server: emailServerOpts{starttls: pki.serverConfig()},
			cfg:    EmailConfig{TLS: "none"},
		},
		{
			name:     "none with a password to a loopback server",
			server:   emailServerOpts{mechs: []string{"PLAIN"}},
			cfg:      EmailConfig{TLS: "none", Username: "ptrule", PasswordFile: pw, Auth: "plain"},
			wantMech: "PLAIN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newEmailServer(t, tt.server, nil)
			cfg := tt.cfg
			cfg.Host, cfg.Port = "127.0.0.1", srv.port
			cfg.From = "ptrule@web1.example.com"
			cfg.To = []string{"ops@example.com"}
			ch, err := NewEmail(cfg, os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := ch.Send(t.Context(), emailAlert); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.received()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			m := got[0]
			if m.tls != tt.wantTLS {
				t.Errorf("session encrypted = %v, want %v", m.tls, tt.wantTLS)
			}
			if m.mech != tt.wantMech {
				t.Errorf("mechanism = %q, want %q", m.mech, tt.wantMech)
			}
			if tt.wantMech != "" && m.user != "ptrule" {
				t.Errorf("authenticated as %q, want ptrule", m.user)
			}
			if m.from != "ptrule@web1.example.com" || !slices.Equal(m.to, []string{"ops@example.com"}) {
				t.Errorf("envelope from %q to %q", m.from, m.to)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(m.data))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := emailDecodeHeader(t, msg.Header.Get("Subject")), "ptrule on web1.example.com: "+emailAlert.Subject; got != want {
				t.Errorf("Subject = %q, want %q", got, want)
			}
		})
	}
}

// TestEmailSendSeveralRecipients checks that every recipient is in the
// envelope and in the To header, in a single message.
func TestEmailSendSeveralRecipients(t *testing.T) {
	srv := newEmailServer(t, emailServerOpts{}, nil)
	to := []string{"ops@example.com", "Security Team <sec@example.org>", "root@localhost"}
	ch, err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: srv.port, TLS: "none", From: "ptrule@example.com", To: to}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(t.Context(), emailAlert); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if want := []string{"ops@example.com", "sec@example.org", "root@localhost"}; !slices.Equal(got[0].to, want) {
		t.Errorf("envelope recipients = %q, want %q", got[0].to, want)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	list, err := msg.Header.AddressList("To")
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, a := range list {
		addrs = append(addrs, a.Address)
	}
	if want := []string{"ops@example.com", "sec@example.org", "root@localhost"}; !slices.Equal(addrs, want) {
		t.Errorf("To header = %q, want %q", addrs, want)
	}
}

// TestEmailSendConcurrent sends from several goroutines through one
// channel, over STARTTLS with a shared TLS configuration: each alert
// arrives once (run with -race).
func TestEmailSendConcurrent(t *testing.T) {
	pki := newEmailPKI(t)
	srv := newEmailServer(t, emailServerOpts{starttls: pki.serverConfig(), mechs: []string{"PLAIN"}}, nil)
	ch, err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: srv.port, CAFile: pki.caFile, Username: "ptrule",
		Password: emailTestPassword, From: "ptrule@example.com", To: []string{"ops@example.com"}}, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := emailAlert
			a.Subject = fmt.Sprintf("alert %d", i)
			errs[i] = ch.Send(t.Context(), a)
		})
	}
	wg.Wait()
	var subjects []string
	for _, m := range srv.received() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.data))
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, msg.Header.Get("Subject"))
	}
	slices.Sort(subjects)
	var want []string
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Send %d: %v", i, errs[i])
		}
		want = append(want, fmt.Sprintf("ptrule on web1.example.com: alert %d", i))
	}
	if !slices.Equal(subjects, want) {
		t.Errorf("subjects received = %q, want %q", subjects, want)
	}
}

// emailSilentServer accepts TCP connections and never writes a byte.
func emailSilentServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// emailDownPort returns a loopback port nothing listens on.
func emailDownPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// emailKind names how a SendError says to go on.
func emailKind(err error) string {
	var se *SendError
	switch {
	case err == nil:
		return "delivered"
	case !errors.As(err, &se):
		return "unclassified"
	case se.Rejected:
		return "rejected"
	case se.Retry:
		return "temporary"
	}
	return "permanent"
}

// TestEmailSendFailures checks how each failure is classified, and that
// the password appears in no error.
func TestEmailSendFailures(t *testing.T) {
	pki := newEmailPKI(t)
	pw := emailPasswordFile(t)
	tests := []struct {
		name    string
		server  *emailServerOpts // nil: no SMTP server, port says what is there
		port    func(t *testing.T) int
		setup   func(*emailServer)
		host    string // 127.0.0.1 when empty
		cfg     EmailConfig
		want    string
		wantMsg string // a part of the error text
	}{
		{
			name:    "wrong password",
			server:  &emailServerOpts{starttls: pki.serverConfig(), mechs: []string{"PLAIN"}},
			cfg:     EmailConfig{CAFile: pki.caFile, Username: "ptrule", Password: "wrong-Pa55"},
			want:    "permanent",
			wantMsg: "authentication failed",
		},
		{
			name:    "wrong password with LOGIN",
			server:  &emailServerOpts{starttls: pki.serverConfig(), mechs: []string{"LOGIN"}},
			cfg:     EmailConfig{CAFile: pki.caFile, Username: "ptrule", Password: "wrong-Pa55", Auth: "login"},
			want:    "permanent",
			wantMsg: "authentication failed",
		},
		{
			name:    "mechanism the server does not offer",
			server:  &emailServerOpts{starttls: pki.serverConfig(), mechs: []string{"PLAIN"}},
			cfg:     EmailConfig{CAFile: pki.caFile, Username: "ptrule", PasswordFile: pw, Auth: "login"},
			want:    "permanent",
			wantMsg: "set auth",
		},
		{
			name:    "starttls required but not offered",
			server:  &emailServerOpts{},
			cfg:     EmailConfig{TLS: "starttls"},
			want:    "permanent",
			wantMsg: "does not offer STARTTLS",
		},
		{
			// 127.0.0.2 is this machine too, but not a name go-mail
			// trusts with a clear-text password.
			name:    "opportunistic without STARTTLS keeps the password",
			server:  &emailServerOpts{listen: "127.0.0.2", mechs: []string{"PLAIN", "LOGIN"}},
			host:    "127.0.0.2",
			cfg:     EmailConfig{TLS: "opportunistic", Username: "ptrule", PasswordFile: pw},
			want:    "permanent",
			wantMsg: "not encrypted",
		},
		{
			name:    "certificate from an unknown CA",
			server:  &emailServerOpts{starttls: pki.serverConfig()},
			cfg:     EmailConfig{TLS: "starttls"},
			want:    "permanent",
			wantMsg: "ca_file",
		},
		{
			name:    "implicit TLS with an unknown CA",
			server:  &emailServerOpts{implicit: pki.serverConfig()},
			cfg:     EmailConfig{TLS: "implicit"},
			want:    "permanent",
			wantMsg: "ca_file",
		},
		{
			name:    "server down",
			port:    emailDownPort,
			cfg:     EmailConfig{TLS: "starttls"},
			want:    "temporary",
			wantMsg: "connection refused",
		},
		{
			name:    "server accepts and never answers",
			port:    emailSilentServer,
			cfg:     EmailConfig{TLS: "starttls", Timeout: 500 * time.Millisecond},
			want:    "temporary",
			wantMsg: "no complete answer within 500ms",
		},
		{
			name:    "implicit TLS to a server that never answers",
			port:    emailSilentServer,
			cfg:     EmailConfig{TLS: "implicit", Timeout: 500 * time.Millisecond},
			want:    "temporary",
			wantMsg: "no complete answer within 500ms",
		},
		{
			name:    "server stops answering during DATA",
			server:  &emailServerOpts{},
			setup:   func(s *emailServer) { s.blockData = true },
			cfg:     EmailConfig{TLS: "none", Timeout: 500 * time.Millisecond},
			want:    "temporary",
			wantMsg: "no complete answer within 500ms",
		},
		{
			name:    "recipient deferred (451)",
			server:  &emailServerOpts{},
			setup:   func(s *emailServer) { s.rcptErr = &smtp.SMTPError{Code: 451, Message: "try again later"} },
			cfg:     EmailConfig{TLS: "none"},
			want:    "temporary",
			wantMsg: "try later",
		},
		{
			name:    "recipient unknown (550)",
			server:  &emailServerOpts{},
			setup:   func(s *emailServer) { s.rcptErr = &smtp.SMTPError{Code: 550, Message: "no such user"} },
			cfg:     EmailConfig{TLS: "none"},
			want:    "permanent",
			wantMsg: "no such user",
		},
		{
			name:   "message too big (552)",
			server: &emailServerOpts{},
			setup: func(s *emailServer) {
				s.dataErr = &smtp.SMTPError{Code: 552, Message: "message exceeds fixed maximum message size"}
			},
			cfg:     EmailConfig{TLS: "none"},
			want:    "rejected",
			wantMsg: "exceeds",
		},
		{
			name:    "content refused (554)",
			server:  &emailServerOpts{},
			setup:   func(s *emailServer) { s.dataErr = &smtp.SMTPError{Code: 554, Message: "content rejected"} },
			cfg:     EmailConfig{TLS: "none"},
			want:    "rejected",
			wantMsg: "content rejected",
		},
		{
			name:    "server busy after DATA (451)",
			server:  &emailServerOpts{},
			setup:   func(s *emailServer) { s.dataErr = &smtp.SMTPError{Code: 451, Message: "local error in processing"} },
			cfg:     EmailConfig{TLS: "none"},
			want:    "temporary",
			wantMsg: "local error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			var srv *emailServer
			if tt.server != nil {
				srv = newEmailServer(t, *tt.server, tt.setup)
				cfg.Port = srv.port
			} else {
				cfg.Port = tt.port(t)
			}
			cfg.Host = cmp.Or(tt.host, "127.0.0.1")
			cfg.From = "ptrule@example.com"
			cfg.To = []string{"ops@example.com"}
			ch, err := NewEmail(cfg, os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			err = ch.Send(t.Context(), emailAlert)
			if got := emailKind(err); got != tt.want {
				t.Fatalf("Send = %v (%s), want %s", err, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			for _, secret := range []string{emailTestPassword, "wrong-Pa55"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds the password", err)
				}
			}
			if srv != nil && len(srv.received()) != 0 {
				t.Errorf("server received %d messages, want none", len(srv.received()))
			}
			if srv != nil && tt.cfg.Password == "" && srv.authCount() != 0 {
				t.Errorf("the password went to the server %d times, want never", srv.authCount())
			}
		})
	}
}

// TestEmailSendHonoursContext cancels the caller's context while the
// server sits on DATA, with a channel timeout far beyond the test's: Send
// must return at once, as a temporary failure that wraps the cancellation.
func TestEmailSendHonoursContext(t *testing.T) {
	srv := newEmailServer(t, emailServerOpts{}, func(s *emailServer) { s.blockData = true })
	ch, err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: srv.port, TLS: "none", From: "ptrule@example.com",
		To: []string{"ops@example.com"}, Timeout: maxEmailTimeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-srv.dataEntered
		cancel()
	}()
	err = ch.Send(ctx, emailAlert)
	if got := emailKind(err); got != "temporary" {
		t.Fatalf("Send = %v (%s), want temporary", err, got)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

// TestEmailSendAcceptedThenSilent has the server accept the message and
// then stop answering (RSET, QUIT): the alert was delivered, so Send
// reports success and a retry cannot deliver it twice.
func TestEmailSendAcceptedThenSilent(t *testing.T) {
	srv := newEmailServer(t, emailServerOpts{}, func(s *emailServer) { s.hangAfterData = true })
	ch, err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: srv.port, TLS: "none", From: "ptrule@example.com",
		To: []string{"ops@example.com"}, Timeout: 500 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(t.Context(), emailAlert); err != nil {
		t.Fatalf("Send = %v, want nil: the server accepted the message", err)
	}
	if n := len(srv.received()); n != 1 {
		t.Errorf("server received %d messages, want 1", n)
	}
}

// emailHostileAlert carries what a process can put in its command line:
// header injection attempts, invalid UTF-8, terminal escapes, a lone dot,
// bidirectional overrides and lines far beyond SMTP's 998-octet limit.
var emailHostileAlert = Alert{
	Rule:     "pt-hostile",
	Severity: "critical",
	Subject:  "kill \r\nBcc: victim@example.net\r\nX-Injected: yes\n\n<b>body</b> \xff\xfe\x1b[31m @everyone <!channel> \u202eevil" + strings.Repeat("A", 3000),
	Message: "line one\r\nBcc: victim@example.net\r\n.\r\nMAIL FROM:<evil@example.net>\r\n" +
		"\x00\x07\x1b]0;title\x07 \xc3\x28 \u202e\n" + strings.Repeat("B", 5000) + "\n" + strings.Repeat("é", 3000) + "\nend\r",
	Host: "web1\r\nX-Host-Injected: 1",
	User: "bob\nX-User: 1",
	PID:  7,
}

// emailHeaderKeys are the only header fields an alert email has.
var emailHeaderKeys = []string{
	"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id",
	"Mime-Version", "Subject", "To", "User-Agent", "X-Mailer", "X-Ptrule-Rule", "X-Ptrule-Severity",
}

// emailCheckMessage parses raw as the server received it and checks that
// no alert text escaped its field: the header set is exactly
// emailHeaderKeys, no line is longer than 998 octets, the subject is the
// host-prefixed one line of the alert's, and the body is valid UTF-8. It
// returns the decoded subject and body.
func emailCheckMessage(t testing.TB, raw []byte) (subject, body string) {
	t.Helper()
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d octets long", i+1, len(line))
		}
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %d holds a bare CR or LF: %q", i+1, line)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, raw)
	}
	var keys []string
	for k, v := range msg.Header {
		keys = append(keys, k)
		if len(v) != 1 {
			t.Errorf("header %s appears %d times", k, len(v))
		}
	}
	slices.Sort(keys)
	if !slices.Equal(keys, emailHeaderKeys) {
		t.Errorf("header fields = %q, want %q", keys, emailHeaderKeys)
	}
	if ct := msg.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(ct, "charset=UTF-8") {
		t.Errorf("Content-Type = %q, want text/plain in UTF-8", ct)
	}
	subject = emailDecodeHeader(t, msg.Header.Get("Subject"))
	if strings.ContainsAny(subject, "\r\n") || !utf8.ValidString(subject) {
		t.Errorf("subject %q is not one line of valid UTF-8", subject)
	}
	if msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q, want quoted-printable", msg.Header.Get("Content-Transfer-Encoding"))
	}
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("the body is not quoted-printable: %v", err)
	}
	if !utf8.Valid(b) {
		t.Errorf("the body is not valid UTF-8")
	}
	// Text lines end in CR LF on the wire, and nowhere else.
	body = strings.ReplaceAll(string(b), "\r\n", "\n")
	if strings.Contains(body, "\r") {
		t.Errorf("the body holds a bare CR")
	}
	return subject, body
}

func emailDecodeHeader(t testing.TB, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("header %q does not decode: %v", v, err)
	}
	return s
}

// TestEmailHostileAlert sends an alert full of hostile text through a real
// SMTP session and checks it arrives as one message to the configured
// recipients only, with no injected header and every byte accounted for.
func TestEmailHostileAlert(t *testing.T) {
	srv := newEmailServer(t, emailServerOpts{}, nil)
	ch, err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: srv.port, TLS: "none", From: "ptrule@example.com",
		To: []string{"ops@example.com"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(t.Context(), emailHostileAlert); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if !slices.Equal(got[0].to, []string{"ops@example.com"}) {
		t.Errorf("envelope recipients = %q, want only ops@example.com", got[0].to)
	}
	subject, body := emailCheckMessage(t, got[0].data)
	wantText := "kill Bcc: victim@example.net X-Injected: yes <b>body</b> \uFFFD\uFFFD[31m @everyone <!channel> \uFFFDevil"
	wantSubject := "ptrule on web1 X-Host-Injected: 1: " + wantText + strings.Repeat("A", emailSubjectMax-utf8.RuneCountInString(wantText)) + "…"
	if subject != wantSubject {
		t.Errorf("subject =\n%q\nwant\n%q", subject, wantSubject)
	}
	wantBody := "line one\nBcc: victim@example.net\n.\nMAIL FROM:<evil@example.net>\n" +
		"\uFFFD\uFFFD\uFFFD]0;title\uFFFD \uFFFD( \uFFFD\n" + strings.Repeat("B", 5000) + "\n" + strings.Repeat("é", 3000) + "\nend"
	if !strings.HasPrefix(body, wantBody+"\n\n-- \n") {
		t.Errorf("body does not start with the cleaned message:\n%q", body[:min(len(body), 300)])
	}
	if !strings.Contains(body, "\nUser: bob X-User: 1\n") {
		t.Errorf("body does not hold the user on one line:\n%q", body[len(wantBody):])
	}
}

// TestEmailMessageGolden pins the whole message of an ordinary alert,
// with Date and Message-ID masked. Run with -update-email to rewrite it.
func TestEmailMessageGolden(t *testing.T) {
	ch, err := NewEmail(EmailConfig{Host: "smtp.example.com", From: "ptrule <ptrule@web1.example.com>",
		To: []string{"ops@example.com", "sec@example.org"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		alert Alert
	}{
		{"email-alert.golden", emailAlert},
		{"email-hostile.golden", emailHostileAlert},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := emailRender(t, ch, tt.alert)
			emailCheckMessage(t, raw)
			raw = regexp.MustCompile(`(?m)^Date: .*\r\n`).ReplaceAll(raw, []byte("Date: DATE\r\n"))
			raw = regexp.MustCompile(`(?m)^Message-ID: <[^@]+@`).ReplaceAll(raw, []byte("Message-ID: <ID@"))
			hostname, _ := os.Hostname()
			raw = bytes.ReplaceAll(raw, []byte("@"+hostname+">"), []byte("@HOSTNAME>"))
			path := filepath.Join("testdata", tt.name)
			if *updateEmailGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./notify -run TestEmailMessageGolden -update-email)", err)
			}
			if !bytes.Equal(raw, want) {
				t.Errorf("message differs from %s:\n%s", path, raw)
			}
		})
	}
}

// emailRender returns the message ch would send for a, as written on the
// wire before dot-stuffing.
func emailRender(t testing.TB, ch *EmailChannel, a Alert) []byte {
	t.Helper()
	m, err := ch.message(a)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEmailPlainShortens checks that a plain resend of a long alert is cut
// to the plain limit, between runes, saying how much was left out.
func TestEmailPlainShortens(t *testing.T) {
	a := emailAlert
	a.Message = strings.Repeat("é", emailPlainBodyMax) // twice the limit in bytes
	for _, plain := range []bool{false, true} {
		a.Plain = plain
		body := emailBody("h", a)
		msg, _, _ := strings.Cut(body, "\n\n-- \n")
		if !utf8.ValidString(msg) {
			t.Errorf("plain=%v: the cut body is not valid UTF-8", plain)
		}
		cut := strings.Contains(msg, "more bytes cut]")
		if cut != plain {
			t.Errorf("plain=%v: body cut = %v", plain, cut)
		}
		if plain && len(msg) > emailPlainBodyMax+64 {
			t.Errorf("plain body is %d bytes, want about %d", len(msg), emailPlainBodyMax)
		}
		if plain && !strings.HasSuffix(msg, fmt.Sprintf("[… %d more bytes cut]", len(a.Message)-emailPlainBodyMax)) {
			t.Errorf("plain body ends %q", msg[len(msg)-40:])
		}
	}
}

// TestEmailHostFallback checks that an alert without a host is prefixed
// with this machine's name.
func TestEmailHostFallback(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	ch, err := NewEmail(EmailConfig{Host: "smtp.example.com", From: "a@example.com", To: []string{"b@example.com"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := emailAlert
	a.Host = ""
	subject, _ := emailCheckMessage(t, emailRender(t, ch, a))
	if want := "ptrule on " + hostname + ": "; !strings.HasPrefix(subject, want) {
		t.Errorf("subject %q does not start with %q", subject, want)
	}
}

func TestEmailConfigCheck(t *testing.T) {
	ok := EmailConfig{Host: "smtp.example.com", From: "ptrule@example.com", To: []string{"ops@example.com"}}
	tests := []struct {
		name string
		edit func(*EmailConfig)
		want []string // the keys at fault, in order
	}{
		{"minimal", func(*EmailConfig) {}, nil},
		{"everything", func(c *EmailConfig) {
			c.Port, c.TLS, c.Username, c.PasswordFile, c.Auth, c.CAFile, c.Timeout = 465, "implicit", "u", "/p", "login", "/ca", time.Minute
		}, nil},
		{"IPv6 host", func(c *EmailConfig) { c.Host = "::1" }, nil},
		{"no host", func(c *EmailConfig) { c.Host = "" }, []string{"host"}},
		{"host with port", func(c *EmailConfig) { c.Host = "smtp.example.com:587" }, []string{"host"}},
		{"host as URL", func(c *EmailConfig) { c.Host = "smtp://smtp.example.com" }, []string{"host"}},
		{"host with newline", func(c *EmailConfig) { c.Host = "a\nb" }, []string{"host"}},
		{"port too big", func(c *EmailConfig) { c.Port = 70000 }, []string{"port"}},
		{"negative port", func(c *EmailConfig) { c.Port = -1 }, []string{"port"}},
		{"unknown tls", func(c *EmailConfig) { c.TLS = "ssl" }, []string{"tls"}},
		{"no from", func(c *EmailConfig) { c.From = "" }, []string{"from"}},
		{"bad from", func(c *EmailConfig) { c.From = "ptrule" }, []string{"from"}},
		{"from with injected header", func(c *EmailConfig) { c.From = "a@example.com\r\nBcc: x@example.com" }, []string{"from"}},
		{"no recipient", func(c *EmailConfig) { c.To = nil }, []string{"to"}},
		{"bad recipients", func(c *EmailConfig) { c.To = []string{"ok@example.com", "nope", "x@example.com\nBcc: y@example.com"} }, []string{"to", "to"}},
		{"password twice", func(c *EmailConfig) { c.Username, c.Password, c.PasswordFile = "u", "p", "/p" }, []string{"password"}},
		{"password without username", func(c *EmailConfig) { c.PasswordFile = "/p" }, []string{"username"}},
		{"username without password", func(c *EmailConfig) { c.Username = "u" }, []string{"password_file"}},
		{"username with newline", func(c *EmailConfig) { c.Username, c.Password = "u\r\nx", "p" }, []string{"username"}},
		{"unknown auth", func(c *EmailConfig) { c.Username, c.Password, c.Auth = "u", "p", "cram-md5" }, []string{"auth"}},
		{"auth without username", func(c *EmailConfig) { c.Auth = "plain" }, []string{"auth"}},
		{"password in clear over the network", func(c *EmailConfig) { c.TLS, c.Username, c.Password = "none", "u", "p" }, []string{"tls"}},
		{"password in clear to localhost", func(c *EmailConfig) { c.Host, c.TLS, c.Username, c.Password = "localhost", "none", "u", "p" }, nil},
		{"password in clear to 127.0.0.1", func(c *EmailConfig) { c.Host, c.TLS, c.Username, c.Password = "127.0.0.1", "none", "u", "p" }, nil},
		{"ca_file without TLS", func(c *EmailConfig) { c.TLS, c.CAFile = "none", "/ca" }, []string{"ca_file"}},
		{"negative timeout", func(c *EmailConfig) { c.Timeout = -time.Second }, []string{"timeout"}},
		{"huge timeout", func(c *EmailConfig) { c.Timeout = time.Hour }, []string{"timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.To = slices.Clone(ok.To)
			tt.edit(&c)
			var keys []string
			for _, p := range c.Check() {
				keys = append(keys, p.Key)
				if p.Msg == "" {
					t.Errorf("problem with %s has no message", p.Key)
				}
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("keys at fault = %q, want %q (%v)", keys, tt.want, c.Check())
			}
			if _, err := NewEmail(c, func(string) ([]byte, error) { return []byte("x\n"), nil }); (err == nil) != (tt.want == nil) && !strings.Contains(fmt.Sprint(err), "PEM") {
				t.Errorf("NewEmail error = %v, want one only when Check finds problems", err)
			}
		})
	}
}

// TestNewEmailSecrets checks how NewEmail reads password_file and ca_file:
// through the reader it is given, the newline trimmed, and no secret in an
// error.
func TestNewEmailSecrets(t *testing.T) {
	base := EmailConfig{Host: "smtp.example.com", From: "a@example.com", To: []string{"b@example.com"}, Username: "u"}
	files := map[string]string{
		"/etc/ptrule/pw":    "hunter2\r\n",
		"/etc/ptrule/empty": "\n",
		"/etc/ptrule/ca":    "hunter2 is not a certificate",
	}
	var asked []string
	read := func(path string) ([]byte, error) {
		asked = append(asked, path)
		s, ok := files[path]
		if !ok {
			return nil, fmt.Errorf("open %s: %w", path, os.ErrNotExist)
		}
		return []byte(s), nil
	}
	t.Run("password_file", func(t *testing.T) {
		c := base
		c.PasswordFile = "/etc/ptrule/pw"
		asked = nil
		ch, err := NewEmail(c, read)
		if err != nil {
			t.Fatal(err)
		}
		if ch.password != "hunter2" {
			t.Errorf("password = %q, want the file's first line without its line break", ch.password)
		}
		if !slices.Equal(asked, []string{"/etc/ptrule/pw"}) {
			t.Errorf("files read = %q", asked)
		}
	})
	for _, tt := range []struct {
		name string
		edit func(*EmailConfig)
		want string
	}{
		{"missing password_file", func(c *EmailConfig) { c.PasswordFile = "/etc/ptrule/nope" }, "password_file: open /etc/ptrule/nope"},
		{"empty password_file", func(c *EmailConfig) { c.PasswordFile = "/etc/ptrule/empty" }, "is empty"},
		{"ca_file without a certificate", func(c *EmailConfig) { c.PasswordFile, c.CAFile = "/etc/ptrule/pw", "/etc/ptrule/ca" }, "holds no PEM certificate"},
		{"inline password in a bad config", func(c *EmailConfig) { c.Password, c.Port = "hunter2", -1 }, "port:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			_, err := NewEmail(c, read)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewEmail = %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}

// TestEmailDefaults checks the port each TLS mode defaults to, and the
// default timeout and mechanism.
func TestEmailDefaults(t *testing.T) {
	for _, tt := range []struct {
		tls  string
		port int
	}{{"", 587}, {"starttls", 587}, {"opportunistic", 587}, {"implicit", 465}, {"none", 25}} {
		ch, err := NewEmail(EmailConfig{Host: "localhost", TLS: tt.tls, From: "a@example.com", To: []string{"b@example.com"}, Username: "u", Password: "p"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ch.port != tt.port || ch.timeout != DefaultEmailTimeout || ch.auth != EmailAuthAuto {
			t.Errorf("tls %q: port %d, timeout %s, auth %q; want port %d, %s, auto", tt.tls, ch.port, ch.timeout, ch.auth, tt.port, DefaultEmailTimeout)
		}
	}
}

// FuzzEmailMessage feeds arbitrary subjects, messages, hosts and users to
// the message builder: whatever the bytes, the message has exactly the
// expected header fields, a one-line subject with the host prefix, and a
// valid UTF-8 body.
func FuzzEmailMessage(f *testing.F) {
	f.Add(emailHostileAlert.Subject, emailHostileAlert.Message, emailHostileAlert.Host, emailHostileAlert.User)
	f.Add("plain", "text", "h", "u")
	f.Add("=?UTF-8?Q?=0D=0ABcc:_x@example.com?=", "\r\n.\r\n", "", "")
	f.Add(strings.Repeat("word ", 400), strings.Repeat("x", 2000), "a.b", "\x85\u2028")
	ch, err := NewEmail(EmailConfig{Host: "smtp.example.com", From: "a@example.com", To: []string{"b@example.com"}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, subject, message, host, user string) {
		a := Alert{Rule: "r", Severity: "info", Subject: subject, Message: message, Host: host, User: user}
		got, _ := emailCheckMessage(t, emailRender(t, ch, a))
		want := EmailSubject(host, subject)
		if host == "" {
			return // the machine's name stands in
		}
		if got != want {
			t.Errorf("subject = %q, want %q", got, want)
		}
		if !strings.HasPrefix(got, "ptrule on ") || strings.Count(got, ": ") < 1 {
			t.Errorf("subject %q lacks the host prefix", got)
		}
		if n := utf8.RuneCountInString(got); n > len("ptrule on : ")+100+1+emailSubjectMax+1 {
			t.Errorf("subject is %d runes long", n)
		}
	})
}
