// Package builtin holds the pieces that act on the host for the rules:
// the Killer (kill.go), which signals processes with the safety checks that
// hold whatever a rule says, Run (run.go), which starts a rule's program,
// and FileTrust (trust.go), which reads the files ptrule obeys only when
// no user but root could have written them.
//
// Its packages below divide the rest: proc is the one place that reads
// and parses /proc; collect builds the engine.Snapshot from it; attach
// reads alert attachments; state keeps what survives a restart; proctest
// builds fake /proc trees for tests. Package builtin imports proc and
// nothing else of ptrule's; no package below it imports builtin.
package builtin
