package engine

import (
	"fmt"
	"reflect"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/env"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// What every command pays before it looks at a process is mostly CEL's:
// declaring the standard library, the extension libraries and the native
// fact types takes milliseconds per environment, and once took four times
// over, one environment per scope (issue 12). The declarations are the
// same in every scope; only the variables differ. So they are declared
// once, in sharedEnv, and each scope's environment extends it with its
// variables: cel-go's Extend shares the parent's functions, its dispatcher
// and its validated declarations, so an extension costs a small part of a
// whole environment. BenchmarkScopeEnvs compares the two ways (1.3 ms for
// the four scopes, against 3.6 ms built alone, warm).

// sharedEnv holds the declarations of every scope: the standard library
// (without CEL's bytes conversion), the string, list, set and math
// extensions, optional types, the fact types, ptrule's bytes(), and the
// variables of every scope (host, load, now). Built on first use, so
// commands that load no rule never pay for it.
var sharedEnv = sync.OnceValues(newSharedEnv)

func newSharedEnv() (*cel.Env, error) {
	// NewCustomEnv, because NewEnv adds the full standard library first and
	// the library is a singleton: the subset in sharedOptions would be
	// ignored.
	e, err := cel.NewCustomEnv(sharedOptions()...)
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	return e, nil
}

// sharedOptions are the declarations of sharedEnv.
func sharedOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.StdLib(cel.StdLibSubset(&env.LibrarySubset{
			// bytes(string) is ptrule's size parser (contract §2.2), not
			// CEL's string-to-bytes conversion, which rules never need.
			ExcludeFunctions: []*env.Function{{Name: "bytes"}},
		})),
		ext.NativeTypes(
			ext.ParseStructTags(true),
			reflect.TypeFor[Process](), reflect.TypeFor[Socket](), reflect.TypeFor[User](),
			reflect.TypeFor[Session](), reflect.TypeFor[Load](), reflect.TypeFor[Host](),
		),
		ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		cel.Function("bytes",
			cel.Overload("ptrule_bytes_string", []*cel.Type{cel.StringType}, cel.IntType,
				cel.UnaryBinding(celBytes)),
			cel.Overload("ptrule_bytes_int", []*cel.Type{cel.IntType}, cel.IntType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return v })),
		),
		cel.Variable("host", cel.ObjectType(typeHost)),
		cel.Variable("load", cel.ObjectType(typeLoad)),
		cel.Variable("now", cel.TimestampType),
		// Last: options that register types need the provider it wraps.
		lazyFieldAccess,
	}
}

// scopeVariables declares the variables that only some scopes have.
func scopeVariables(s Scope) []cel.EnvOption {
	switch s {
	case ScopeProcess:
		return []cel.EnvOption{
			cel.Variable("proc", cel.ObjectType(typeProcess)),
			cel.Variable("user", cel.ObjectType(typeUser)),
			cel.Variable("session", cel.ObjectType(typeSession)),
			cel.Variable("ignored", cel.BoolType)}
	case ScopeUser:
		return []cel.EnvOption{
			cel.Variable("user", cel.ObjectType(typeUser)),
			cel.Variable("ignored", cel.BoolType)}
	case ScopeSession:
		return []cel.EnvOption{cel.Variable("session", cel.ObjectType(typeSession))}
	}
	return nil
}

// newScopeEnv returns the environment of one scope: sharedEnv and the
// scope's variables.
func newScopeEnv(s Scope) (*cel.Env, error) {
	shared, err := sharedEnv()
	if err != nil {
		return nil, err
	}
	return shared.Extend(scopeVariables(s)...)
}
