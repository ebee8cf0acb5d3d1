package notify

import (
	"errors"
	"fmt"
	"time"
)

// SendError is a failed delivery, classified so that whoever delivers the
// alert knows what to do next: retry later, retry at once with a plain and
// shorter message, or give up. A Channel returns one (wrapped or not) when
// it knows; an error that is not a SendError counts as retryable, since a
// network error is the common case and an alert must not be lost to a
// transient failure.
type SendError struct {
	// Err is the cause, as the channel or its server said it.
	Err error
	// Retry says a later attempt may succeed: a network error, a timeout,
	// a 5xx answer, a 429.
	Retry bool
	// RetryAfter is the wait the server asked for (a 429's Retry-After),
	// zero when it asked for none.
	RetryAfter time.Duration
	// Rejected says the server refused this message itself (too long, bad
	// markup): the same alert sent as plain, shortened text may pass.
	Rejected bool
}

func (e *SendError) Error() string {
	switch {
	case e.Rejected:
		return fmt.Sprintf("message rejected: %v", e.Err)
	case e.Retry && e.RetryAfter > 0:
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *SendError) Unwrap() error { return e.Err }

// Temporary returns a SendError that a later attempt may get through,
// after at least after (zero: the sender's own backoff).
func Temporary(err error, after time.Duration) error {
	return &SendError{Err: err, Retry: true, RetryAfter: after}
}

// Permanent returns a SendError that no retry will fix, such as a wrong
// password or a webhook that no longer exists.
func Permanent(err error) error { return &SendError{Err: err} }

// Rejected returns a SendError for a message the server refused as it was
// written; a plain, shortened message may pass.
func Rejected(err error) error { return &SendError{Err: err, Rejected: true} }

// Classify returns how err should be handled: an error that is not a
// SendError is retryable with the sender's own backoff.
func Classify(err error) SendError {
	var se *SendError
	if errors.As(err, &se) {
		return *se
	}
	return SendError{Err: err, Retry: true}
}
