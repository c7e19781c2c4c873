package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/printer"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/uplink"
)

// Config is the register's configuration file (TOML); see
// firmware-config/register.example.toml.
type Config struct {
	// Data is the register's data directory (key, enrolment, journal).
	Data string `toml:"data"`
	// MaxSale is the per-sale maximum, in yuan ("200.00").
	MaxSale string `toml:"max_sale"`
	// Cashier is recorded in each entry while no cashier has signed in.
	Cashier string `toml:"cashier"`
	// Printer is the register's receipt printer, as printer.Parse takes
	// it ("tcp://HOST:9100", "file:/dev/usb/lp0",
	// "serial:/dev/ttyUSB0?baud=19200"); empty: no receipts.
	Printer string `toml:"printer"`
	// Canteen and Name head each receipt: the canteen's name and the
	// register's ("二号窗口"; empty prints the register id).
	Canteen string `toml:"canteen"`
	Name    string `toml:"name"`
	// ReceiptMaxAge ("15m"; "0s": no limit) is how old a sale may be for
	// its receipt to print when the printer comes back.
	ReceiptMaxAge string `toml:"receipt_max_age"`
	// StatusInterval ("15s") is how often the register sends its status
	// (backlog, offline exposure, devices) to a server that takes it,
	// when nothing changes; a change goes out within a second.
	StatusInterval string `toml:"status_interval"`
	Reader         struct {
		// Prefix selects the PC/SC reader by the start of its name.
		Prefix string `toml:"prefix"`
		// Profiles are the card profiles to read cards with, in order
		// ("fanka", "uid"); default ["uid"].
		Profiles []string `toml:"profiles"`
	} `toml:"reader"`
	Keypad  DeviceConfig `toml:"keypad"`
	Display DeviceConfig `toml:"display"`
	// Rules are the sale rules until the server pushes its own.
	Rules RulesConfig `toml:"rules"`
	// Servers ([[server]]) are the server instances to stream to, all on
	// one database, tried in order; none: the server the register
	// enrolled with.
	Servers []ServerConfig `toml:"server"`
	// PurseWriters are the other registers (and the office, id 0) whose
	// purse records on fanka cards this register believes; its own are
	// always believed.
	PurseWriters []PurseWriterConfig `toml:"purse_writer"`
}

// PurseWriterConfig is a [[purse_writer]]: a register id and its Ed25519
// public key in standard base64, as `fanka-terminal key` prints them.
type PurseWriterConfig struct {
	ID        *uint32 `toml:"id"`
	PublicKey string  `toml:"public_key"`
}

// ServerConfig is one server the register may stream to.
type ServerConfig struct {
	URL string `toml:"url"` // https://host:port
	// Fingerprint is the hex SHA-256 of the server's certificate; "": the
	// certificate pinned at enrolment (servers that share one certificate);
	// FingerprintSystem: verified with the system's CA roots instead.
	Fingerprint string `toml:"fingerprint"`
}

// FingerprintSystem as a server's fingerprint verifies its certificate with
// the system's CA roots instead of a pin.
const FingerprintSystem = "system"

// pin returns the fingerprint's bytes, nil when it is "" or FingerprintSystem.
func (s ServerConfig) pin() ([]byte, error) {
	if s.Fingerprint == "" || s.Fingerprint == FingerprintSystem {
		return nil, nil
	}
	p, err := hex.DecodeString(strings.ReplaceAll(s.Fingerprint, ":", ""))
	if err != nil || len(p) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q: want 64 hex digits (the SHA-256 of the certificate), \"\" or %q", s.Fingerprint, FingerprintSystem)
	}
	return p, nil
}

// parseServers parses a list "URL[=FINGERPRINT],…" (sim --servers).
func parseServers(list string) ([]ServerConfig, error) {
	var out []ServerConfig
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		u, fp, _ := strings.Cut(item, "=")
		out = append(out, ServerConfig{URL: u, Fingerprint: fp})
	}
	return out, checkServers(out)
}

// checkServers checks each server's URL and fingerprint.
func checkServers(servers []ServerConfig) error {
	for i, s := range servers {
		if _, err := webSocketURL(s.URL); err != nil {
			return fmt.Errorf("server[%d]: %w", i, err)
		}
		if _, err := s.pin(); err != nil {
			return fmt.Errorf("server[%d]: %w", i, err)
		}
	}
	return nil
}

// DeviceConfig names a serial device and its profile.
type DeviceConfig struct {
	Port string `toml:"port"` // e.g. /dev/fanka-keypad; keypad and display may name the same port
	Baud int    `toml:"baud"` // 0: the profile's
	// Profile is a profile name from firmware-config/devices ("keypad-ascii",
	// "display-epson"), or a path to a profile file.
	Profile string `toml:"profile"`
}

// RulesConfig is the [rules] table: terminal.Rules as written by people.
// Amounts are in yuan ("12.50"), durations as "5m" or "72h", times of day
// as "06:30".
type RulesConfig struct {
	DailyCount     int           `toml:"daily_count"`
	VoidWithin     string        `toml:"void_within"`
	RequireCashier bool          `toml:"require_cashier"`
	Cashiers       []StaffConfig `toml:"cashier"`
	Supervisors    []StaffConfig `toml:"supervisor"`
	Meals          []MealConfig  `toml:"meal"`
	Offline        struct {
		MaxSale     string `toml:"max_sale"`
		MaxCardDay  string `toml:"max_card_day"`
		MaxUnsynced string `toml:"max_unsynced"`
		MaxAge      string `toml:"max_age"`
		SoftCount   int    `toml:"soft_count"`
		HardCount   int    `toml:"hard_count"`
	} `toml:"offline"`
}

// StaffConfig is a cashier or supervisor: an id for the journal and the
// code they key.
type StaffConfig struct {
	ID   string `toml:"id"`
	Code string `toml:"code"`
}

// MealConfig is a meal period and its preset key prices; "" or "0" leaves
// a key without a meal.
type MealConfig struct {
	Name    string   `toml:"name"`
	From    string   `toml:"from"`
	To      string   `toml:"to"`
	Presets []string `toml:"presets"`
}

// DefaultConfig returns the defaults a config file overrides.
func DefaultConfig() Config {
	var c Config
	c.Data = "/var/lib/fanka-terminal"
	c.MaxSale = "200.00"
	c.ReceiptMaxAge = "15m"
	c.StatusInterval = uplink.DefaultStatusInterval.String()
	c.Keypad.Profile = "keypad-ascii"
	c.Display.Profile = "display-epson"
	d := terminal.DefaultRules()
	c.Rules.DailyCount = d.DailyCount
	c.Rules.VoidWithin = d.VoidWindow.String()
	c.Rules.Offline.MaxAge = d.Offline.MaxAge.String()
	c.Rules.Offline.SoftCount = d.Offline.SoftCount
	c.Rules.Offline.HardCount = d.Offline.HardCount
	return c
}

// ReadConfigFile reads and checks a config file.
func ReadConfigFile(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return DefaultConfig(), fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if _, err := os.Stat(c.Data); err != nil {
		return c, fmt.Errorf("config %s: data directory: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and checks a config file's contents, but not that the
// files it names exist.
func ParseConfig(b []byte) (Config, error) {
	c := DefaultConfig()
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return c, err
	}
	if un := md.Undecoded(); len(un) > 0 {
		return c, fmt.Errorf("unknown setting %q", un[0].String())
	}
	if c.Keypad.Port == "" || c.Display.Port == "" {
		return c, errors.New("keypad.port and display.port are required")
	}
	if _, err := c.SaleRules(); err != nil {
		return c, err
	}
	if _, err := c.CardProfiles(); err != nil {
		return c, err
	}
	if _, err := c.PurseKeys(); err != nil {
		return c, err
	}
	if _, err := c.Receipts(); err != nil {
		return c, err
	}
	if _, err := c.Status(); err != nil {
		return c, err
	}
	if err := checkServers(c.Servers); err != nil {
		return c, err
	}
	return c, nil
}

// Status returns how often the register sends its status when nothing
// changes.
func (c Config) Status() (time.Duration, error) {
	d, err := time.ParseDuration(c.StatusInterval)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("status_interval %q: want a duration of 1s or more, such as 15s", c.StatusInterval)
	}
	return d, nil
}

// Receipts returns how the register prints its receipts, nil when it has
// no printer.
func (c Config) Receipts() (*terminal.ReceiptConfig, error) {
	maxAge, err := time.ParseDuration(c.ReceiptMaxAge)
	if err != nil || maxAge < 0 {
		return nil, fmt.Errorf("receipt_max_age %q: want a duration such as 15m, or 0s for no limit", c.ReceiptMaxAge)
	}
	if c.Printer == "" {
		return nil, nil
	}
	p, err := printer.Parse(c.Printer)
	if err != nil {
		return nil, fmt.Errorf("printer: %w", err)
	}
	return &terminal.ReceiptConfig{Printer: p, Canteen: c.Canteen, Register: c.Name, MaxAge: maxAge}, nil
}

// CardProfiles returns the card profiles of [reader] profiles.
func (c Config) CardProfiles() ([]card.Profile, error) {
	if len(c.Reader.Profiles) == 0 {
		return []card.Profile{card.ProfileUID}, nil
	}
	var out []card.Profile
	for _, p := range c.Reader.Profiles {
		switch card.Profile(p) {
		case card.ProfileUID, card.ProfileFanka:
			out = append(out, card.Profile(p))
		default:
			return nil, fmt.Errorf("reader.profiles: unknown card profile %q (want %q or %q)", p, card.ProfileFanka, card.ProfileUID)
		}
	}
	return out, nil
}

// PurseKeys returns the [[purse_writer]] keys. Each needs an id, appearing
// once, and a 32-byte key.
func (c Config) PurseKeys() (card.PurseKeys, error) {
	keys := card.PurseKeys{}
	for i, w := range c.PurseWriters {
		if w.ID == nil {
			return nil, fmt.Errorf("purse_writer[%d]: id is required (0 for the office)", i)
		}
		if _, dup := keys[*w.ID]; dup {
			return nil, fmt.Errorf("purse_writer[%d]: id %d given twice", i, *w.ID)
		}
		k, err := base64.StdEncoding.DecodeString(w.PublicKey)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("purse_writer[%d]: public_key must be %d bytes in standard base64", i, ed25519.PublicKeySize)
		}
		keys[*w.ID] = ed25519.PublicKey(k)
	}
	return keys, nil
}

// SaleRules returns the register's rules as the file sets them.
func (c Config) SaleRules() (terminal.Rules, error) {
	r := terminal.DefaultRules()
	var errs []error
	amount := func(field, s string) money.Fen {
		if s == "" {
			return 0
		}
		a, err := money.Parse(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return a
	}
	duration := func(field, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return d
	}
	r.MaxSale = amount("max_sale", c.MaxSale)
	rc := c.Rules
	r.DailyCount = rc.DailyCount
	r.VoidWindow = duration("rules.void_within", rc.VoidWithin)
	r.RequireCashier = rc.RequireCashier
	for _, s := range rc.Cashiers {
		r.Cashiers = append(r.Cashiers, terminal.Staff{ID: s.ID, Code: s.Code})
	}
	for _, s := range rc.Supervisors {
		r.Supervisors = append(r.Supervisors, terminal.Staff{ID: s.ID, Code: s.Code})
	}
	for i, m := range rc.Meals {
		field := fmt.Sprintf("rules.meal[%d]", i)
		p := terminal.MealPeriod{Name: m.Name, Start: timeOfDay(field+".from", m.From, &errs), End: timeOfDay(field+".to", m.To, &errs)}
		for k, s := range m.Presets {
			p.Presets = append(p.Presets, amount(fmt.Sprintf("%s.presets[%d]", field, k), s))
		}
		r.Meals = append(r.Meals, p)
	}
	o := rc.Offline
	r.Offline = terminal.OfflineLimits{
		MaxSale:     amount("rules.offline.max_sale", o.MaxSale),
		MaxCardDay:  amount("rules.offline.max_card_day", o.MaxCardDay),
		MaxUnsynced: amount("rules.offline.max_unsynced", o.MaxUnsynced),
		MaxAge:      duration("rules.offline.max_age", o.MaxAge),
		SoftCount:   o.SoftCount,
		HardCount:   o.HardCount,
	}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	return r, nil
}

// timeOfDay parses "HH:MM" as a duration since midnight.
func timeOfDay(field, s string, errs *[]error) time.Duration {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want a time of day such as 06:30", field, s))
		return 0
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
}
