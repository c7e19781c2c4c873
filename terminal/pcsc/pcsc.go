// Package pcsc is the register's card reader: it watches a PC/SC reader
// through pcscd (github.com/ebfe/scard, cgo and libpcsclite) and turns cards
// arriving and leaving into terminal.CardEvents, reading each card's number
// with the card profiles it is given (shared/card): uid, and fanka, whose
// cards also sign each sale (terminal.CardSigner).
//
// It exists so that the register's state machine never deals with PC/SC:
// reader states, event counters, share modes, pcscd restarts and readers
// being unplugged and plugged back are all handled here. A Reader keeps
// going through all of them and reports only cards.
package pcsc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebfe/scard"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/wire"
	"github.com/fanka/fanka/terminal"
)

// ErrClosed is returned by NextCardEvent once the Reader is closed. It wraps
// terminal.ErrDeviceGone: a closed reader reports no more cards.
var ErrClosed = fmt.Errorf("pcsc: reader closed: %w", terminal.ErrDeviceGone)

// pnpNotification is the pseudo reader whose state changes when readers are
// added or removed (pcsc-lite and Windows).
const pnpNotification = `\\?PnP?\Notification`

// Timing of the watcher. pollTimeout bounds every blocking GetStatusChange,
// so that a cancellation that races with the call still ends it soon.
const (
	pollTimeout = time.Second
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 2 * time.Second
)

// Config says which reader to watch and how.
type Config struct {
	// ReaderPrefix picks the reader: the first one whose PC/SC name starts
	// with it (names end in a slot number such as " 00 00", which can change
	// when a reader is plugged in again). Empty means the first reader.
	ReaderPrefix string
	// GoneAfter, if positive, makes NextCardEvent return an error wrapping
	// terminal.ErrDeviceGone once the reader has been unusable (pcscd not
	// running, no matching reader) for that long, once per outage, so that
	// the register can show it. The Reader keeps looking either way. Zero
	// means outages are only logged.
	GoneAfter time.Duration
	// Logger receives reader and pcscd problems; nil means slog.Default().
	Logger *slog.Logger
	// Now stamps CardEvent.At; nil means time.Now.
	Now func() time.Time
	// Profiles are the card profiles to read a card with, in order: a card
	// is read with the first that it answers. card.ProfileFanka selects
	// the fanka application (a card without it answers 6A 82 and is tried
	// with the next profile); card.ProfileUID reads the UID, which every
	// card has. Empty means uid only (DESIGN §9).
	Profiles []card.Profile
}

// Reader reports the cards put on one PC/SC reader. It watches the reader on
// its own goroutine from Open until Close, and buffers a few events for
// NextCardEvent.
type Reader struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	events chan item
	closed chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu   sync.Mutex
	sctx *scard.Context // the watcher's current PC/SC context, for Close

	health terminal.DeviceHealth // absent during an outage, with its error
}

var (
	_ terminal.CardReader     = (*Reader)(nil)
	_ terminal.HealthReporter = (*Reader)(nil)
)

// Health reports the reader absent, with the error, while it is unusable
// (pcscd down, no reader of the prefix), and ok otherwise.
func (r *Reader) Health() wire.Device { return r.health.Health() }

// item is what the watcher hands to NextCardEvent: an event, or an error.
type item struct {
	ev  terminal.CardEvent
	err error
}

// Open starts watching the reader cfg describes. It does not wait for pcscd
// or the reader: if they are not there yet the Reader waits for them, and a
// card already on the reader is reported as inserted. Open fails only when
// cfg is invalid.
func Open(cfg Config) (*Reader, error) {
	if strings.ContainsRune(cfg.ReaderPrefix, 0) {
		return nil, fmt.Errorf("pcsc: open: reader prefix %q holds a NUL byte", cfg.ReaderPrefix)
	}
	if cfg.GoneAfter < 0 {
		return nil, fmt.Errorf("pcsc: open: negative GoneAfter %v", cfg.GoneAfter)
	}
	if len(cfg.Profiles) == 0 {
		cfg.Profiles = []card.Profile{card.ProfileUID}
	}
	for _, p := range cfg.Profiles {
		if p != card.ProfileUID && p != card.ProfileFanka {
			return nil, fmt.Errorf("pcsc: open: unknown card profile %q", p)
		}
	}
	r := &Reader{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		events: make(chan item, 8),
		closed: make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("reader", cfg.ReaderPrefix)
	if r.now == nil {
		r.now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		w := watcher{Reader: r}
		w.run(ctx)
	}()
	return r, nil
}

// NextCardEvent blocks until a card is put on the reader or taken off it.
// For a card that could not be read the event has Present set and Err
// saying why (errors.Is(err, card.ErrStatus) for an error status word).
//
// It returns ctx.Err() when ctx ends, and ErrClosed (which wraps
// terminal.ErrDeviceGone) once the Reader is closed. With Config.GoneAfter
// set it also returns an error wrapping terminal.ErrDeviceGone, once per
// outage, when the reader has been unusable that long; calling it again
// waits for the reader to come back.
func (r *Reader) NextCardEvent(ctx context.Context) (terminal.CardEvent, error) {
	select {
	case <-r.closed:
		return terminal.CardEvent{}, ErrClosed
	default:
	}
	select {
	case it := <-r.events:
		return it.ev, it.err
	case <-ctx.Done():
		return terminal.CardEvent{}, ctx.Err()
	case <-r.closed:
		return terminal.CardEvent{}, ErrClosed
	}
}

// Close stops watching the reader, unblocks NextCardEvent and releases the
// PC/SC context. It waits for the watcher to end (at most about a second).
// Calling it again does nothing.
func (r *Reader) Close() error {
	r.once.Do(func() {
		close(r.closed)
		r.cancel()
		r.mu.Lock()
		if r.sctx != nil {
			// Ends a blocked GetStatusChange now rather than at its timeout.
			_ = r.sctx.Cancel()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return nil
}

// setContext publishes the watcher's PC/SC context for Close to cancel.
func (r *Reader) setContext(sc *scard.Context) {
	r.mu.Lock()
	r.sctx = sc
	r.mu.Unlock()
}

// watcher is the state of the goroutine that watches the reader. Only that
// goroutine touches it.
type watcher struct {
	*Reader

	present bool   // a card is reported present
	counter uint32 // pcsc-lite's event counter when the state was last seen

	outageSince time.Time // when the reader became unusable; zero while usable
	outageSaid  bool      // the outage has been logged as a warning
	goneSent    bool      // ErrDeviceGone has been delivered for this outage
}

// errReaderGone ends a session when the watched reader disappears.
var errReaderGone = errors.New("reader removed")

// run watches the reader until ctx ends, starting a new PC/SC session with
// backoff whenever pcscd or the reader goes away.
func (w *watcher) run(ctx context.Context) {
	backoff := minBackoff
	for {
		found, err := w.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if w.present {
			// The reader is lost, and the card with it: the register must
			// not go on selling to a card it cannot see. If the card is
			// still there when the reader is back, it is inserted anew.
			w.remove(ctx, w.now())
		}
		if found {
			backoff = minBackoff
		}
		w.outage(ctx, err)
		if sleep(ctx, w.untilGone(backoff)) != nil {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// outage notes that the reader is unusable because of err: it logs the first
// failure of an outage as a warning and later ones at debug level, and
// delivers ErrDeviceGone once the outage has lasted Config.GoneAfter.
func (w *watcher) outage(ctx context.Context, err error) {
	if w.outageSince.IsZero() {
		w.outageSince = time.Now()
	}
	w.health.Set(wire.DeviceAbsent, err.Error())
	if !w.outageSaid {
		w.outageSaid = true
		w.log.Warn("card reader unusable, retrying", "err", err)
	} else {
		w.log.Debug("card reader still unusable", "err", err)
	}
	if w.cfg.GoneAfter > 0 && !w.goneSent && time.Since(w.outageSince) >= w.cfg.GoneAfter {
		w.goneSent = true
		w.send(ctx, item{err: fmt.Errorf("pcsc: %w: no usable reader for %v: %w",
			terminal.ErrDeviceGone, w.cfg.GoneAfter, err)})
	}
}

// untilGone shortens a wait of d so that the watcher looks again when
// Config.GoneAfter is up.
func (w *watcher) untilGone(d time.Duration) time.Duration {
	if w.cfg.GoneAfter <= 0 || w.goneSent || w.outageSince.IsZero() {
		return d
	}
	left := w.cfg.GoneAfter - time.Since(w.outageSince)
	return max(min(d, left), 10*time.Millisecond)
}

// usable ends an outage.
func (w *watcher) usable(name string) {
	if !w.outageSince.IsZero() {
		w.log.Info("card reader back", "name", name, "after", time.Since(w.outageSince).Round(time.Millisecond))
	} else {
		w.log.Info("card reader found", "name", name)
	}
	w.outageSince, w.outageSaid, w.goneSent = time.Time{}, false, false
	w.health.Set(wire.DeviceOK, "")
}

// session establishes a PC/SC context, waits for the reader and watches it
// until something goes wrong. found says whether the reader was found.
func (w *watcher) session(ctx context.Context) (found bool, err error) {
	sc, err := scard.EstablishContext()
	if err != nil {
		return false, fmt.Errorf("establish PC/SC context (is pcscd running?): %w", err)
	}
	w.setContext(sc)
	defer func() {
		w.setContext(nil)
		if rerr := sc.Release(); rerr != nil {
			w.log.Debug("release PC/SC context", "err", rerr)
		}
	}()
	name, err := w.waitReader(ctx, sc)
	if err != nil {
		return false, err
	}
	w.usable(name)
	return true, w.watch(ctx, sc, name)
}

// waitReader returns the name of the first reader matching the prefix,
// waiting for one to be plugged in. While it waits, it delivers
// ErrDeviceGone when Config.GoneAfter passes.
func (w *watcher) waitReader(ctx context.Context, sc *scard.Context) (string, error) {
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		names, err := sc.ListReaders()
		if err != nil && !errors.Is(err, scard.ErrNoReadersAvailable) {
			return "", fmt.Errorf("list readers: %w", err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, w.cfg.ReaderPrefix) {
				return n, nil
			}
		}
		w.outage(ctx, fmt.Errorf("no reader named %q… among %q", w.cfg.ReaderPrefix, names))
		// Wait for a reader to be added or removed, or the timeout. Newer
		// pcsc-lite compares the upper 16 bits with its number of readers
		// and answers at once when they differ; 1.9.9 just waits.
		rs := []scard.ReaderState{{
			Reader:       pnpNotification,
			CurrentState: scard.StateFlag(len(names) << 16),
		}}
		err = sc.GetStatusChange(rs, w.untilGone(pollTimeout))
		switch {
		case err == nil, errors.Is(err, scard.ErrTimeout):
		case errors.Is(err, scard.ErrCancelled):
			return "", context.Canceled
		case errors.Is(err, scard.ErrUnknownReader):
			// No PnP notification here: the timeout has to do.
			if err := sleep(ctx, w.untilGone(pollTimeout)); err != nil {
				return "", err
			}
		default:
			return "", fmt.Errorf("wait for readers: %w", err)
		}
	}
}

// watch follows the reader's state, reporting cards, until the reader or
// pcscd goes away or ctx ends.
func (w *watcher) watch(ctx context.Context, sc *scard.Context, name string) error {
	rs := []scard.ReaderState{{Reader: name, CurrentState: scard.StateUnaware}}
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := sc.GetStatusChange(rs, pollTimeout)
		at := w.now()
		switch {
		case err == nil:
		case errors.Is(err, scard.ErrTimeout):
			continue
		case errors.Is(err, scard.ErrCancelled):
			return context.Canceled
		default:
			return fmt.Errorf("watch %q: %w", name, err)
		}
		st := rs[0].EventState
		rs[0].CurrentState = st &^ scard.StateChanged
		if st&(scard.StateUnknown|scard.StateUnavailable) != 0 {
			return fmt.Errorf("watch %q: %w (state %#x)", name, errReaderGone, uint32(st))
		}
		present := st&scard.StatePresent != 0
		counter := uint32(st) >> 16
		swapped := !first && present && w.present && counter != w.counter
		first = false
		w.counter = counter
		if swapped {
			// The card left and another came while we were not looking
			// (pcsc-lite counts insertions and removals).
			w.log.Debug("card swapped between two looks", "counter", counter)
			w.remove(ctx, at)
		}
		switch {
		case present && !w.present:
			w.insert(ctx, sc, name, at)
		case !present && w.present:
			w.remove(ctx, at)
		}
	}
}

// insert reads the card now on the reader and reports it.
func (w *watcher) insert(ctx context.Context, sc *scard.Context, name string, at time.Time) {
	w.present = true
	no, signer, err := w.readCard(sc, name)
	if err != nil {
		w.log.Warn("card unreadable", "err", err)
	} else {
		w.log.Debug("card inserted", "card", no, "signs", signer != nil)
	}
	ev := terminal.CardEvent{Present: true, CardNo: no, Err: err, At: at}
	if signer != nil {
		ev.Signer, ev.PurseWriter, ev.Purse = signer, signer, signer.purse
	}
	w.send(ctx, item{ev: ev})
}

// remove reports that the card has left.
func (w *watcher) remove(ctx context.Context, at time.Time) {
	w.present = false
	w.log.Debug("card removed")
	w.send(ctx, item{ev: terminal.CardEvent{Present: false, At: at}})
}

// readCard reads the card number of the card on reader name with the
// first profile the card answers, and for a fanka card returns its signer.
func (w *watcher) readCard(sc *scard.Context, name string) (string, *fankaCard, error) {
	c, err := sc.Connect(name, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return "", nil, fmt.Errorf("pcsc: connect to card: %w", err)
	}
	defer func() {
		if err := c.Disconnect(scard.LeaveCard); err != nil {
			w.log.Debug("disconnect from card", "err", err)
		}
	}()
	for _, p := range w.cfg.Profiles {
		if p != card.ProfileFanka {
			continue
		}
		id, err := readFanka(c)
		if errors.Is(err, errNoApp) {
			continue // not a fanka card: the next profile
		}
		if err != nil {
			return "", nil, err
		}
		f := &fankaCard{reader: name, id: id}
		switch p, ok, err := readPurse(c); {
		case err != nil:
			// The sale does not need the record: the register decides
			// from its cache, as for a card that has none yet.
			w.log.Warn("purse record unreadable", "card", id.CardNo, "err", err)
		case ok:
			f.purse = &p
		}
		return id.CardNo, f, nil
	}
	if !slices.Contains(w.cfg.Profiles, card.ProfileUID) {
		return "", nil, fmt.Errorf("pcsc: the card has no fanka application, and uid cards are not taken")
	}
	resp, err := c.Transmit(card.GetUID)
	if err != nil {
		return "", nil, fmt.Errorf("pcsc: get UID: %w", err)
	}
	no, err := card.ParseUID(resp)
	if err != nil {
		return "", nil, fmt.Errorf("pcsc: get UID: %w", err)
	}
	return no, nil, nil
}

// errNoApp: the card answered SELECT with an error: it has no fanka
// application.
var errNoApp = errors.New("no fanka application")

// readFanka selects the fanka application and reads the card's identity.
func readFanka(c *scard.Card) (card.Identity, error) {
	resp, err := c.Transmit(card.Select)
	if err != nil {
		return card.Identity{}, fmt.Errorf("pcsc: select fanka: %w", err)
	}
	if _, err := card.ParseSelect(resp); err != nil {
		if errors.Is(err, card.ErrStatus) {
			return card.Identity{}, fmt.Errorf("%w: %w", errNoApp, err)
		}
		return card.Identity{}, fmt.Errorf("pcsc: select fanka: %w", err)
	}
	resp, err = c.Transmit(card.ReadIdentity)
	if err != nil {
		return card.Identity{}, fmt.Errorf("pcsc: read identity: %w", err)
	}
	id, err := card.ParseIdentity(resp)
	if err != nil {
		return card.Identity{}, fmt.Errorf("pcsc: read identity: %w", err)
	}
	return id, nil
}

// readPurse reads the purse record of the fanka card c (selected), and
// false when it has none yet.
func readPurse(c *scard.Card) (card.Purse, bool, error) {
	resp, err := c.Transmit(card.ReadPurse)
	if err != nil {
		return card.Purse{}, false, fmt.Errorf("pcsc: read purse: %w", err)
	}
	p, ok, err := card.ParseReadPurse(resp)
	if err != nil {
		return card.Purse{}, false, fmt.Errorf("pcsc: read purse: %w", err)
	}
	return p, ok, nil
}

// fankaCard signs sales with the fanka card read on a reader and rewrites
// its purse record. It talks to the card through a PC/SC context of its
// own: the watcher's is blocked in GetStatusChange most of the time.
type fankaCard struct {
	reader string
	id     card.Identity
	purse  *card.Purse // the record read with the identity, nil for none
}

var (
	_ terminal.CardSigner  = (*fankaCard)(nil)
	_ terminal.PurseWriter = (*fankaCard)(nil)
)

// SignSale selects the application again and has the card sign ch; see
// terminal.CardSigner. ctx is looked at between the steps (each PC/SC call
// is short).
func (f *fankaCard) SignSale(ctx context.Context, ch card.Challenge) ([]byte, error) {
	var sig card.SaleSignature
	err := f.transmit(ctx, "sign sale", card.SignSale(ch), func(resp []byte) (err error) {
		sig, err = card.ParseSignSale(resp)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := card.VerifySale(f.id.PublicKey, f.id.CardNo, ch, sig); err != nil {
		return nil, fmt.Errorf("pcsc: sign sale: not the card read (swapped?): %w", err)
	}
	return sig.Marshal(), nil
}

// WritePurse selects the application again and writes p; see
// terminal.PurseWriter.
func (f *fankaCard) WritePurse(ctx context.Context, p card.Purse) error {
	return f.transmit(ctx, "write purse", card.WritePurse(p), card.ParseWritePurse)
}

// transmit connects to the card, selects the application and sends apdu,
// whose answer parse reads. ctx is looked at between the steps.
func (f *fankaCard) transmit(ctx context.Context, op string, apdu []byte, parse func(resp []byte) error) error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return fmt.Errorf("pcsc: %s: %w", op, err)
	}
	defer sc.Release()
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := sc.Connect(f.reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return fmt.Errorf("pcsc: %s: connect to card: %w", op, err)
	}
	defer c.Disconnect(scard.LeaveCard)
	resp, err := c.Transmit(card.Select)
	if err == nil {
		_, err = card.ParseSelect(resp)
	}
	if err != nil {
		return fmt.Errorf("pcsc: %s: select: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	resp, err = c.Transmit(apdu)
	if err == nil {
		err = parse(resp)
	}
	if err != nil {
		return fmt.Errorf("pcsc: %s: %w", op, err)
	}
	return nil
}

// send hands it to NextCardEvent, waiting while the buffer is full.
func (w *watcher) send(ctx context.Context, it item) {
	select {
	case w.events <- it:
	case <-ctx.Done():
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
