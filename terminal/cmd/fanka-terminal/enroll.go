package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// enroll registers this register's public key with the server using the
// one-time code, and pins the server's certificate.
func enroll(ctx context.Context, server, code, dir, wantFingerprint string, stdout io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, enrolmentFile)); err == nil {
		return fmt.Errorf("%s is already enrolled; use a new data directory to enrol again", dir)
	}
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return err
	}
	var seen string // the certificate the TLS handshake saw
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // trust on first use, checked below against the server's own word and --fingerprint
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			seen = hex.EncodeToString(sum[:])
			if wantFingerprint != "" && !strings.EqualFold(seen, wantFingerprint) {
				return fmt.Errorf("server certificate %s is not the expected %s", seen, wantFingerprint)
			}
			return nil
		},
	}}}
	body, _ := json.Marshal(map[string]string{
		"code":       code,
		"public_key": base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(server, "/")+"/api/v1/enroll", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		TerminalID        uint32 `json:"terminal_id"`
		ServerFingerprint string `json:"server_fingerprint"`
		Error             *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		return fmt.Errorf("enroll: %s: unreadable answer: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		if out.Error != nil {
			return fmt.Errorf("enroll refused: %s: %s", out.Error.Code, out.Error.Message)
		}
		return fmt.Errorf("enroll refused: %s", resp.Status)
	}
	if out.TerminalID == 0 {
		return errors.New("enroll: server gave no register id")
	}
	if !strings.EqualFold(out.ServerFingerprint, seen) {
		return fmt.Errorf("enroll: the certificate seen (%s) is not the one the server names (%s): someone is in between", seen, out.ServerFingerprint)
	}
	e := Enrolment{Server: strings.TrimSuffix(server, "/"), TerminalID: out.TerminalID, Fingerprint: seen}
	if err := saveEnrolment(dir, e); err != nil {
		return fmt.Errorf("enroll: save: %w", err)
	}
	fmt.Fprintf(stdout, "enrolled as register %d with %s (server certificate sha256 %s)\n", e.TerminalID, e.Server, seen)
	return nil
}
