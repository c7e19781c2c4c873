package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestNoTerminalImports asserts that nothing in server/... (tests
// included) depends on terminal/...: the two sides meet only in shared/.
func TestNoTerminalImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-test", "-json=ImportPath,Imports", "github.com/fanka/fanka/server/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		for _, imp := range append([]string{p.ImportPath}, p.Imports...) {
			if imp == "github.com/fanka/fanka/terminal" || strings.HasPrefix(imp, "github.com/fanka/fanka/terminal/") {
				t.Errorf("%s depends on %s", p.ImportPath, imp)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list reported only %d packages", seen)
	}
}
