package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"
)

var actionKeys = map[ActionKind][]string{
	ActAlert:    {"channels", "subject", "message", "if"},
	ActKill:     {"signal", "target", "grace", "allow_root", "if"},
	ActRun:      {"command", "args", "timeout", "if"},
	ActSuppress: {"for", "key", "if"},
}

func (c *compiler) actions(src *source, n *yaml.Node, scope Scope) []*ActionSpec {
	if n.Kind != yaml.SequenceNode {
		*c.ps = append(*c.ps, src.problem(n, "actions must be a list, like [alert: {}, suppress: {for: 1h}]"))
		return nil
	}
	var out []*ActionSpec
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
			*c.ps = append(*c.ps, src.problem(item, "each action is a one-key map: alert, kill, run or suppress"))
			continue
		}
		kn, body := item.Content[0], item.Content[1]
		kind := ActionKind(kn.Value)
		keys, ok := actionKeys[kind]
		if !ok {
			*c.ps = append(*c.ps, src.problem(kn, "unknown action %q: use alert, kill, run or suppress", kn.Value))
			continue
		}
		a := &ActionSpec{Kind: kind, Pos: src.pos(kn)}
		var fields []field
		if !isNull(body) {
			fields = src.mapping(body, string(kind)+" action", keys, c.ps)
		}
		set := map[string]*yaml.Node{}
		for _, f := range fields {
			set[f.key] = f.value
		}
		if v := set["if"]; v != nil {
			if s, good := src.str(v, "if", c.ps); good {
				a.If = s
				a.ifProg = c.cel(src.text(v), cel.BoolType)
			}
		}
		switch kind {
		case ActAlert:
			if v := set["channels"]; v != nil {
				a.Channels, _ = src.strList(v, "channels", c.ps)
			}
			if v := set["subject"]; v != nil {
				a.subject = c.template(src, v, "subject")
			}
			if v := set["message"]; v != nil {
				a.message = c.template(src, v, "message")
			}
		case ActKill:
			c.kill(src, a, set, kn, scope)
		case ActRun:
			c.run(src, a, set, kn)
		case ActSuppress:
			c.suppress(src, a, set, kn)
		}
		out = append(out, a)
	}
	return out
}

func (c *compiler) kill(src *source, a *ActionSpec, set map[string]*yaml.Node, kn *yaml.Node, scope Scope) {
	a.Signal, a.SignalName = int(unix.SIGKILL), "KILL"
	if v := set["signal"]; v != nil {
		if s, ok := src.str(v, "signal", c.ps); ok {
			num, name, good := parseSignal(s)
			if !good {
				*c.ps = append(*c.ps, src.problem(v, "unknown signal %q: use a name such as TERM, KILL, HUP or a number 1-64", s))
			}
			a.Signal, a.SignalName = num, name
		}
	}
	defaults := map[Scope]KillTarget{ScopeProcess: TargetProcess, ScopeUser: TargetUser, ScopeSession: TargetSession}
	allowed := map[Scope][]KillTarget{
		ScopeProcess: {TargetProcess, TargetGroup, TargetSession, TargetUser},
		ScopeUser:    {TargetUser},
		ScopeSession: {TargetSession, TargetGroup},
	}
	a.Target = defaults[scope]
	if v := set["target"]; v != nil {
		if s, ok := src.str(v, "target", c.ps); ok {
			a.Target = KillTarget(s)
			if !slices.Contains(allowed[scope], a.Target) {
				*c.ps = append(*c.ps, src.problem(v, "kill target %q does not fit a %s-scope rule (use: %s)", s, scope, targetList(allowed[scope])))
			}
		}
	} else if scope == ScopeHost {
		*c.ps = append(*c.ps, src.problem(kn, "a host-scope rule has no process to kill"))
	}
	if v := set["grace"]; v != nil {
		a.Grace, _ = src.duration(v, "grace", c.ps)
		if a.Signal == int(unix.SIGKILL) && a.Grace > 0 {
			*c.ps = append(*c.ps, src.problem(v, "grace only makes sense with a catchable signal such as TERM: KILL cannot be waited out"))
		}
	}
	if v := set["allow_root"]; v != nil {
		a.AllowRoot, _ = src.boolean(v, "allow_root", c.ps)
		if a.Target != TargetUser {
			*c.ps = append(*c.ps, src.problem(v, "allow_root only applies to target: user (it lets the kill reach the processes of root); kill target here is %s", a.Target))
		}
	}
}

func targetList(list []KillTarget) string {
	s := make([]string, len(list))
	for i, t := range list {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// parseSignal reads KILL, SIGKILL, kill or 9.
func parseSignal(s string) (int, string, bool) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n < 1 || n > 64 {
			return 0, "", false
		}
		name := strings.TrimPrefix(unix.SignalName(unix.Signal(n)), "SIG")
		if name == "" {
			name = s
		}
		return n, name, true
	}
	up := strings.ToUpper(s)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	sig := unix.SignalNum(up)
	if sig == 0 {
		return 0, "", false
	}
	return int(sig), strings.TrimPrefix(up, "SIG"), true
}

func (c *compiler) run(src *source, a *ActionSpec, set map[string]*yaml.Node, kn *yaml.Node) {
	a.Timeout = DefaultRunTimeout
	v := set["command"]
	if v == nil {
		*c.ps = append(*c.ps, src.problem(kn, "run needs a command: an absolute path such as /usr/local/bin/notify-admin"))
		return
	}
	if s, ok := src.str(v, "command", c.ps); ok {
		a.Command = s
		if !strings.Contains(s, "{{") && !strings.HasPrefix(s, "/") {
			*c.ps = append(*c.ps, src.problem(v, "run command %q must be an absolute path: ptrule runs programs directly, without a shell or PATH search", s))
		}
		a.command = c.template(src, v, "command")
	}
	var argNodes []*yaml.Node
	if v := set["args"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			*c.ps = append(*c.ps, src.problem(v, "args must be a list of strings"))
		} else {
			for _, e := range v.Content {
				if s, ok := src.str(e, "args entry", c.ps); ok {
					a.Args = append(a.Args, s)
					a.args = append(a.args, c.template(src, e, "args"))
					argNodes = append(argNodes, e)
				}
			}
		}
	}
	if v := set["command"]; v != nil && a.command != nil {
		c.refuseInjection(src, a, v, argNodes)
	}
	if v := set["timeout"]; v != nil {
		if d, ok := src.duration(v, "timeout", c.ps); ok {
			if d <= 0 {
				*c.ps = append(*c.ps, src.problem(v, "timeout must be longer than 0s"))
			}
			a.Timeout = d
		}
	}
}

// refuseInjection refuses a run action that lets a process choose what
// runs as root: a command taken from process facts, or an interpreter (a
// shell's -c, perl -e, env, ...) handed text a process controls, such as
// its command line. Facts reach a program safely in its PTRULE_*
// environment.
func (c *compiler) refuseInjection(src *source, a *ActionSpec, cmdNode *yaml.Node, argNodes []*yaml.Node) {
	if out := ControlledOutput(a.command); out != "" {
		*c.ps = append(*c.ps, src.problem(cmdNode, "run command takes %s, which a process controls, so a process could choose what ptrule runs as root: name the program itself, such as /usr/local/sbin/notify-admin, and read facts from its PTRULE_* environment", out))
		return
	}
	program := a.Command
	if strings.Contains(program, "{{") {
		// A command built from params is known now; one built from other
		// facts counts as an interpreter, since it is known only when it
		// runs.
		s, err := execute(a.command, NoEnricher{}, nil, map[string]any{"params": c.params}, MaxRunArg)
		if err == nil && !IsInterpreter(s) {
			return
		}
		program = s
		if err != nil {
			program = "a program known only when the rule fires, which may be an interpreter,"
		}
	} else if !IsInterpreter(program) {
		return
	}
	for i, t := range a.args {
		if out := ControlledOutput(t); out != "" {
			*c.ps = append(*c.ps, src.problem(argNodes[i], "run: %s runs its arguments as code or as another command, and this argument hands it %s, which a process controls: a process could make ptrule run commands of its choosing as root. Pass the fact in the environment instead: the program gets PTRULE_CMD, PTRULE_EXE, PTRULE_USER, PTRULE_PID and the other PTRULE_* variables (in a script, \"$PTRULE_CMD\")", program, out))
		}
	}
}

func (c *compiler) suppress(src *source, a *ActionSpec, set map[string]*yaml.Node, kn *yaml.Node) {
	v := set["for"]
	if v == nil {
		*c.ps = append(*c.ps, src.problem(kn, "suppress needs for: a duration such as 1h, or a CEL duration such as duration(params.repeat)"))
	} else if s, ok := src.str(v, "for", c.ps); ok {
		if d, err := time.ParseDuration(s); err == nil {
			if d < 0 {
				*c.ps = append(*c.ps, src.problem(v, "suppress for must not be negative"))
			}
			a.For = d
		} else {
			a.ForCEL = s
			a.forProg = c.cel(src.text(v), cel.DurationType)
		}
	}
	if v := set["key"]; v != nil {
		if s, ok := src.str(v, "key", c.ps); ok {
			a.Key = s
			a.keyProg = c.cel(src.text(v), cel.StringType)
		}
	}
}
