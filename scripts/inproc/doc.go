// Package inproc holds in-process tests across the server and the
// register: a real store and gateway, and real registers (journal, uplink,
// state machine) in one test process, over a real TLS WebSocket. They sit
// here, outside terminal/ and server/, which must not import each other
// (see scripts/e2e's TestSidesDoNotImportEachOther).
package inproc
