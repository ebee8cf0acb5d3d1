package engine

import (
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RuleSet is every loaded rule, in load order, and the merged ignore list.
type RuleSet struct {
	Rules  []*Rule
	Ignore *IgnoreList
	// IgnoreProblems are the bad lines of the ignore lists (also among the
	// problems LoadRules returns). The rest of each list was kept, so a
	// daemon can log them and go on (contract §3).
	IgnoreProblems Problems
	byName         map[string]*Rule
}

// Rule returns the rule called name, or nil.
func (rs *RuleSet) Rule(name string) *Rule { return rs.byName[name] }

// LoadRules reads rule files and ignore lists in the order given (contract §1).
// A later rule with the name of an earlier one patches it. It returns every
// problem in every file at once, and a RuleSet of the rules that compiled,
// so that a daemon reloading a broken file can report it all.
func LoadRules(files []File) (*RuleSet, Problems) {
	var ps, ignorePs Problems
	ign := &IgnoreList{}
	var order []string
	drafts := map[string]*draft{}
	for _, f := range files {
		if IsIgnoreFile(f.Path) {
			l, lps := ParseIgnore(f.Path, f.Data, 1, f.ReadFile)
			ign.Append(l)
			ps = append(ps, lps...)
			ignorePs = append(ignorePs, lps...)
			continue
		}
		docs, fps := parseRuleFile(newSource(f.Path, f.Data))
		ps = append(ps, fps...)
		for _, d := range docs {
			if dr, ok := drafts[d.name]; ok {
				ps = append(ps, dr.patch(d)...)
				continue
			}
			if missing := d.missing(); len(missing) > 0 {
				if len(missing) == 3 {
					ps = append(ps, d.src.problem(d.nameNode, "patch of unknown rule %q: no rule of that name is loaded before this file (a new rule needs scope, condition and actions)", d.name))
				} else {
					ps = append(ps, d.src.problem(d.nameNode, "new rule %q needs %s", d.name, strings.Join(missing, " and ")))
				}
				continue
			}
			dr := &draft{name: d.name, origin: d.src.pos(d.nameNode), originSrc: d.src, fields: map[string]field{}, srcs: map[string]*source{}, params: map[string]param{}}
			ps = append(ps, dr.patch(d)...)
			drafts[d.name] = dr
			order = append(order, d.name)
		}
	}
	rs := &RuleSet{Ignore: ign, IgnoreProblems: ignorePs, byName: map[string]*Rule{}}
	for _, name := range order {
		r, rps := drafts[name].compile()
		ps = append(ps, rps...)
		if r != nil {
			rs.Rules = append(rs.Rules, r)
			rs.byName[name] = r
		}
	}
	return rs, ps
}

var ruleKeys = []string{"name", "description", "scope", "every", "params", "condition", "severity", "subject", "message", "actions", "enabled", "tags"}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// ruleDoc is one entry of a rules list, not yet merged.
type ruleDoc struct {
	src      *source
	name     string
	nameNode *yaml.Node
	fields   []field
}

// missing lists the fields a new rule needs that the entry lacks; all
// three missing means the entry is meant as a patch.
func (d *ruleDoc) missing() []string {
	var out []string
	for _, k := range []string{"scope", "condition", "actions"} {
		if !slices.ContainsFunc(d.fields, func(f field) bool { return f.key == k }) {
			out = append(out, k)
		}
	}
	return out
}

func parseRuleFile(src *source) ([]*ruleDoc, Problems) {
	var ps Problems
	root, p := src.parseYAML()
	if p != nil {
		return nil, Problems{p}
	}
	if root == nil {
		return nil, nil
	}
	var docs []*ruleDoc
	seen := map[string]bool{}
	for _, top := range src.mapping(root, "a rule file", []string{"rules"}, &ps) {
		if top.value.Kind != yaml.SequenceNode {
			if !isNull(top.value) {
				ps = append(ps, src.problem(top.value, "rules must be a list of rules"))
			}
			continue
		}
		for _, item := range top.value.Content {
			fields := src.mapping(item, "a rule", ruleKeys, &ps)
			if fields == nil {
				continue
			}
			d := &ruleDoc{src: src}
			for _, f := range fields {
				if f.key == "name" {
					d.nameNode = f.value
					d.name, _ = src.str(f.value, "name", &ps)
					continue
				}
				d.fields = append(d.fields, f)
			}
			switch {
			case d.nameNode == nil:
				ps = append(ps, src.problem(item, "a rule needs a name"))
				continue
			case !namePattern.MatchString(d.name):
				ps = append(ps, src.problem(d.nameNode, "bad rule name %q: use lower case letters, digits, '-', '_' or '.'", d.name))
				continue
			case seen[d.name]:
				ps = append(ps, src.problem(d.nameNode, "duplicate rule name %q in this file", d.name))
				continue
			}
			seen[d.name] = true
			docs = append(docs, d)
		}
	}
	return docs, ps
}
