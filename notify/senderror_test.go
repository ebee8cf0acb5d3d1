package notify

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		name  string
		err   error
		want  SendError
		ident string
	}{
		{"plain error retries", cause, SendError{Err: cause, Retry: true}, "boom"},
		{"temporary", Temporary(cause, 3*time.Second), SendError{Err: cause, Retry: true, RetryAfter: 3 * time.Second}, "boom (retry after 3s)"},
		{"wrapped temporary", fmt.Errorf("slack: %w", Temporary(cause, 0)), SendError{Err: cause, Retry: true}, "slack: boom"},
		{"permanent", Permanent(cause), SendError{Err: cause}, "boom"},
		{"rejected", Rejected(cause), SendError{Err: cause, Rejected: true}, "message rejected: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.err)
			if got != tt.want {
				t.Errorf("Classify = %+v, want %+v", got, tt.want)
			}
			if tt.err.Error() != tt.ident {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.ident)
			}
			if !errors.Is(tt.err, cause) {
				t.Error("the cause is not unwrapped")
			}
		})
	}
}
