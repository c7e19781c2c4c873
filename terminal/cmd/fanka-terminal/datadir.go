package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The register's data directory holds:
//
//	terminal.key     the register's Ed25519 key (seed, hex), mode 0600; it never leaves the register
//	enrolment.json   server URL, register id and the pinned server certificate
//	journal.db       the bbolt journal
const (
	keyFile       = "terminal.key"
	enrolmentFile = "enrolment.json"
	journalFile   = "journal.db"
)

// Enrolment is what enrolment gave the register.
type Enrolment struct {
	Server      string `json:"server"`      // https://host:port
	TerminalID  uint32 `json:"terminal_id"` // the register id
	Fingerprint string `json:"fingerprint"` // hex SHA-256 of the server certificate
}

// WebSocketURL returns the server's terminal endpoint.
func (e Enrolment) WebSocketURL() (string, error) { return webSocketURL(e.Server) }

// webSocketURL returns the terminal endpoint of the server at server
// (https://host:port).
func webSocketURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", server, err)
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	case "http":
		u.Scheme = "ws"
	default:
		return "", fmt.Errorf("server URL %q: scheme must be https", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/terminal/ws"
	return u.String(), nil
}

// loadOrCreateKey returns the register's key, creating it on first use.
func loadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create key: %w", err)
		}
		if _, err := f.WriteString(hex.EncodeToString(seed) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("write key: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return ed25519.NewKeyFromSeed(seed), f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key file %s is damaged", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func loadEnrolment(dir string) (Enrolment, error) {
	var e Enrolment
	b, err := os.ReadFile(filepath.Join(dir, enrolmentFile))
	if errors.Is(err, os.ErrNotExist) {
		return e, fmt.Errorf("%s is not enrolled: run fanka-terminal enroll first", dir)
	}
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil || e.TerminalID == 0 || e.Server == "" {
		return e, fmt.Errorf("%s: damaged enrolment file", filepath.Join(dir, enrolmentFile))
	}
	return e, nil
}

func saveEnrolment(dir string, e Enrolment) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, enrolmentFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, enrolmentFile))
}

// printPurseWriter prints the enrolled register's id and public key as a
// [[purse_writer]] table, for the other registers' config files.
func printPurseWriter(dir string, w io.Writer) error {
	e, err := loadEnrolment(dir)
	if err != nil {
		return err
	}
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "[[purse_writer]]\nid = %d\npublic_key = %q\n",
		e.TerminalID, base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)))
	return err
}
