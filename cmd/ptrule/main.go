// Command ptrule watches the processes of a Linux server and acts on what
// it sees, through rules that administrators write themselves.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"ptrule/builtin"
)

// Exit statuses shared by the commands (contract §5).
const (
	exitOK      = 0
	exitFailure = 1 // a runtime error, failed tests, problems found
	exitUsage   = 2 // a usage or load error
)

// summaries are the one-line descriptions of the commands.
var summaries = map[string]string{
	"scan":  "evaluate every rule once against this host now",
	"check": "load config, rules and ignore lists, and print every problem",
	"rules": "list the effective rules and where they were defined and patched",
	"facts": "print this host's processes in the fixture snapshot schema",
	"test":  "run rule fixtures (*_test.yaml)",
	"run":   "run the daemon: every rule on its schedule, acting on matches",

	"notify-test": "send a test alert through the channels and say which delivered",
	"alerts":      "list the alerts waiting in the spool and each channel's last failure",
	"baseline":    "propose an ignore list, with expiring entries, for what the rules would report now",
	"import-csf":  "write a patch of the default rules and an ignore list from csf.conf and csf.pignore",
	"ignores":     "list every ignore entry with its annotation, hits and last hit; mark expired and unused ones",
	"explain":     "say why one rule did or did not match one entity, and what it would do",
}

// commandFunc returns the entry point of a command, or nil.
func commandFunc(name string) func(args []string, stdout, stderr io.Writer) int {
	switch name {
	case "scan":
		return cmdScan
	case "check":
		return cmdCheck
	case "rules":
		return cmdRules
	case "facts":
		return cmdFacts
	case "test":
		return cmdTest
	case "run":
		return cmdRun
	case "notify-test":
		return cmdNotifyTest
	case "alerts":
		return cmdAlerts
	case "baseline":
		return cmdBaseline
	case "import-csf":
		return cmdImportCSF
	case "ignores":
		return cmdIgnores
	case "explain":
		return cmdExplain
	}
	return nil
}

func main() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) }

// Main runs ptrule with args (without the program name) and returns the
// exit status; tests call it in-process.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	run := commandFunc(args[0])
	if run == nil {
		fmt.Fprintf(stderr, "ptrule: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "ptrule watches the processes of this server and acts through rules.")
	fmt.Fprintln(w, "\nUsage: ptrule COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(summaries))
	for n := range summaries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, summaries[n])
	}
	fmt.Fprintln(w, "\nRun 'ptrule COMMAND --help' for a command's flags and an example.")
}

// newFlags returns a flag set whose --help prints the usage line, the
// flags and an example.
func newFlags(name, usageLine, example string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ptrule %s %s\n\n%s\n\nFlags:\n", name, usageLine, summaries[name])
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nExample:\n  %s\n", strings.ReplaceAll(example, "\n", "\n  "))
	}
	return fs
}

// parseFlags parses args; it returns the exit status to use when the
// command should stop (help or a usage error) and ok false.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, false
	}
	if err != nil {
		return exitUsage, false
	}
	return 0, true
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// intListFlag is a repeatable integer flag.
type intListFlag []int

func (l *intListFlag) String() string { return fmt.Sprint(*l) }
func (l *intListFlag) Set(v string) error {
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v {
		return fmt.Errorf("%q is not a number", v)
	}
	*l = append(*l, n)
	return nil
}

// commonFlags are the flags most commands share (contract §5).
type commonFlags struct {
	config    string
	rules     listFlag
	proc      string
	noBuiltin bool
	// insecureFiles accepts files and directories a user other than root
	// could change, with a warning for each.
	insecureFiles bool
}

func (c *commonFlags) register(fs *flag.FlagSet, withProc bool) {
	fs.StringVar(&c.config, "config", "", "config file (default "+defaultConfigPath+" when it exists)")
	fs.Var(&c.rules, "rules", "a rule file, ignore list or directory to load after the configured ones (repeatable)")
	fs.BoolVar(&c.noBuiltin, "no-builtin", false, "skip the built-in default rules")
	fs.BoolVar(&c.insecureFiles, "insecure-files", false, "accept config, rules and state that a user other than root could change, warning about each (for test trees only: it hands those users root)")
	if withProc {
		fs.StringVar(&c.proc, "proc", "/proc", "the /proc tree to read")
	}
}

// sources says where rules come from and how their files are checked;
// what --insecure-files lets through is written to warn, each finding once.
func (c *commonFlags) sources(warn io.Writer) ruleSources {
	seen := map[string]bool{}
	return ruleSources{noBuiltin: c.noBuiltin, rules: c.rules, trust: builtin.FileTrust{
		Insecure: c.insecureFiles,
		Warn: func(err error) {
			if !seen[err.Error()] {
				seen[err.Error()] = true
				fmt.Fprintf(warn, "ptrule: WARNING: --insecure-files accepts %v\n", err)
			}
		},
	}}
}
