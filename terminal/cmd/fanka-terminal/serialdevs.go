package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	firmwareconfig "github.com/fanka/fanka/firmware-config"
	"github.com/fanka/fanka/terminal"
	"github.com/fanka/fanka/terminal/serial"
)

// serialDevices are the keypad and display, on one port or two.
type serialDevices struct {
	keypad interface {
		terminal.Keypad
		terminal.HealthReporter
	}
	display interface {
		terminal.Display
		terminal.HealthReporter
	}
	// beeper is the keypad when its profile has a buzzer (the display
	// sounds its own with each frame); nil otherwise.
	beeper  terminal.Beeper
	closers []func() error
}

func (d *serialDevices) Close() error {
	var errs []error
	for _, c := range d.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// profileSource returns where a profile named in the config is read from:
// the built-in firmware-config/devices for a bare name, the file system for a path.
func profileSource(name string) (fs.FS, string) {
	if strings.ContainsRune(name, '/') || strings.HasSuffix(name, ".toml") {
		return os.DirFS(filepath.Dir(name)), strings.TrimSuffix(filepath.Base(name), ".toml")
	}
	return firmwareconfig.Devices, name
}

func openSerialDevices(cfg Config, log *slog.Logger) (*serialDevices, error) {
	kfs, kname := profileSource(cfg.Keypad.Profile)
	kp, err := serial.LoadKeypadProfile(kfs, kname)
	if err != nil {
		return nil, err
	}
	dfs, dname := profileSource(cfg.Display.Profile)
	dp, err := serial.LoadDisplayProfile(dfs, dname)
	if err != nil {
		return nil, err
	}
	if cfg.Keypad.Baud > 0 {
		kp.Serial.Baud = cfg.Keypad.Baud
	}
	if cfg.Display.Baud > 0 {
		dp.Serial.Baud = cfg.Display.Baud
	}
	if cfg.Keypad.Port == cfg.Display.Port {
		d, err := serial.Open(cfg.Keypad.Port, &kp, &dp, log)
		if err != nil {
			return nil, err
		}
		devs := &serialDevices{keypad: d, display: d, closers: []func() error{d.Close}}
		if len(kp.Beep) > 0 {
			devs.beeper = d
		}
		return devs, nil
	}
	k, err := serial.OpenKeypad(cfg.Keypad.Port, kp, log)
	if err != nil {
		return nil, err
	}
	d, err := serial.OpenDisplay(cfg.Display.Port, dp, log)
	if err != nil {
		k.Close()
		return nil, err
	}
	devs := &serialDevices{keypad: k, display: d, closers: []func() error{k.Close, d.Close}}
	if len(kp.Beep) > 0 {
		devs.beeper = k
	}
	return devs, nil
}
