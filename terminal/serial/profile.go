package serial

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	bugst "go.bug.st/serial"

	"github.com/fanka/fanka/terminal"
)

// PortSettings are the serial line settings a device expects. The zero
// value of each field means its default: 9600 baud, 8 data bits, no
// parity, 1 stop bit.
type PortSettings struct {
	Baud     int    // bits per second
	DataBits int    // 5 … 8
	Parity   string // "none", "odd", "even", "mark" or "space"
	StopBits int    // 1 or 2
}

// withDefaults fills in the zero fields.
func (s PortSettings) withDefaults() PortSettings {
	if s.Baud == 0 {
		s.Baud = 9600
	}
	if s.DataBits == 0 {
		s.DataBits = 8
	}
	if s.Parity == "" {
		s.Parity = "none"
	}
	if s.StopBits == 0 {
		s.StopBits = 1
	}
	return s
}

var parities = map[string]bugst.Parity{
	"none":  bugst.NoParity,
	"odd":   bugst.OddParity,
	"even":  bugst.EvenParity,
	"mark":  bugst.MarkParity,
	"space": bugst.SpaceParity,
}

// Validate reports settings the serial port cannot take.
func (s PortSettings) Validate() error {
	s = s.withDefaults()
	var errs []error
	if s.Baud < 50 || s.Baud > 4_000_000 {
		errs = append(errs, fmt.Errorf("serial.baud %d: want 50 … 4000000", s.Baud))
	}
	if s.DataBits < 5 || s.DataBits > 8 {
		errs = append(errs, fmt.Errorf("serial.data_bits %d: want 5 … 8", s.DataBits))
	}
	if _, ok := parities[s.Parity]; !ok {
		errs = append(errs, fmt.Errorf("serial.parity %q: want none, odd, even, mark or space", s.Parity))
	}
	if s.StopBits != 1 && s.StopBits != 2 {
		errs = append(errs, fmt.Errorf("serial.stop_bits %d: want 1 or 2", s.StopBits))
	}
	return errors.Join(errs...)
}

// mode returns the go.bug.st/serial mode for valid settings.
func (s PortSettings) mode() *bugst.Mode {
	s = s.withDefaults()
	stop := bugst.OneStopBit
	if s.StopBits == 2 {
		stop = bugst.TwoStopBits
	}
	return &bugst.Mode{BaudRate: s.Baud, DataBits: s.DataBits, Parity: parities[s.Parity], StopBits: stop}
}

// KeypadProfile says which byte a cashier keypad sends for each key. Every
// key sends exactly one byte, and no byte stands for two keys.
type KeypadProfile struct {
	// Name names the device in logs.
	Name string
	// Serial are the port settings the keypad expects.
	Serial    PortSettings
	Digits    [10]byte // the bytes for '0' … '9'
	Dot       byte
	Confirm   byte
	Cancel    byte
	Backspace byte
	// Presets are the bytes of the preset meal keys: Presets[i] is
	// terminal.Key{Kind: KeyPreset, Preset: i}.
	Presets []byte
	// Beep and BeepRefusal are written to a keypad with a buzzer to sound
	// the register's success and refusal beeps (see BeepBytes); empty
	// when it has none.
	Beep, BeepRefusal []byte
}

// beepBytes returns the bytes that sound b: success for BeepSuccess, refusal
// for BeepRefusal, or success if the device has no refusal sound of its
// own (one sound is better than none), nothing for BeepNone.
func beepBytes(b terminal.Beep, success, refusal []byte) []byte {
	switch b {
	case terminal.BeepSuccess:
		return success
	case terminal.BeepRefusal:
		if len(refusal) == 0 {
			return success
		}
		return refusal
	}
	return nil
}

// BeepBytes returns the bytes that sound b on the keypad: see Beep.
func (p KeypadProfile) BeepBytes(b terminal.Beep) []byte { return beepBytes(b, p.Beep, p.BeepRefusal) }

// MaxPresets is the most preset meal keys a keypad profile may have.
const MaxPresets = 64

// mapping lists every key of p with the byte it sends, in a fixed order.
func (p KeypadProfile) mapping() []keyByte {
	m := make([]keyByte, 0, 14+len(p.Presets))
	for i, b := range p.Digits {
		m = append(m, keyByte{terminal.Key{Kind: terminal.KeyDigit, Digit: '0' + byte(i)}, b, fmt.Sprintf("digits[%d]", i)})
	}
	m = append(m,
		keyByte{terminal.Key{Kind: terminal.KeyDot}, p.Dot, "dot"},
		keyByte{terminal.Key{Kind: terminal.KeyConfirm}, p.Confirm, "confirm"},
		keyByte{terminal.Key{Kind: terminal.KeyCancel}, p.Cancel, "cancel"},
		keyByte{terminal.Key{Kind: terminal.KeyBackspace}, p.Backspace, "backspace"},
	)
	for i, b := range p.Presets {
		m = append(m, keyByte{terminal.Key{Kind: terminal.KeyPreset, Preset: i}, b, fmt.Sprintf("presets[%d]", i)})
	}
	return m
}

type keyByte struct {
	key  terminal.Key
	b    byte
	name string // the profile field, for error messages
}

// Validate reports a profile that maps one byte to two keys, has too many
// presets or bad serial settings.
func (p KeypadProfile) Validate() error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("name: missing"))
	}
	if len(p.Presets) > MaxPresets {
		errs = append(errs, fmt.Errorf("presets: %d keys, at most %d", len(p.Presets), MaxPresets))
	}
	seen := map[byte]string{}
	for _, kb := range p.mapping() {
		if other, ok := seen[kb.b]; ok {
			errs = append(errs, fmt.Errorf("%s and %s both send 0x%02X", other, kb.name, kb.b))
			continue
		}
		seen[kb.b] = kb.name
	}
	if err := p.Serial.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("keypad profile %q: %w", p.Name, err)
	}
	return nil
}

// Key returns the key the byte b stands for, and false for a byte the
// profile does not map.
func (p KeypadProfile) Key(b byte) (terminal.Key, bool) {
	for i, d := range p.Digits {
		if d == b {
			return terminal.Key{Kind: terminal.KeyDigit, Digit: '0' + byte(i)}, true
		}
	}
	switch b {
	case p.Dot:
		return terminal.Key{Kind: terminal.KeyDot}, true
	case p.Confirm:
		return terminal.Key{Kind: terminal.KeyConfirm}, true
	case p.Cancel:
		return terminal.Key{Kind: terminal.KeyCancel}, true
	case p.Backspace:
		return terminal.Key{Kind: terminal.KeyBackspace}, true
	}
	if i := bytes.IndexByte(p.Presets, b); i >= 0 {
		return terminal.Key{Kind: terminal.KeyPreset, Preset: i}, true
	}
	return terminal.Key{}, false
}

// Byte returns the byte the keypad sends for k, and false for a key it
// does not have.
func (p KeypadProfile) Byte(k terminal.Key) (byte, bool) {
	switch k.Kind {
	case terminal.KeyDigit:
		if k.Digit >= '0' && k.Digit <= '9' {
			return p.Digits[k.Digit-'0'], true
		}
	case terminal.KeyDot:
		return p.Dot, true
	case terminal.KeyConfirm:
		return p.Confirm, true
	case terminal.KeyCancel:
		return p.Cancel, true
	case terminal.KeyBackspace:
		return p.Backspace, true
	case terminal.KeyPreset:
		if k.Preset >= 0 && k.Preset < len(p.Presets) {
			return p.Presets[k.Preset], true
		}
	}
	return 0, false
}

// Decode turns the bytes a keypad sent into keys, in order, and returns
// the bytes the profile does not map separately, in order. Every byte of
// b ends up in exactly one of the two.
func (p KeypadProfile) Decode(b []byte) (keys []terminal.Key, dropped []byte) {
	for _, c := range b {
		if k, ok := p.Key(c); ok {
			keys = append(keys, k)
		} else {
			dropped = append(dropped, c)
		}
	}
	return keys, dropped
}

// DisplayLine is how a display is told to write one of its lines.
type DisplayLine struct {
	Start []byte // command bytes before the line's text
	End   []byte // command bytes after it
}

// DisplayProfile is a customer display's command set, size and character
// encoding. A frame (one screen) is FrameStart, then for each line its
// Start, its text and its End, then FrameEnd, then Beep when asked for.
type DisplayProfile struct {
	// Name names the device in logs.
	Name string
	// Serial are the port settings the display expects.
	Serial PortSettings
	// Columns is the width of each line in display columns; a GBK
	// double-byte character takes two.
	Columns int
	// Encoding of the text: "gbk" (GBK, double-byte Chinese) or "ascii".
	Encoding string
	// Init is written when the port is opened or reopened; it must leave
	// the display blank and ready for frames.
	Init       []byte
	FrameStart []byte
	// Lines says how to write each line, top first.
	Lines    []DisplayLine
	FrameEnd []byte
	// Beep sounds the buzzer once for a success, BeepRefusal for a
	// refusal (see BeepBytes); empty when the display has no buzzer.
	Beep, BeepRefusal []byte
}

// BeepBytes returns the bytes that sound b on the display: Beep for
// success, BeepRefusal for refusal, or Beep if the display has no refusal
// sound of its own; nothing for BeepNone.
func (p DisplayProfile) BeepBytes(b terminal.Beep) []byte { return beepBytes(b, p.Beep, p.BeepRefusal) }

// MaxColumns and MaxLines bound a display's size.
const (
	MaxColumns = 255
	MaxLines   = 16
)

// Validate reports a profile with no lines, a bad width, an unknown
// encoding or bad serial settings.
func (p DisplayProfile) Validate() error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("name: missing"))
	}
	if p.Columns < 1 || p.Columns > MaxColumns {
		errs = append(errs, fmt.Errorf("columns %d: want 1 … %d", p.Columns, MaxColumns))
	}
	if _, ok := encodings[p.Encoding]; !ok {
		errs = append(errs, fmt.Errorf("encoding %q: want one of %s", p.Encoding, strings.Join(encodingNames(), ", ")))
	}
	if len(p.Lines) < 1 || len(p.Lines) > MaxLines {
		errs = append(errs, fmt.Errorf("line: %d lines, want 1 … %d", len(p.Lines), MaxLines))
	}
	if err := p.Serial.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("display profile %q: %w", p.Name, err)
	}
	return nil
}

// tomlSerial is the [serial] table of a profile.
type tomlSerial struct {
	Baud     int    `toml:"baud"`
	DataBits int    `toml:"data_bits"`
	Parity   string `toml:"parity"`
	StopBits int    `toml:"stop_bits"`
}

func (s tomlSerial) settings() PortSettings {
	return PortSettings(s)
}

// tomlKeypad is a keypad profile file as written.
type tomlKeypad struct {
	Name      string     `toml:"name"`
	Digits    []string   `toml:"digits"`
	Dot       string     `toml:"dot"`
	Confirm   string     `toml:"confirm"`
	Cancel    string     `toml:"cancel"`
	Backspace string     `toml:"backspace"`
	Presets   []string   `toml:"presets"`
	Beep      string     `toml:"beep"`
	Refusal   string     `toml:"beep_refusal"`
	Serial    tomlSerial `toml:"serial"`
}

// ParseKeypadProfile parses and validates a keypad profile in TOML:
//
//	name      = "ASCII keypad"
//	digits    = ["30", "31", "32", "33", "34", "35", "36", "37", "38", "39"]
//	dot       = "2E"
//	confirm   = "0D"
//	cancel    = "1B"
//	backspace = "08"
//	presets   = ["41", "42"]   # optional: preset meal keys 0, 1, …
//	beep         = ""          # optional: bytes that sound the keypad's buzzer on success
//	beep_refusal = ""          # optional: on refusal (beep if left out)
//
//	[serial]                   # optional; these are the defaults
//	baud = 9600
//	data_bits = 8
//	parity = "none"
//	stop_bits = 1
//
// Each key's value is one byte in hex; a beep is any number of bytes in
// hex ("1B 42 01"). Unknown keys are an error, so a typo does not silently
// leave a key unmapped.
func ParseKeypadProfile(data []byte) (KeypadProfile, error) {
	var t tomlKeypad
	md, err := toml.Decode(string(data), &t)
	if err != nil {
		return KeypadProfile{}, fmt.Errorf("keypad profile: %w", err)
	}
	var errs []error
	if err := undecoded(md); err != nil {
		errs = append(errs, err)
	}
	p := KeypadProfile{Name: t.Name, Serial: t.Serial.settings()}
	one := func(field, s string) byte {
		b, err := parseHexByte(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return b
	}
	if len(t.Digits) != 10 {
		errs = append(errs, fmt.Errorf("digits: %d bytes, want 10 (for '0' … '9')", len(t.Digits)))
	}
	for i, s := range t.Digits {
		if i < 10 {
			p.Digits[i] = one(fmt.Sprintf("digits[%d]", i), s)
		}
	}
	p.Dot = one("dot", t.Dot)
	p.Confirm = one("confirm", t.Confirm)
	p.Cancel = one("cancel", t.Cancel)
	p.Backspace = one("backspace", t.Backspace)
	for i, s := range t.Presets {
		p.Presets = append(p.Presets, one(fmt.Sprintf("presets[%d]", i), s))
	}
	if p.Beep, err = parseHex(t.Beep); err != nil {
		errs = append(errs, fmt.Errorf("beep: %w", err))
	}
	if p.BeepRefusal, err = parseHex(t.Refusal); err != nil {
		errs = append(errs, fmt.Errorf("beep_refusal: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return KeypadProfile{}, fmt.Errorf("keypad profile %q: %w", t.Name, err)
	}
	if err := p.Validate(); err != nil {
		return KeypadProfile{}, err
	}
	return p, nil
}

// tomlDisplay is a display profile file as written.
type tomlDisplay struct {
	Name       string     `toml:"name"`
	Columns    int        `toml:"columns"`
	Encoding   string     `toml:"encoding"`
	Init       string     `toml:"init"`
	FrameStart string     `toml:"frame_start"`
	FrameEnd   string     `toml:"frame_end"`
	Beep       string     `toml:"beep"`
	Refusal    string     `toml:"beep_refusal"`
	Serial     tomlSerial `toml:"serial"`
	Line       []struct {
		Start string `toml:"start"`
		End   string `toml:"end"`
	} `toml:"line"`
}

// ParseDisplayProfile parses and validates a display profile in TOML:
//
//	name        = "Epson ESC/POS customer display"
//	columns     = 20
//	encoding    = "gbk"           # or "ascii"
//	init        = "1B 40"         # on open and reopen
//	frame_start = "1C 26"         # optional, before every frame
//	frame_end   = ""              # optional, after every frame
//	beep        = ""              # optional: empty when there is no buzzer
//	beep_refusal = ""             # optional: on refusal (beep if left out)
//
//	[serial]                      # optional; 9600 8N1 by default
//	baud = 9600
//
//	[[line]]                      # one table per line, top first
//	start = "1F 24 01 01"
//	end   = ""                    # optional
//
// Command values are bytes in hex ("1B 40", spaces optional between
// bytes). Unknown keys are an error.
func ParseDisplayProfile(data []byte) (DisplayProfile, error) {
	var t tomlDisplay
	md, err := toml.Decode(string(data), &t)
	if err != nil {
		return DisplayProfile{}, fmt.Errorf("display profile: %w", err)
	}
	var errs []error
	if err := undecoded(md); err != nil {
		errs = append(errs, err)
	}
	hexField := func(field, s string) []byte {
		b, err := parseHex(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return b
	}
	p := DisplayProfile{
		Name:        t.Name,
		Serial:      t.Serial.settings(),
		Columns:     t.Columns,
		Encoding:    t.Encoding,
		Init:        hexField("init", t.Init),
		FrameStart:  hexField("frame_start", t.FrameStart),
		FrameEnd:    hexField("frame_end", t.FrameEnd),
		Beep:        hexField("beep", t.Beep),
		BeepRefusal: hexField("beep_refusal", t.Refusal),
	}
	for i, l := range t.Line {
		p.Lines = append(p.Lines, DisplayLine{
			Start: hexField(fmt.Sprintf("line[%d].start", i), l.Start),
			End:   hexField(fmt.Sprintf("line[%d].end", i), l.End),
		})
	}
	if err := errors.Join(errs...); err != nil {
		return DisplayProfile{}, fmt.Errorf("display profile %q: %w", t.Name, err)
	}
	if err := p.Validate(); err != nil {
		return DisplayProfile{}, err
	}
	return p, nil
}

// LoadKeypadProfile reads and parses the keypad profile name ("keypad-ascii"
// or "keypad-ascii.toml") from fsys, e.g. firmwareconfig.Devices or
// os.DirFS of a folder of profiles.
func LoadKeypadProfile(fsys fs.FS, name string) (KeypadProfile, error) {
	data, file, err := readProfile(fsys, name)
	if err != nil {
		return KeypadProfile{}, err
	}
	p, err := ParseKeypadProfile(data)
	if err != nil {
		return KeypadProfile{}, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

// LoadDisplayProfile reads and parses the display profile name
// ("display-epson" or "display-epson.toml") from fsys.
func LoadDisplayProfile(fsys fs.FS, name string) (DisplayProfile, error) {
	data, file, err := readProfile(fsys, name)
	if err != nil {
		return DisplayProfile{}, err
	}
	p, err := ParseDisplayProfile(data)
	if err != nil {
		return DisplayProfile{}, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

func readProfile(fsys fs.FS, name string) (data []byte, file string, err error) {
	file = name
	if path.Ext(file) != ".toml" {
		file += ".toml"
	}
	data, err = fs.ReadFile(fsys, file)
	if err != nil {
		return nil, file, fmt.Errorf("device profile %q: %w", name, err)
	}
	return data, file, nil
}

// undecoded reports keys in the file that no field took.
func undecoded(md toml.MetaData) error {
	keys := md.Undecoded()
	if len(keys) == 0 {
		return nil
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	sort.Strings(names)
	return fmt.Errorf("unknown keys: %s", strings.Join(names, ", "))
}

// parseHex parses bytes written in hex, such as "1B 40", "1b40" or
// "0x1B 0x40". The empty string is no bytes.
func parseHex(s string) ([]byte, error) {
	var out []byte
	for _, f := range strings.Fields(s) {
		h := strings.TrimPrefix(strings.TrimPrefix(f, "0x"), "0X")
		b, err := hex.DecodeString(h)
		if err != nil || len(h) == 0 {
			return nil, fmt.Errorf("%q: %q is not hex bytes such as \"1B 40\"", s, f)
		}
		out = append(out, b...)
	}
	return out, nil
}

// parseHexByte parses exactly one byte in hex.
func parseHexByte(s string) (byte, error) {
	if strings.TrimSpace(s) == "" {
		return 0, errors.New("missing")
	}
	b, err := parseHex(s)
	if err != nil {
		return 0, err
	}
	if len(b) != 1 {
		return 0, fmt.Errorf("%q: %d bytes, want exactly one", s, len(b))
	}
	return b[0], nil
}
