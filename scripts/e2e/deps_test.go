package e2e_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSidesDoNotImportEachOther: the register and the server share only
// shared/; neither builds in the other's code.
func TestSidesDoNotImportEachOther(t *testing.T) {
	const mod = "github.com/fanka/fanka/"
	for _, side := range []struct{ pkgs, forbidden string }{
		{"./terminal/...", mod + "server"},
		{"./server/...", mod + "terminal"},
		{"./shared/...", mod + "server"},
		{"./shared/...", mod + "terminal"},
	} {
		cmd := exec.Command("go", "list", "-deps", "-test", side.pkgs)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", side.pkgs, err)
		}
		for _, p := range strings.Fields(string(out)) {
			if p == side.forbidden || strings.HasPrefix(p, side.forbidden+"/") {
				t.Errorf("%s depends on %s", side.pkgs, p)
			}
		}
	}
}
