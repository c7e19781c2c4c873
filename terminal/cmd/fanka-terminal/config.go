package main

import (
	"fmt"
	"os"

	"github.com/BurntSushi/toml"

	"github.com/fanka/fanka/shared/money"
)

// Config is the register's configuration file (TOML); see
// firmware-config/register.example.toml.
type Config struct {
	// Data is the register's data directory (key, enrolment, journal).
	Data string `toml:"data"`
	// MaxSale is the per-sale maximum, in yuan ("200.00").
	MaxSale string `toml:"max_sale"`
	// Cashier is recorded in each entry until cashier sign-in exists.
	Cashier string `toml:"cashier"`
	Reader  struct {
		// Prefix selects the PC/SC reader by the start of its name.
		Prefix string `toml:"prefix"`
	} `toml:"reader"`
	Keypad  DeviceConfig `toml:"keypad"`
	Display DeviceConfig `toml:"display"`
}

// DeviceConfig names a serial device and its profile.
type DeviceConfig struct {
	Port string `toml:"port"` // e.g. /dev/fanka-keypad; keypad and display may name the same port
	Baud int    `toml:"baud"` // 0: the profile's
	// Profile is a profile name from firmware-config/devices ("keypad-ascii",
	// "display-epson"), or a path to a profile file.
	Profile string `toml:"profile"`
}

// DefaultConfig returns the defaults a config file overrides.
func DefaultConfig() Config {
	var c Config
	c.Data = "/var/lib/fanka-terminal"
	c.MaxSale = "200.00"
	c.Keypad.Profile = "keypad-ascii"
	c.Display.Profile = "display-epson"
	return c
}

// ReadConfigFile reads and checks a config file.
func ReadConfigFile(path string) (Config, error) {
	c := DefaultConfig()
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		return c, fmt.Errorf("config %s: unknown setting %q", path, un[0].String())
	}
	if _, err := c.maxSale(); err != nil {
		return c, fmt.Errorf("config %s: max_sale: %w", path, err)
	}
	if c.Keypad.Port == "" || c.Display.Port == "" {
		return c, fmt.Errorf("config %s: keypad.port and display.port are required", path)
	}
	if _, err := os.Stat(c.Data); err != nil {
		return c, fmt.Errorf("config %s: data directory: %w", path, err)
	}
	return c, nil
}

func (c Config) maxSale() (money.Fen, error) {
	m, err := money.Parse(c.MaxSale)
	if err == nil && m == 0 {
		err = fmt.Errorf("must be more than 0")
	}
	return m, err
}
