package printer

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// DefaultPort is the raw printing port of network printers (JetDirect).
const DefaultPort = "9100"

// Parse returns the printer name names, not yet reached:
//
//	tcp://HOST[:PORT]         a network printer, raw TCP (port 9100 unless given), two-way
//	file:PATH                 a device file such as /dev/usb/lp0, one-way
//	serial:PATH[?baud=N]      a serial port such as /dev/ttyUSB0, 9600 baud unless given, two-way
//
// Each also takes status=on|off, to say whether the printer answers status
// requests, and timeout=DURATION (such as 10s), the write timeout; e.g.
// tcp://10.0.0.9?status=off, file:/dev/usb/lp0?status=on,
// serial:/dev/ttyS0?baud=19200.
//
// The printer returned is a *Network, a *Device or a *Serial.
func Parse(name string) (Printer, error) {
	u, err := url.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("printer %q: %w", name, err)
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "status", "timeout", "baud":
		default:
			return nil, fmt.Errorf("printer %q: unknown parameter %q (want status, timeout, baud)", name, k)
		}
	}
	var t Timeouts
	if v := q.Get("timeout"); v != "" {
		if t.Write, err = time.ParseDuration(v); err != nil || t.Write <= 0 {
			return nil, fmt.Errorf("printer %q: timeout=%s: want a duration such as 10s", name, v)
		}
	}
	twoWay := func(def bool) (bool, error) {
		switch q.Get("status") {
		case "":
			return def, nil
		case "on":
			return true, nil
		case "off":
			return false, nil
		}
		return false, fmt.Errorf("printer %q: status=%s: want on or off", name, q.Get("status"))
	}
	path := u.Path
	if u.Opaque != "" {
		path = u.Opaque // file:relative/path
	}
	if q.Has("baud") && u.Scheme != "serial" {
		return nil, fmt.Errorf("printer %q: baud is for serial printers", name)
	}
	switch u.Scheme {
	case "tcp":
		if u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil {
			return nil, fmt.Errorf("printer %q: want tcp://HOST[:PORT]", name)
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), DefaultPort)
		}
		tw, err := twoWay(true)
		if err != nil {
			return nil, err
		}
		return &Network{Addr: addr, TwoWay: tw, Timeouts: t}, nil
	case "file":
		if path == "" || u.Host != "" {
			return nil, fmt.Errorf("printer %q: want file:PATH", name)
		}
		tw, err := twoWay(false)
		if err != nil {
			return nil, err
		}
		return &Device{Path: path, TwoWay: tw, Timeouts: t}, nil
	case "serial":
		if path == "" || u.Host != "" {
			return nil, fmt.Errorf("printer %q: want serial:PATH[?baud=N]", name)
		}
		baud := DefaultBaud
		if v := q.Get("baud"); v != "" {
			if baud, err = strconv.Atoi(v); err != nil || baud < 50 || baud > 4000000 {
				return nil, fmt.Errorf("printer %q: baud=%s: want 50 to 4000000", name, v)
			}
		}
		tw, err := twoWay(true)
		if err != nil {
			return nil, err
		}
		return &Serial{Path: path, Baud: baud, TwoWay: tw, Timeouts: t}, nil
	}
	return nil, fmt.Errorf("printer %q: unknown kind (want tcp://HOST:PORT, file:PATH or serial:PATH)", name)
}
