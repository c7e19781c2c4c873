package main_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	fanka "github.com/fanka/fanka/server"
	main "github.com/fanka/fanka/server/cmd/fanka-server"
	"github.com/fanka/fanka/server/mysql"
	"github.com/fanka/fanka/server/servertest"
	"github.com/fanka/fanka/server/sqlite"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

const testPassword = "pw-for-the-tests"

// till is a register enrolled on a running server, with its connection.
type till struct {
	r  *servertest.Register
	ws *servertest.Client
}

// enrolTill logs in to s as admin, opens the cards (each with a deposit of
// 100 yuan), creates and enrols a register and connects it.
func enrolTill(t *testing.T, s *server, dir string, cards ...string) *till {
	t.Helper()
	c, tlsConf := client(t, dir)
	var login struct{ Token string }
	if status := call(t, c, "POST", s.url+"/api/v1/login", "", map[string]string{"user": "admin", "password": testPassword}, &login); status != 200 {
		t.Fatalf("login: %d", status)
	}
	for i, no := range cards {
		var out map[string]any
		if status := call(t, c, "POST", s.url+"/api/v1/cards", login.Token,
			map[string]any{"person_id": "p" + no, "name": "张三", "deposit": 10000, "request_id": fmt.Sprintf("r%d", i), "card_no": no}, &out); status != 201 {
			t.Fatalf("open card %s: %d %v", no, status, out)
		}
	}
	var term struct {
		EnrolCode string `json:"enrol_code"`
	}
	if status := call(t, c, "POST", s.url+"/api/v1/terminals", login.Token, map[string]string{"name": "till 1"}, &term); status != 201 {
		t.Fatalf("create register: %d", status)
	}
	r := servertest.NewRegister(t)
	// The till's sales are 20 s apart by its clock, beyond the default
	// rules' double-tap gap, and in the past.
	start, n := time.Now().Add(-time.Hour), 0
	r.Time = func() time.Time { n++; return start.Add(time.Duration(n) * 20 * time.Second) }
	var enrolled struct {
		TerminalID uint32 `json:"terminal_id"`
	}
	if status := call(t, c, "POST", s.url+"/api/v1/enroll", "",
		map[string]string{"code": term.EnrolCode, "public_key": base64.StdEncoding.EncodeToString(r.Public())}, &enrolled); status != 200 {
		t.Fatalf("enrol: %d", status)
	}
	r.ID = enrolled.TerminalID
	ws := servertest.Dial(t, "wss"+strings.TrimPrefix(s.url, "https")+"/api/v1/terminal/ws", tlsConf)
	ws.Handshake(t, r, 0)
	return &till{r: r, ws: ws}
}

// sell settles one sale of amount on card and returns its ack.
func (tl *till) sell(t *testing.T, card string, amount money.Fen) (wire.Ack, error) {
	entry := tl.r.Sale(t, card, amount)
	if err := tl.ws.Send(&wire.Entries{Entries: [][]byte{entry}}); err != nil {
		return wire.Ack{}, err
	}
	for {
		m, err := tl.ws.Recv()
		if err != nil {
			return wire.Ack{}, err
		}
		switch m := m.(type) {
		case *wire.Cards:
			continue
		case *wire.Acks:
			if len(m.Acks) != 1 || m.Acks[0].Seq != tl.r.Seq {
				return wire.Ack{}, fmt.Errorf("acks %+v for seq %d", m.Acks, tl.r.Seq)
			}
			return m.Acks[0], nil
		default:
			return wire.Ack{}, fmt.Errorf("got %#v, want acks", m)
		}
	}
}

var cardsForBackup = []string{"04A1", "04A2", "04A3"}

// backupWhileSettling runs a server with the database flags db, settles
// sales on three cards from one register, and backs the database up while
// the sales go on. It returns the backup file and the acks in seq order
// (acks[i] is seq i+1), the first before the backup began.
func backupWhileSettling(t *testing.T, db []string) (file string, acks []wire.Ack, before int) {
	t.Helper()
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"FANKA_ADMIN_PASSWORD": testPassword}, db...)
	tl := enrolTill(t, s, dir, cardsForBackup...)
	sell := func() {
		t.Helper()
		ack, err := tl.sell(t, cardsForBackup[len(acks)%len(cardsForBackup)], money.Fen(100+len(acks)))
		if err != nil {
			t.Fatalf("sale %d: %v", len(acks)+1, err)
		}
		acks = append(acks, ack)
	}
	for range 20 {
		sell()
	}
	before = len(acks)

	file = filepath.Join(t.TempDir(), "fanka.backup")
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		m := newMain(&out, &errOut)
		code := m.Run(context.Background(), append([]string{"backup", "--data", dir, "--out", file}, db...))
		done <- result{code, out.String(), errOut.String()}
	}()
	// Settlement goes on while the backup runs, and after it.
	var res result
	for waiting := true; waiting; {
		select {
		case res = <-done:
			waiting = false
		default:
			sell()
		}
	}
	for range 10 {
		sell()
	}
	if res.code != 0 || !regexp.MustCompile(`^backup: ok: .*fanka\.backup: (sqlite|mysql) schema version [0-9]+, [0-9]+ tables, [0-9]+ rows\n$`).MatchString(res.stdout) {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v; want mode 0600", err)
	}
	t.Logf("%d sales before the backup, %d during and after", before, len(acks)-before)
	return file, acks, before
}

// checkRestored checks a restored store against the source: its register
// stopped at a seq between the sales before the backup and the last, and
// each card's balance is the one the source acked at that seq.
func checkRestored(t *testing.T, store fanka.Store, acks []wire.Ack, before int) {
	t.Helper()
	ctx := context.Background()
	term, err := store.Terminal(ctx, 1)
	if err != nil {
		t.Fatalf("restored register: %v", err)
	}
	snap := int(term.LastSeq)
	if snap < before || snap >= len(acks) {
		t.Fatalf("restored register at seq %d; want between %d (before the backup) and %d (the last sale)", snap, before, len(acks))
	}
	t.Logf("restored at seq %d: %d sales before the backup began, %d in all", snap, before, len(acks))
	for _, no := range cardsForBackup {
		want := money.Fen(10000)
		for _, a := range acks[:snap] {
			if a.CardNo == no {
				want = a.Balance
			}
		}
		c, err := store.Card(ctx, no)
		if err != nil {
			t.Fatalf("restored card %s: %v", no, err)
		}
		if c.Balance != want {
			t.Errorf("restored card %s: balance %d, want %d (the source's at seq %d)", no, c.Balance, want, snap)
		}
	}
}

func newMain(stdout, stderr *bytes.Buffer) *main.Main {
	return &main.Main{Stdout: stdout, Stderr: stderr, Getenv: func(string) string { return "" }}
}

var verifyOK = regexp.MustCompile(`(?m)^verify: ok: [0-9]+ transactions, [0-9]+ entries, 1 registers, 0 card signatures flagged for review$`)

// restoreAndCheck restores file with the database flags db, checks the
// command's report, and checks the restored database with open.
func restoreAndCheck(t *testing.T, file string, db []string, open func(t *testing.T) fanka.Store, acks []wire.Ack, before int) {
	t.Helper()
	code, stdout, stderr := run(t, nil, append([]string{"restore", "--in", file}, db...)...)
	if code != 0 || !strings.HasPrefix(stdout, "restore: ok: ") || !verifyOK.MatchString(stdout) {
		t.Fatalf("restore %q: exit %d, stdout %q, stderr %q", db, code, stdout, stderr)
	}
	checkRestored(t, open(t), acks, before)
}

func openSQLite(path string) func(t *testing.T) fanka.Store {
	return func(t *testing.T) fanka.Store {
		db := sqlite.New(path)
		if err := db.Open(context.Background()); err != nil {
			t.Fatalf("open restored %s: %v", path, err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

func openMySQL(dsn string) func(t *testing.T) fanka.Store {
	return func(t *testing.T) fanka.Store {
		db := mysql.New(dsn)
		db.CardPoll = -1
		if err := db.Open(context.Background()); err != nil {
			t.Fatalf("open restored database: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

// TestBackupRestoreSQLite backs up a SQLite server while it settles and
// restores the backup into a new SQLite directory and a new MariaDB
// database: both verify, with the balances of the snapshot.
func TestBackupRestoreSQLite(t *testing.T) {
	file, acks, before := backupWhileSettling(t, nil)

	dir := t.TempDir()
	restoreAndCheck(t, file, []string{"--data", dir}, openSQLite(filepath.Join(dir, "fanka.db")), acks, before)

	// A second restore into the same, now used, directory is refused and
	// changes nothing.
	code, _, stderr := run(t, nil, "restore", "--data", dir, "--in", file)
	if code != 1 || !strings.Contains(stderr, "not empty") {
		t.Errorf("restore into a used database: exit %d, stderr %q; want 1 and \"not empty\"", code, stderr)
	}

	dsn := servertest.MustMySQLDSN(t)
	restoreAndCheck(t, file, []string{"--db", dsn}, openMySQL(dsn), acks, before)
}

// TestBackupRestoreMySQL backs up a MariaDB server while it settles and
// restores the backup into a new MariaDB database and a new SQLite
// directory.
func TestBackupRestoreMySQL(t *testing.T) {
	src := servertest.MustMySQLDSN(t)
	file, acks, before := backupWhileSettling(t, []string{"--db", src})

	dsn := servertest.MustMySQLDSN(t)
	restoreAndCheck(t, file, []string{"--db", dsn}, openMySQL(dsn), acks, before)
	code, _, stderr := run(t, nil, "restore", "--db", dsn, "--in", file)
	if code != 1 || !strings.Contains(stderr, "not empty") {
		t.Errorf("restore into a used database: exit %d, stderr %q; want 1 and \"not empty\"", code, stderr)
	}

	dir := t.TempDir()
	restoreAndCheck(t, file, []string{"--data", dir}, openSQLite(filepath.Join(dir, "fanka.db")), acks, before)
}

// TestRestoreDamaged changes one byte of a backup, in turn at several
// places: restore refuses it and leaves no database behind.
func TestRestoreDamaged(t *testing.T) {
	file, _, _ := backupWhileSettling(t, nil)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, 15, len(good) / 3, len(good) / 2, len(good) - 5, len(good) - 1} {
		bad := bytes.Clone(good)
		bad[at] ^= 0x20
		damaged := filepath.Join(t.TempDir(), "damaged.backup")
		if err := os.WriteFile(damaged, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		code, stdout, stderr := run(t, nil, "restore", "--data", dir, "--in", damaged)
		if code != 1 || !strings.Contains(stderr, "backup damaged") || stdout != "" {
			t.Errorf("byte %d of %d changed: exit %d, stdout %q, stderr %q; want 1 and \"backup damaged\"", at, len(good), code, stdout, stderr)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("byte %d changed: the refused restore left %v", at, entries)
		}
	}
}

// TestBackupUsage checks the commands' required flags and that a backup
// never overwrites a file.
func TestBackupUsage(t *testing.T) {
	for _, args := range [][]string{{"backup", "--data", "x"}, {"restore", "--data", "x"}} {
		if code, _, stderr := run(t, nil, args...); code != 2 || !strings.Contains(stderr, "is required") {
			t.Errorf("%q: exit %d, stderr %q; want 2", args, code, stderr)
		}
	}
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"FANKA_ADMIN_PASSWORD": testPassword})
	s.stop()
	existing := filepath.Join(t.TempDir(), "old.backup")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	code, _, stderr := run(t, nil, "backup", "--data", dir, "--out", existing)
	if b, _ := os.ReadFile(existing); code != 1 || string(b) != "keep me" || !strings.Contains(stderr, "exists") {
		t.Errorf("backup over a file: exit %d, stderr %q, file %q", code, stderr, b)
	}
	code, _, stderr = run(t, nil, "backup", "--data", t.TempDir(), "--out", filepath.Join(t.TempDir(), "b"))
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("backup of no database: exit %d, stderr %q", code, stderr)
	}
}
