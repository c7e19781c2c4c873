package server

import (
	"context"
	"time"

	"github.com/fanka/fanka/shared/wire"
)

// TerminalStatus is what the server keeps of a register's link and of
// the status it last reported (wire.Status): its backlog, offline
// exposure, devices and disk, for the office's registers list. It is
// kept in the database, so that every server instance on it sees the
// registers connected to the others.
type TerminalStatus struct {
	Terminal uint32
	// ReportedAt is the server's clock when the status came; zero when
	// the register never sent one (one older than Status).
	ReportedAt time.Time
	// Status is the status as the register sent it.
	Status wire.Status
	// Connected is when the register's current or last session began,
	// Disconnected when that session ended (zero while it lasts, or when
	// the server that held it stopped without saying).
	Connected, Disconnected time.Time
}

// TerminalStatusStore keeps each register's link and its last reported
// status. Writes are the gateway's, throttled (see gateway.Gateway's
// StatusWriteInterval): they never share a transaction with settlement.
type TerminalStatusStore interface {
	// SetTerminalStatus records st as the register's status, reported at
	// at. A status reported earlier than the one stored is ignored.
	// ENOTFOUND for an unknown register.
	SetTerminalStatus(ctx context.Context, id uint32, st wire.Status, at time.Time) error
	// TerminalConnected records that a session of the register began at
	// at. ENOTFOUND for an unknown register.
	TerminalConnected(ctx context.Context, id uint32, at time.Time) error
	// TerminalDisconnected records that the session of the register that
	// began at connected ended at at; nothing if a later session began
	// since (the register moved to another server instance).
	TerminalDisconnected(ctx context.Context, id uint32, connected, at time.Time) error
	// TerminalStatuses returns what is kept of every register that ever
	// connected since the status was kept, by register id.
	TerminalStatuses(ctx context.Context) (map[uint32]TerminalStatus, error)
}
