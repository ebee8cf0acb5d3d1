package notify

import (
	"errors"
	"path/filepath"
)

// The channel types whose configuration checks itself (Check returns
// FieldProblems) and whose constructor reads its own secret files are
// registered here, through one adapter, so that each sender file holds
// only its channel.
func init() {
	registerSender("email", func() EmailConfig { return EmailConfig{} }, (*EmailConfig).Check,
		func(c EmailConfig, r func(string) ([]byte, error)) (Channel, error) { return NewEmail(c, r) })
	registerSender("slack", func() SlackConfig { return SlackConfig{} }, (*SlackConfig).Check,
		func(c SlackConfig, r func(string) ([]byte, error)) (Channel, error) { return NewSlack(c, r) })
	registerSender("webhook", func() WebhookConfig { return WebhookConfig{} }, (*WebhookConfig).Check,
		func(c WebhookConfig, r func(string) ([]byte, error)) (Channel, error) { return NewWebhook(c, r) })
	registerSender("telegram", func() TelegramConfig { return TelegramConfig{} }, (*TelegramConfig).Check,
		func(c TelegramConfig, r func(string) ([]byte, error)) (Channel, error) { return NewTelegram(c, r) })
	registerSender("discord", func() DiscordConfig { return DiscordConfig{} }, (*DiscordConfig).Check,
		func(c DiscordConfig, r func(string) ([]byte, error)) (Channel, error) { return NewDiscord(c, r) })
	registerSender("msteams", func() MSTeamsConfig { return MSTeamsConfig{} }, (*MSTeamsConfig).Check,
		func(c MSTeamsConfig, r func(string) ([]byte, error)) (Channel, error) { return NewMSTeams(c, r) })
}

// senderConfig is the TypeConfig of a self-checking sender type: its
// config struct (decoded through DecodeTarget) and, once checked, the
// channel built from it. Building happens in Check, because that is where
// secret files are read and where a failure can still be reported at its
// key.
type senderConfig[C any] struct {
	cfg   *C
	check func(*C) []FieldProblem
	build func(C, func(string) ([]byte, error)) (Channel, error)
	ch    Channel
}

// registerSender registers a type whose config is C.
func registerSender[C any](name string, defaults func() C, check func(*C) []FieldProblem,
	build func(C, func(string) ([]byte, error)) (Channel, error)) {
	RegisterType(ChannelType{Name: name, NewConfig: func() TypeConfig {
		c := defaults()
		return &senderConfig[C]{cfg: &c, check: check, build: build}
	}})
}

// DecodeTarget implements decodeTargeter: the keys are C's.
func (s *senderConfig[C]) DecodeTarget() any { return s.cfg }

// Check implements TypeConfig: the type's own checks, each at its key,
// then the channel is built, reading its secret files through the
// config's file reader, with a relative path taken from the config
// file's directory as Checker.Secret does.
func (s *senderConfig[C]) Check(c *Checker) {
	problems := s.check(s.cfg)
	for _, p := range problems {
		c.Problem([]any{p.Key}, "%s", p.Msg)
	}
	if len(problems) > 0 {
		return
	}
	dir := filepath.Dir(c.node.Pos().File)
	read := func(path string) ([]byte, error) {
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if c.readFile == nil {
			return nil, errNoFileReader
		}
		return c.readFile(path)
	}
	ch, err := s.build(*s.cfg, read)
	if err != nil {
		var fp FieldProblem
		if errors.As(err, &fp) {
			c.Problem([]any{fp.Key}, "%s", fp.Msg)
		} else {
			c.Problem(nil, "%v", err)
		}
		return
	}
	s.ch = ch
}

// Channel implements TypeConfig.
func (s *senderConfig[C]) Channel(Env) Channel { return s.ch }

// errNoFileReader is a caller's bug: secrets cannot be read without the
// config's file reader.
var errNoFileReader = errors.New("no file reader was given for secret files (a bug in ptrule)")
