// Package serial connects the register to its cashier keypad and customer
// display over serial ports (RS-232 or USB-serial), with go.bug.st/serial.
//
// What the bytes mean is data, not code: a KeypadProfile says which byte
// each key sends and a DisplayProfile holds the display's command set, size
// and encoding, both read from TOML files (firmware-config/devices). A new
// keypad or display is a new profile file.
//
// One serial connection is a Device. A keypad and a display usually have a
// port each (OpenKeypad, OpenDisplay); a pole display with a built-in
// keypad shares one port for both (Open with both profiles). A Device that
// loses its port (the cable was pulled) reopens it with backoff, keeping
// the keys not yet read and redrawing the last screen when it is back.
package serial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	bugst "go.bug.st/serial"

	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
)

// Timings of the connection.
const (
	// readTimeout bounds each Read, so the reader notices Close and
	// failed writes while the keypad is idle.
	readTimeout = 100 * time.Millisecond
	// minBackoff and maxBackoff bound the wait between attempts to reopen a
	// lost port; it doubles after each failed attempt.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
	// keyBuffer is how many keys are held for NextKey before the reader
	// stops reading (the bytes then wait in the operating system).
	keyBuffer = 64
)

// Device is one serial connection to a keypad, a customer display, or a
// pole display with both. It is a terminal.Keypad when opened with a keypad
// profile and a terminal.Display when opened with a display profile. Its
// methods are safe for concurrent use.
type Device struct {
	path string
	kp   *KeypadProfile
	dp   *DisplayProfile
	mode *bugst.Mode
	log  *slog.Logger

	keys   chan terminal.Key
	broken chan struct{} // a write failed: reopen the port
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // serialises writes and guards the fields below
	port   bugst.Port // nil while the device is gone
	screen []string   // lines of the last screen asked for, redrawn on reopen; nil before the first
	closed bool

	health terminal.DeviceHealth // absent while the port is lost, with why
}

var (
	_ terminal.Keypad  = (*Device)(nil)
	_ terminal.Display = (*Device)(nil)
	_ terminal.Beeper  = (*Device)(nil)
	_ terminal.Keypad  = (*Keypad)(nil)
	_ terminal.Beeper  = (*Keypad)(nil)
	_ terminal.Display = (*Display)(nil)

	_ terminal.HealthReporter = (*Device)(nil)
	_ terminal.HealthReporter = (*Keypad)(nil)
	_ terminal.HealthReporter = (*Display)(nil)
)

// Health reports the device absent, with the error that lost it, from
// when its port is lost until it is open again; ok otherwise.
func (d *Device) Health() wire.Device { return d.health.Health() }

// Open opens the serial port at path (such as /dev/ttyUSB0 or a stable
// /dev/serial/by-id link) for a keypad, a display, or both on one port;
// kp or dp may be nil, not both. Both profiles are validated and, when
// both are given, must agree on the port settings. A display gets its
// profile's Init at once.
//
// Open fails when the port cannot be opened now. Once open, the Device
// reopens a port it loses until Close.
func Open(path string, kp *KeypadProfile, dp *DisplayProfile, logger *slog.Logger) (*Device, error) {
	if kp == nil && dp == nil {
		return nil, fmt.Errorf("serial %s: no keypad or display profile", path)
	}
	if logger == nil {
		logger = slog.Default()
	}
	d := &Device{
		path:   path,
		log:    logger.With("port", path),
		keys:   make(chan terminal.Key, keyBuffer),
		broken: make(chan struct{}, 1),
	}
	var settings PortSettings
	if kp != nil {
		if err := kp.Validate(); err != nil {
			return nil, fmt.Errorf("serial %s: %w", path, err)
		}
		k := *kp
		k.Presets = slices.Clone(k.Presets)
		k.Beep, k.BeepRefusal = slices.Clone(k.Beep), slices.Clone(k.BeepRefusal)
		d.kp, settings = &k, k.Serial.withDefaults()
	}
	if dp != nil {
		if err := dp.Validate(); err != nil {
			return nil, fmt.Errorf("serial %s: %w", path, err)
		}
		p := cloneDisplay(*dp)
		if d.kp != nil && p.Serial.withDefaults() != settings {
			return nil, fmt.Errorf("serial %s: keypad %q wants %+v but display %q wants %+v on the same port",
				path, d.kp.Name, settings, p.Name, p.Serial.withDefaults())
		}
		d.dp, settings = &p, p.Serial.withDefaults()
	}
	d.mode = settings.mode()
	port, err := d.dial()
	if err != nil {
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(1)
	go d.run(port)
	return d, nil
}

func cloneDisplay(p DisplayProfile) DisplayProfile {
	p.Init = slices.Clone(p.Init)
	p.FrameStart = slices.Clone(p.FrameStart)
	p.FrameEnd = slices.Clone(p.FrameEnd)
	p.Beep = slices.Clone(p.Beep)
	p.BeepRefusal = slices.Clone(p.BeepRefusal)
	lines := make([]DisplayLine, len(p.Lines))
	for i, l := range p.Lines {
		lines[i] = DisplayLine{Start: slices.Clone(l.Start), End: slices.Clone(l.End)}
	}
	p.Lines = lines
	return p
}

// NextKey returns the next key pressed on the keypad, waiting for one. It
// keeps waiting while a lost port is being reopened. It returns ctx.Err()
// when ctx ends, and an error wrapping terminal.ErrDeviceGone once the
// Device is closed.
func (d *Device) NextKey(ctx context.Context) (terminal.Key, error) {
	if d.kp == nil {
		return terminal.Key{}, fmt.Errorf("serial %s: opened without a keypad profile", d.path)
	}
	select {
	case k := <-d.keys:
		return k, nil
	case <-ctx.Done():
		return terminal.Key{}, ctx.Err()
	case <-d.ctx.Done():
		return terminal.Key{}, fmt.Errorf("serial keypad %s: closed: %w", d.path, terminal.ErrDeviceGone)
	}
}

// Show writes s to the display as one frame (DisplayProfile.Frame) and
// returns once the bytes are written. While the port is lost it returns an
// error wrapping terminal.ErrDeviceGone, and the screen is drawn when the
// port is back: the display always ends up showing the last screen asked
// for (without its beep).
func (d *Device) Show(s terminal.Screen) error {
	if d.dp == nil {
		return fmt.Errorf("serial %s: opened without a display profile", d.path)
	}
	frame := d.dp.Frame(s)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("serial display %s: closed: %w", d.path, terminal.ErrDeviceGone)
	}
	d.screen = append(make([]string, 0, len(s.Lines)), s.Lines...)
	if d.port == nil {
		return fmt.Errorf("serial display %s: %w (reconnecting)", d.path, terminal.ErrDeviceGone)
	}
	if err := writeAll(d.port, frame); err != nil {
		select {
		case d.broken <- struct{}{}:
		default:
		}
		return fmt.Errorf("serial display %s: %w: %w", d.path, terminal.ErrDeviceGone, err)
	}
	return nil
}

// Beep sounds b on a keypad with a buzzer (KeypadProfile.BeepBytes), and
// does nothing on a keypad without one or a display (whose beep goes with
// its frame, Show). While the port is lost it returns an error wrapping
// terminal.ErrDeviceGone: a beep is not kept for later.
func (d *Device) Beep(b terminal.Beep) error {
	if d.kp == nil {
		return nil
	}
	bytes := d.kp.BeepBytes(b)
	if len(bytes) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.port == nil {
		return fmt.Errorf("serial keypad %s: beep: %w", d.path, terminal.ErrDeviceGone)
	}
	if err := writeAll(d.port, bytes); err != nil {
		select {
		case d.broken <- struct{}{}:
		default:
		}
		return fmt.Errorf("serial keypad %s: beep: %w: %w", d.path, terminal.ErrDeviceGone, err)
	}
	return nil
}

// Close closes the port and stops reconnecting. Keys not yet read are
// lost; NextKey and Show fail from then on.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	port := d.port
	d.port = nil
	d.mu.Unlock()
	d.cancel()
	var err error
	if port != nil {
		err = port.Close()
	}
	d.wg.Wait()
	if err != nil {
		return fmt.Errorf("serial %s: close: %w", d.path, err)
	}
	return nil
}

// errClosed stops a reopen that raced with Close.
var errClosed = errors.New("closed")

// dial opens the port and makes it the Device's: a display gets Init and
// the last screen, in one write.
func (d *Device) dial() (bugst.Port, error) {
	port, err := bugst.Open(d.path, d.mode)
	if err != nil {
		return nil, err
	}
	if err := port.SetReadTimeout(readTimeout); err != nil {
		port.Close()
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		port.Close()
		return nil, errClosed
	}
	if d.dp != nil {
		out := slices.Clone(d.dp.Init)
		if d.screen != nil {
			out = append(out, d.dp.Frame(terminal.Screen{Lines: d.screen})...)
		}
		if err := writeAll(port, out); err != nil {
			port.Close()
			return nil, fmt.Errorf("initialise display: %w", err)
		}
	}
	d.port = port
	return port, nil
}

// run reads the port until the Device closes, reopening it when lost.
func (d *Device) run(port bugst.Port) {
	defer d.wg.Done()
	for {
		err := d.serve(port)
		if d.ctx.Err() != nil {
			return
		}
		d.health.Set(wire.DeviceAbsent, err.Error())
		d.log.Warn("serial device lost, reopening", "err", err)
		d.drop(port)
		lost := time.Now()
		var attempts int
		port, attempts = d.reopen()
		if port == nil {
			return
		}
		d.health.Set(wire.DeviceOK, "")
		d.log.Info("serial device back", "after", time.Since(lost).Round(time.Millisecond), "attempts", attempts)
	}
}

// errWrite ends serve when Show could not write.
var errWrite = errors.New("write failed")

// serve reads keys from port until it fails, a write fails or the Device
// closes.
func (d *Device) serve(port bugst.Port) error {
	buf := make([]byte, 256)
	for {
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-d.broken:
			return errWrite
		default:
		}
		n, err := port.Read(buf)
		if n > 0 {
			d.deliver(buf[:n])
		}
		if err != nil {
			return err
		}
	}
}

// deliver decodes bytes read from the port and queues the keys for
// NextKey. Bytes the keypad profile does not map are logged and dropped.
func (d *Device) deliver(b []byte) {
	if d.kp == nil {
		d.log.Debug("display sent bytes, ignored", "bytes", fmt.Sprintf("% X", b))
		return
	}
	keys, dropped := d.kp.Decode(b)
	if len(dropped) > 0 {
		d.log.Warn("keypad bytes not in profile, dropped", "profile", d.kp.Name, "bytes", fmt.Sprintf("% X", dropped))
	}
	for _, k := range keys {
		select {
		case d.keys <- k:
		case <-d.ctx.Done():
			return
		}
	}
}

// drop forgets a lost port and closes it.
func (d *Device) drop(port bugst.Port) {
	d.mu.Lock()
	if d.port == port {
		d.port = nil
	}
	d.mu.Unlock()
	port.Close()
	select {
	case <-d.broken:
	default:
	}
}

// reopen tries to open the port again with backoff until it succeeds or
// the Device closes (then it returns nil).
func (d *Device) reopen() (bugst.Port, int) {
	backoff := minBackoff
	t := time.NewTimer(backoff)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-d.ctx.Done():
			return nil, attempt
		case <-t.C:
		}
		port, err := d.dial()
		if err == nil {
			return port, attempt
		}
		if errors.Is(err, errClosed) {
			return nil, attempt
		}
		d.log.Debug("serial device still gone", "attempt", attempt, "err", err)
		backoff = min(2*backoff, maxBackoff)
		t.Reset(backoff)
	}
}

// writeAll writes b with as many writes as the port needs (a signal can cut
// a write to a terminal short).
func writeAll(w io.Writer, b []byte) error {
	for len(b) > 0 {
		n, err := w.Write(b)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

// Keypad is a cashier keypad on a serial port of its own.
type Keypad struct{ d *Device }

// OpenKeypad opens a keypad with profile p on the serial port at path; see
// Open.
func OpenKeypad(path string, p KeypadProfile, logger *slog.Logger) (*Keypad, error) {
	d, err := Open(path, &p, nil, logger)
	if err != nil {
		return nil, err
	}
	return &Keypad{d}, nil
}

// NextKey returns the next key pressed; see Device.NextKey.
func (k *Keypad) NextKey(ctx context.Context) (terminal.Key, error) { return k.d.NextKey(ctx) }

// Beep sounds b on a keypad with a buzzer; see Device.Beep.
func (k *Keypad) Beep(b terminal.Beep) error { return k.d.Beep(b) }

// Health reports the keypad's port; see Device.Health.
func (k *Keypad) Health() wire.Device { return k.d.Health() }

// Close closes the port.
func (k *Keypad) Close() error { return k.d.Close() }

// Display is a customer display on a serial port of its own.
type Display struct{ d *Device }

// OpenDisplay opens a display with profile p on the serial port at path;
// see Open.
func OpenDisplay(path string, p DisplayProfile, logger *slog.Logger) (*Display, error) {
	d, err := Open(path, nil, &p, logger)
	if err != nil {
		return nil, err
	}
	return &Display{d}, nil
}

// Show writes s to the display; see Device.Show.
func (d *Display) Show(s terminal.Screen) error { return d.d.Show(s) }

// Health reports the display's port; see Device.Health.
func (d *Display) Health() wire.Device { return d.d.Health() }

// Close closes the port.
func (d *Display) Close() error { return d.d.Close() }
