package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	nkpagerduty "github.com/nikoksr/notify/service/pagerduty"
)

func init() {
	RegisterType(ChannelType{Name: "pagerduty", NewConfig: func() TypeConfig { return &PagerDutyConfig{} }})
}

// DefaultPagerDutyAPIURL is the PagerDuty REST API a pagerduty channel
// talks to when its config sets no api_url.
const DefaultPagerDutyAPIURL = "https://api.pagerduty.com"

// PagerDutyConfig is a channel of type pagerduty: each alert opens an
// incident on one PagerDuty service through the REST API (POST
// /incidents), by nikoksr/notify's pagerduty service.
type PagerDutyConfig struct {
	// Token is a PagerDuty REST API key; TokenFile names a file holding it
	// (preferred: the config file is often readable by more people than
	// the key should be).
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// From is the e-mail address of a PagerDuty user, which the REST API
	// requires when it opens an incident.
	From string `yaml:"from"`
	// ServiceID is the ID of the service the incidents are opened on
	// (P1234AB, from the service's URL).
	ServiceID string `yaml:"service_id"`
	// Urgency is high or low; empty leaves it to the service's rules.
	Urgency string `yaml:"urgency"`
	// PriorityID is the ID of a priority to give the incidents; empty
	// gives none.
	PriorityID string `yaml:"priority_id"`
	// APIURL is the REST API base; default DefaultPagerDutyAPIURL. Tests
	// and proxies set it.
	APIURL string `yaml:"api_url"`
	// Timeout bounds one attempt; 0 or unset means DefaultSendTimeout
	// (the config decoder refuses a negative one).
	Timeout time.Duration `yaml:"timeout"`

	// token is the key as Check read it.
	token Secret
}

// Limits of a PagerDuty incident as ptrule writes it: the title is cut at
// 1024 characters (the API refuses longer ones) and the details, which
// PagerDuty keeps as plain text, at 16000.
const (
	pagerDutyTitleLimit   = 1024
	pagerDutyDetailsLimit = 16000
)

// Check implements TypeConfig.
func (c *PagerDutyConfig) Check(ck *Checker) {
	c.token = requireSecret(ck, "token", c.Token, c.TokenFile, "a PagerDuty REST API key")
	if c.From == "" {
		ck.Problem([]any{"from"}, "from is required: add from: with the e-mail address of a PagerDuty user (the REST API needs it to open an incident)")
	} else if a, err := mail.ParseAddress(c.From); err != nil || a.Name != "" || a.Address != c.From {
		ck.Problem([]any{"from"}, "from %q is not a bare e-mail address: write user@example.org", c.From)
	}
	if c.ServiceID == "" {
		ck.Problem([]any{"service_id"}, "service_id is required: add the ID of the PagerDuty service to open incidents on (P1234AB, from the service's URL)")
	} else if !pagerDutyID(c.ServiceID) {
		ck.Problem([]any{"service_id"}, "service_id %q is not a PagerDuty ID: use letters and digits only (P1234AB)", c.ServiceID)
	}
	if c.PriorityID != "" && !pagerDutyID(c.PriorityID) {
		ck.Problem([]any{"priority_id"}, "priority_id %q is not a PagerDuty ID: use letters and digits only", c.PriorityID)
	}
	if c.Urgency != "" && c.Urgency != "high" && c.Urgency != "low" {
		ck.Problem([]any{"urgency"}, "urgency %q: use high or low, or leave it out for the service's own rules", c.Urgency)
	}
	checkServiceURL(ck, "api_url", c.APIURL, false, "the PagerDuty REST API")
}

// pagerDutyID reports whether s looks like a PagerDuty object ID.
func pagerDutyID(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return len(s) <= 64
}

// Channel implements TypeConfig.
func (c *PagerDutyConfig) Channel(Env) Channel {
	api := c.APIURL
	if api == "" {
		api = DefaultPagerDutyAPIURL
	}
	return &PagerDutyChannel{
		token: c.token, from: c.From, serviceID: c.ServiceID, urgency: c.Urgency, priorityID: c.PriorityID,
		apiURL: strings.TrimSuffix(api, "/"), timeout: orDefaultTimeout(c.Timeout),
	}
}

// PagerDutyChannel opens a PagerDuty incident per alert. It is safe for
// concurrent use: each Send builds its own service and client.
type PagerDutyChannel struct {
	token                                        Secret
	from, serviceID, urgency, priorityID, apiURL string
	timeout                                      time.Duration
}

// pagerDutyIncident renders a as an incident's title and details, both
// plain text: the title is the subject on one line, the details the
// message and the footer. With a.Plain, both are shortened further.
func pagerDutyIncident(a Alert) (title, details string) {
	titleLimit, detailsLimit := pagerDutyTitleLimit, pagerDutyDetailsLimit
	if a.Plain {
		titleLimit, detailsLimit = titleMax, plainLimit(pagerDutyDetailsLimit)
	}
	title, _ = escapeLimit(alertTitle(a), oneLineEscape, utf16Len, titleLimit)
	var ps []part
	if a.Message != "" {
		ps = append(ps, part{text: a.Message}, part{markup: "\n\n"})
	}
	ps = append(ps, part{text: alertFooter(a), max: footerMax})
	return title, renderParts(ps, plainEscape, utf16Len, detailsLimit)
}

// oneLineEscape is plainEscape for a one-line field: line breaks and tabs
// become spaces.
func oneLineEscape(s string) (string, int) {
	r, n := decodeClean(s)
	if r == '\n' || r == '\t' {
		r = ' '
	}
	return string(r), n
}

// Send implements Channel: one POST /incidents within the channel's
// timeout.
func (c *PagerDutyChannel) Send(ctx context.Context, a Alert) error {
	const what = "PagerDuty"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	x := newExchange()
	svc, err := nkpagerduty.New(c.token.Reveal(), pagerduty.WithAPIEndpoint(c.apiURL), func(pc *pagerduty.Client) { pc.HTTPClient = x })
	if err != nil {
		return Permanent(fmt.Errorf("%s: %v", what, err))
	}
	svc.SetFromAddress(c.from)
	svc.AddReceivers(c.serviceID)
	svc.SetUrgency(c.urgency)
	svc.SetPriorityID(c.priorityID)
	title, details := pagerDutyIncident(a)
	err = svc.Send(ctx, title, details)
	if err == nil {
		return nil
	}
	var apiErr pagerduty.APIError
	detail := ""
	if errors.As(err, &apiErr) && apiErr.APIError.Valid {
		o := apiErr.APIError.ErrorObject
		detail = strings.Join(append([]string{o.Message}, o.Errors...), "; ")
	}
	switch {
	case x.resp != nil:
		return serviceFailure(ctx, what, c.timeout, x.resp.StatusCode, x.resp.Header, detail, err)
	case x.err != nil:
		return serviceFailure(ctx, what, c.timeout, 0, nil, "", x.err)
	}
	// The service refused before any request: its own config check.
	return Permanent(fmt.Errorf("%s: %s", what, bodySnippet([]byte(err.Error()))))
}
