package engine

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package comment's promise: engine imports nothing of ptrule's own,
// and nothing that reaches the host (os/exec, net, syscall); its tests
// may read files.
func TestEngineImportsNothingOfOurs(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("listing the package's files: %v", err)
	}
	forbidden := []string{"os/exec", "net", "net/http", "syscall"}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "ptrule" || strings.HasPrefix(path, "ptrule/") {
				t.Errorf("%s imports %s: engine imports nothing of ours", name, path)
			}
			for _, bad := range forbidden {
				if path == bad && !strings.HasSuffix(name, "_test.go") {
					t.Errorf("%s imports %s: engine does not reach the host", name, path)
				}
			}
		}
	}
}
