// Package firmwareconfig holds the device profiles built into the Fanka
// binaries, so a register runs with its default keypad and display without
// any file on disk beside the binary.
//
// The profiles are data (TOML in devices/, one file per device, named
// keypad-*.toml or display-*.toml); terminal/serial parses them. A new
// device is a new file, and the package's test loads and validates every
// file through that parser.
package firmwareconfig

import (
	"embed"
	"io/fs"
)

//go:embed devices/*.toml
var files embed.FS

// Devices holds the built-in device profiles, one TOML file per device at
// its root: keypad-ascii.toml, display-epson.toml, …. Load one with
// serial.LoadKeypadProfile(Devices, "keypad-ascii") or
// serial.LoadDisplayProfile.
var Devices fs.FS = mustSub(files, "devices")

// The profiles a register uses unless its configuration names others
// (DESIGN §9).
const (
	DefaultKeypad  = "keypad-ascii"
	DefaultDisplay = "display-epson"
)

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant, valid path
	}
	return sub
}
