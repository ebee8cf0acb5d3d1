package engine

import (
	"fmt"
	"strings"
	"testing"
)

// manyRules is a rule file of n distinct rules of the default rules'
// shapes, each with params, a condition, a subject and a message template,
// so that loading it compiles n conditions and n pairs of templates.
func manyRules(n int) File {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, `  - name: site-resources-%[1]d
    scope: process
    params: {vmsize: %[1]dMiB, time: %[1]ds, repeat: 1h}
    condition: >-
      proc.uid != 0 && !ignored && proc.state != "Z" && (
        proc.vmsize > bytes(params.vmsize) || proc.age > duration(params.time))
    subject: "Resources %[1]d: {{.proc.user}} ({{.proc.pid}})"
    message: |
      Virtual Memory Size: {{size .proc.vmsize}} (limit {{.params.vmsize}})
      Command Line: {{.proc.cmd}}
    actions:
      - alert: {}
      - suppress: {for: duration(params.repeat)}
`, i+1)
		case 1:
			fmt.Fprintf(&b, `  - name: site-connections-%[1]d
    scope: process
    params: {port: %[1]d, min_age: 60s}
    condition: >-
      proc.uid != 0 && proc.age > duration(params.min_age) &&
      proc.connections.exists(c, c.remote_port == params.port)
    subject: "Connection to port {{.params.port}} by {{.proc.user}}"
    message: |
      {{range .proc.connections}}{{.proto}}: {{.local_ip}}:{{.local_port}} -> {{.remote_ip}}:{{.remote_port}}
      {{end}}
    actions: [alert: {}]
`, i+1)
		default:
			fmt.Fprintf(&b, `  - name: site-users-%[1]d
    scope: user
    params: {max: %[1]d}
    condition: user.uid != 0 && user.count > params.max
    subject: "User {{.user.name}} runs {{.user.count}} processes (limit {{.params.max}})"
    message: |
      {{range .user.procs}}PID:{{.pid}} EXE:{{.exe}} CMD:{{.cmd}}
      {{end}}
    actions: [alert: {}]
`, i+1)
		}
	}
	return File{Path: fmt.Sprintf("site-%d.yaml", n), Data: []byte(b.String())}
}

// BenchmarkLoadRuleCount loads 1 and 1,000 distinct rules; ns/rule shows
// whether the cost per rule stays flat as rules are added (issue 12: 1,000
// rules load in at most a second).
func BenchmarkLoadRuleCount(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			files := []File{manyRules(n)}
			rs, ps := LoadRules(files)
			if len(ps) > 0 {
				b.Fatal(FormatError(ps))
			}
			if len(rs.Rules) != n {
				b.Fatalf("loaded %d rules, want %d", len(rs.Rules), n)
			}
			b.ReportAllocs()
			for b.Loop() {
				LoadRules(files)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/rule")
		})
	}
}
