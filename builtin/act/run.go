package act

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"ptrule/builtin"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// ErrTimeout marks a program that was killed, with its process group,
// because it ran past its timeout.
var ErrTimeout = errors.New("program timed out")

// RunPath is the whole PATH a program gets: it inherits nothing from
// ptrule's own environment.
const RunPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultRunTimeout applies when RunRequest.Timeout is zero.
const DefaultRunTimeout = 30 * time.Second

// MaxRunOutput caps RunResult.Output, marker included.
const MaxRunOutput = 64 << 10

// MaxEnvValue caps each value of RunRequest.Env, marker included. The
// kernel refuses an execve with any one environment string longer than
// MAX_ARG_STRLEN (128 KiB), and a process chooses the size of its own
// command line, so an uncapped PTRULE_CMD would let any user make every
// run action about their processes fail. 32 KiB keeps a dozen capped
// values far below the kernel's total limit as well.
const MaxEnvValue = 32 << 10

// envTruncated is the marker that ends a capped environment value; %d is
// the number of bytes left out.
const envTruncated = "…[truncated, %d bytes]"

// truncatedMarker ends an Output that was cut at MaxRunOutput.
const truncatedMarker = "\n[truncated]"

// runWaitDelay bounds how long Wait keeps reading output after the program
// exited or was killed: a background process that inherited the output
// pipe would otherwise keep Wait blocked for as long as it lives.
var runWaitDelay = 2 * time.Second

// RunRequest is one program to run.
type RunRequest struct {
	// Command is the absolute path of the program; it must pass
	// CheckProgram.
	Command string
	// Args are its arguments, argv[1:]; argv[0] is Command.
	Args []string
	// Env holds the facts given to the program (PTRULE_RULE, PTRULE_PID,
	// ...), added to an environment that holds only RunPath.
	Env map[string]string
	// Timeout bounds the run; zero means DefaultRunTimeout.
	Timeout time.Duration
}

// RunResult is how a run went.
type RunResult struct {
	// ExitCode is the program's exit status, -1 if it did not start or was
	// killed by a signal.
	ExitCode int
	// Output is stdout and stderr interleaved, cut at MaxRunOutput with a
	// "[truncated]" marker.
	Output string
	// Duration is the time from start to the end of Wait.
	Duration time.Duration
	// Err is nil only when the program ran and exited 0. It wraps
	// builtin.ErrRefused when the program was not started for safety, and
	// ErrTimeout when it was killed at its timeout.
	Err error
}

// Run checks and runs one program: directly (argv, no shell), in its own
// process group, with stdin from /dev/null, working directory "/", and an
// environment of RunPath plus req.Env. At the timeout, or when ctx ends,
// the whole process group gets SIGKILL. A program that exits while a
// background child still holds its output is not killed: Wait stops reading
// after a short delay and the child is left alone.
func Run(ctx context.Context, req RunRequest) RunResult {
	res := RunResult{ExitCode: -1}
	if err := builtin.CheckProgram(req.Command); err != nil {
		res.Err = err
		return res
	}
	env, err := environ(req.Env)
	if err != nil {
		res.Err = err
		return res
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultRunTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	out := &cappedBuffer{max: MaxRunOutput}
	cmd := exec.CommandContext(runCtx, req.Command, req.Args...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = runWaitDelay
	cmd.Cancel = func() error {
		// The leader is signalled through its pidfd first: if it was
		// already reaped, its PID (the group id) may no longer be ours.
		if err := cmd.Process.Signal(syscall.SIGKILL); errors.Is(err, os.ErrProcessDone) {
			return err
		}
		if err := unix.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
		return nil
	}

	start := time.Now()
	err = cmd.Run()
	res.Duration = time.Since(start)
	res.Output = out.String()
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}

	switch {
	case cmd.Process == nil:
		res.Err = fmt.Errorf("starting %s: %w", req.Command, err)
	case runCtx.Err() != nil && ctx.Err() == nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) && !exitedOnItsOwn(err):
		res.Err = fmt.Errorf("%w: %s timed out after %v and was killed with its process group: raise the action's timeout or make it faster", ErrTimeout, req.Command, timeout)
	case ctx.Err() != nil && !exitedOnItsOwn(err):
		res.Err = fmt.Errorf("%s was killed with its process group: %w", req.Command, ctx.Err())
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited 0 but left a background process holding the output.
		res.Output += "\n[output cut: a background process kept it open]"
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			res.Err = fmt.Errorf("%s: %w", req.Command, err)
		} else {
			res.Err = fmt.Errorf("running %s: %w", req.Command, err)
		}
	}
	return res
}

// exitedOnItsOwn reports whether Run's error shows a normal exit: success
// or a non-zero status, not death by a signal.
func exitedOnItsOwn(err error) bool {
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		return true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		return ok && ws.Exited()
	}
	return false
}

// environ builds the environment: RunPath, then env sorted by name (a PATH
// in env replaces RunPath). Each value is capped at MaxEnvValue.
func environ(env map[string]string) ([]string, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(env[k], 0) {
			return nil, fmt.Errorf("environment variable %q: a name must be non-empty without '=' or NUL, a value without NUL", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []string{RunPath}
	for _, k := range keys {
		if k == "PATH" {
			out[0] = "PATH=" + env[k]
			continue
		}
		out = append(out, k+"="+CapEnvValue(env[k]))
	}
	return out, nil
}

// CapEnvValue returns v when it fits in MaxEnvValue bytes, else its start
// followed by "…[truncated, N bytes]", N the number of bytes left out,
// within MaxEnvValue bytes in all. The cut does not split a UTF-8
// sequence.
func CapEnvValue(v string) string {
	if len(v) <= MaxEnvValue {
		return v
	}
	// The marker's length depends on N, which depends on the cut: size
	// it for the largest N, the whole value.
	keep := MaxEnvValue - len(fmt.Sprintf(envTruncated, len(v)))
	for i := keep; i > 0 && i > keep-utf8.UTFMax; i-- {
		if utf8.RuneStart(v[i]) {
			keep = i
			break
		}
	}
	return v[:keep] + fmt.Sprintf(envTruncated, len(v)-keep)
}

// cappedBuffer keeps the first max bytes written to it and drops the rest,
// still reporting every write as complete so the program never blocks.
type cappedBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

// Write implements io.Writer.
func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if len(p) > room {
		b.truncated = true
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// String returns the output, ending with the truncation marker when bytes
// were dropped; the whole stays within max bytes and a rune cut in two is
// dropped.
func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.truncated {
		return string(b.buf)
	}
	keep := min(max(b.max-len(truncatedMarker), 0), len(b.buf))
	cut := b.buf[:keep]
	// Drop a rune cut in two so the output stays valid UTF-8.
	for i := len(cut) - 1; i >= 0 && i >= len(cut)-utf8.UTFMax; i-- {
		if utf8.RuneStart(cut[i]) {
			if !utf8.FullRune(cut[i:]) {
				cut = cut[:i]
			}
			break
		}
	}
	return string(cut) + truncatedMarker
}
