package main_test

import (
	"strings"
	"testing"

	"github.com/fanka/fanka/shared/printer/printertest"
)

// TestServeWithPrinters: serve drives the printers it is given, and the
// API shows them.
func TestServeWithPrinters(t *testing.T) {
	dir := t.TempDir()
	p := printertest.MustPrinter(t)
	password := "serve-Printers-password-1"
	s := startServer(t, dir, map[string]string{"FANKA_ADMIN_PASSWORD": password}, "--printer", "office="+p.Name())
	c, _ := client(t, dir)
	var login struct{ Token string }
	if status := call(t, c, "POST", s.url+"/api/v1/login", "", map[string]string{"user": "admin", "password": password}, &login); status != 200 {
		t.Fatalf("login: %d", status)
	}
	var out struct {
		Printers []struct{ Name, Printer, Status string }
	}
	if status := call(t, c, "GET", s.url+"/api/v1/printers", login.Token, nil, &out); status != 200 {
		t.Fatalf("GET printers: %d", status)
	}
	if len(out.Printers) != 1 || out.Printers[0].Name != "office" || out.Printers[0].Printer != p.Name() || out.Printers[0].Status == "" {
		t.Fatalf("printers: %+v", out.Printers)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// TestServeBadPrinter: a printer named wrongly is a clear error, before
// anything is served.
func TestServeBadPrinter(t *testing.T) {
	for _, tt := range []struct {
		flag    string
		code    int
		message string
	}{
		{"office", 2, "NAME=LINK"},
		{"=tcp://127.0.0.1:9100", 2, "NAME=LINK"},
		{"office=ftp://127.0.0.1/", 1, "printer office"},
	} {
		code, _, stderr := run(t, nil, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--printer", tt.flag)
		if code != tt.code || !strings.Contains(stderr, tt.message) {
			t.Errorf("--printer %q: exit %d, stderr %q", tt.flag, code, stderr)
		}
	}
}
