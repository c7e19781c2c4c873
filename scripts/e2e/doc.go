// Package e2e holds the end-to-end tests: they build fanka-server and
// fanka-terminal, run them as processes, and drive a sale through every real
// part: pcscd with the vpcd virtual reader and a Go virtual card, a
// pseudo-terminal keypad and display, the WebSocket link over TLS, and the
// server's SQLite ledger.
package e2e
