package terminal

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fanka/fanka/shared/card"
	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Journal is where the register records sales and voids and looks up cards.
type Journal interface {
	// Record completes e (register id, seq, previous hash, signature) and
	// makes it durable (fsync'd) before returning it. On error nothing is
	// recorded; the error wraps ErrJournalFull when the storage is full.
	Record(e journal.Entry) (journal.Entry, error)
	// LastEntry returns the last entry recorded, and false when there is
	// none yet.
	LastEntry() (journal.Entry, bool, error)
	// Card returns the register's view of a card at time now, and false for
	// a card the server never told it about.
	Card(cardNo string, now time.Time) (CardView, bool, error)
	// Backlog returns what waits to be settled by the server.
	Backlog() Backlog
}

// Uplink is the register's link to the server as the sale path sees it.
type Uplink interface {
	// Wake says a new entry waits to be sent. It never blocks.
	Wake()
	// Online reports whether the server link is up.
	Online() bool
	// LastContact returns when the register last heard from the server,
	// the zero time if it never has.
	LastContact() time.Time
	// Reach asks the link to connect now if it is down, and waits at most
	// wait for it to be up. It reports whether the link is up.
	Reach(wait time.Duration) bool
}

// Config is how a register is set up.
type Config struct {
	// Rules are the sale rules; nil means DefaultRules. SetRules replaces
	// them later.
	Rules *Rules
	// Terminal is the register's id, which cards that sign their sales
	// sign with each sale (card.Challenge).
	Terminal uint32
	// Cashier is recorded in every entry while no cashier has signed in
	// (see Rules.Cashiers); empty records none.
	Cashier string
	// Now is the register's clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per sale, void, refusal and sign-in; nil
	// means slog.Default().
	Logger *slog.Logger
	// Shown, if set, is called after each screen has been written to the
	// display, with when the event that led to it happened: CardEvent.At
	// for a card, the moment Run read the key for a key. It is how the
	// card-to-display and confirm-to-成功 latencies are measured. It runs on
	// the register's goroutine and must be quick.
	Shown func(s Screen, cause time.Time)
	// Beeper, if set, sounds each screen's beep besides the display: a
	// keypad with a buzzer (the display sounds its own, if it has one).
	Beeper Beeper
	// PurseKey is the register's own Ed25519 key (the journal's), with
	// which it signs the purse record it writes to a fanka card after each
	// sale; nil: it writes none.
	PurseKey ed25519.PrivateKey
	// PurseKeys are the other writers whose purse records the register
	// believes: the other registers' public keys by register id, and the
	// office's (card.WriterOffice). The register's own public key, from
	// PurseKey, is added under Terminal. A record from a writer not here is
	// ignored (and logged).
	PurseKeys card.PurseKeys
	// Receipts, if set, is woken once each sale is shown as 成功, to print
	// its receipt, and once each void is shown, to print its void slip;
	// the journal queued them with the entry (ReceiptQueue). Nil: the
	// register has no receipt printer.
	Receipts *ReceiptPrinter
}

// Timing and bounds of the cashier's keys.
const (
	// maxAmountKeys bounds an amount as keyed: "99999999.99".
	maxAmountKeys = 11
	// maxWrongCodes wrong staff codes in a row lock code entry for
	// codeLockout, against guessing.
	maxWrongCodes = 5
	codeLockout   = time.Minute
	// cardSignWait bounds how long a card may take to sign a sale.
	cardSignWait = 2 * time.Second
)

// mode is where the register is in a sale.
type mode uint8

const (
	// modeIdle: no card. Digits key a staff code (sign-in, void).
	modeIdle mode = iota
	// modeAmount: a good card is in; the cashier keys the amount or a
	// preset, then confirms.
	modeAmount
	// modeDone: the sale was made or the card refused; the register waits
	// for the card to leave. Digits key a staff code (a void).
	modeDone
	// modeVoid: a supervisor asked to void the last sale; confirm voids it,
	// cancel goes back.
	modeVoid
)

// Register is the sale state machine (DESIGN §5):
//
//	idle ──card──▶ amount entry ──confirm──▶ committed (成功) ──card out──▶ idle
//	  │  ╲             │ ▲ digits, '.', backspace, preset keys, cancel
//	  │   ╲            └─┴─▶ refused amount (余额不足, limits): key again
//	  │    ╲──card──▶ refused card (未开卡, 卡已冻结, 挂失卡, 超出今日次数, …) ──card out──▶ idle
//	  └─ staff code ─▶ cashier signs in or out | supervisor ─▶ void the last sale? ─confirm─▶ void entry
//
// A card arriving or leaving ends whatever was being keyed. Each sale is
// recorded durably in the journal before the display says 成功; a void is
// a new entry reversing the last sale, never an edit.
//
// Time: entries carry the register's clock as it reads, even when it went
// back (the register logs a warning); the journal's seq, not the time,
// orders entries. The void window is measured on the monotonic clock for a
// sale this process made, and a sale that seems to lie in the future (the
// clock went back across a restart) cannot be voided.
//
// Its Handle methods are not safe for concurrent use: Run calls them from
// one goroutine, in event order. SetRules may be called from any goroutine.
type Register struct {
	cfg     Config
	journal Journal
	display Display
	uplink  Uplink
	log     *slog.Logger
	rules   atomic.Pointer[Rules]
	writers card.PurseKeys             // whose purse records to believe: Config.PurseKeys and the register's own
	server  atomic.Pointer[wire.Rules] // the server's rules (SetServerRules), nil for none

	mode    mode
	present bool        // a card is in
	event   CardEvent   // the event that put it in
	card    CardView    // modeAmount: the card as checked
	purse   *card.Purse // the purse record on the card in, as last read or written; nil for none
	// written is the purse record this register last wrote, the journal
	// seq of the sale it was written for, and that sale's amount once it
	// is voided: the record waits to be written back (unwritePurse).
	written struct {
		purse  card.Purse
		sale   uint64
		voided money.Fen
	}
	noCashier bool     // the card in was refused for want of a signed-in cashier
	keyed     []byte   // the amount (modeAmount) or a staff code (idle, done)
	rest      Screen   // what to show again when a code entry is cancelled
	cashier   string   // the signed-in cashier's id, or ""
	shift     ShiftJob // the signed-in cashier's shift: Start and FirstSeq set

	voidSale journal.Entry // modeVoid: the sale to void
	voidBy   string        // modeVoid: the supervisor's id
	voidBack mode          // modeVoid: the mode to go back to

	lastSale struct { // the last sale this process recorded
		seq uint64
		at  time.Time // r.now() when it was recorded, with its monotonic reading
	}
	lastTime int64 // Time of the journal's last entry, to notice a clock going back

	wrongCodes  int
	lockedUntil time.Time
	cause       time.Time // when the event being handled happened, for Config.Shown
}

// NewRegister returns a register on journal j, display d and uplink u. It
// fails when cfg.Rules are not valid (Rules.Validate).
func NewRegister(cfg Config, j Journal, d Display, u Uplink) (*Register, error) {
	rules := DefaultRules()
	if cfg.Rules != nil {
		rules = cloneRules(*cfg.Rules)
	}
	if err := rules.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Register{cfg: cfg, journal: j, display: d, uplink: u, log: cfg.Logger, writers: card.PurseKeys{}}
	for id, k := range cfg.PurseKeys {
		r.writers[id] = k
	}
	if cfg.PurseKey != nil {
		r.writers[cfg.Terminal] = cfg.PurseKey.Public().(ed25519.PublicKey)
	}
	r.rules.Store(&rules)
	if e, ok, err := j.LastEntry(); err != nil {
		r.log.Error("journal: last entry", "err", err)
	} else if ok {
		r.lastTime = e.Time
	}
	if sj, ok := j.(ServerRulesJournal); ok {
		switch m, ok, err := sj.ServerRules(); {
		case err != nil:
			r.log.Error("the server's last rules cannot be read: applying the register's own", "err", err)
		case ok:
			r.SetServerRules(m)
		}
	}
	if sj, ok := j.(ShiftJournal); ok && cfg.Receipts != nil {
		switch s, ok, err := sj.OpenShift(); {
		case err != nil:
			r.log.Error("the open shift cannot be read: its report will not print", "err", err)
		case ok:
			// The register stopped with a cashier signed in: the shift
			// ends now, and the cashier signs in again.
			r.log.Warn("shift ended by a restart: its report prints", "cashier", s.Cashier, "start", s.Start)
			r.endShift(s, r.now())
		}
	}
	r.rest = r.idleScreen()
	return r, nil
}

// SetRules replaces the sale rules from the next event on. It refuses rules
// that are not valid, keeping the old ones. It is safe to call from any
// goroutine (the uplink, when the server pushes rules).
func (r *Register) SetRules(rules Rules) error {
	rules = cloneRules(rules)
	if err := rules.Validate(); err != nil {
		return err
	}
	r.rules.Store(&rules)
	return nil
}

// Rules returns a copy of the rules in force.
func (r *Register) Rules() Rules { return cloneRules(*r.rules.Load()) }

func cloneRules(r Rules) Rules {
	r.Meals = append([]MealPeriod(nil), r.Meals...)
	for i := range r.Meals {
		r.Meals[i].Presets = append([]money.Fen(nil), r.Meals[i].Presets...)
	}
	r.Cashiers = append([]Staff(nil), r.Cashiers...)
	r.Supervisors = append([]Staff(nil), r.Supervisors...)
	return r
}

// keyPress is a key and when Run read it.
type keyPress struct {
	key Key
	at  time.Time
}

// Run feeds card events, keys and link changes into the register until ctx
// ends or a device fails for good. linkChanged may be nil.
func (r *Register) Run(ctx context.Context, reader CardReader, keypad Keypad, linkChanged <-chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cards := make(chan CardEvent)
	keys := make(chan keyPress)
	errs := make(chan error, 2)
	go func() {
		for {
			ev, err := reader.NextCardEvent(ctx)
			if err != nil {
				errs <- fmt.Errorf("card reader: %w", err)
				return
			}
			select {
			case cards <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		for {
			k, err := keypad.NextKey(ctx)
			if err != nil {
				errs <- fmt.Errorf("keypad: %w", err)
				return
			}
			select {
			case keys <- keyPress{k, time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	r.cause = time.Now()
	if r.mode == modeIdle && len(r.keyed) == 0 {
		r.rest = r.idleScreen()
	}
	r.show(r.rest)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case ev := <-cards:
			r.HandleCard(ev)
		case k := <-keys:
			r.handleKey(k.key, k.at)
		case <-linkChanged:
			r.HandleLinkChange()
		}
	}
}

// HandleLinkChange redraws the idle screen, whose second line says whether
// the register is offline and how many entries wait to be sent.
func (r *Register) HandleLinkChange() {
	if r.mode == modeIdle && len(r.keyed) == 0 {
		r.cause = time.Now()
		r.rest = r.idleScreen()
		r.show(r.rest)
	}
}

// HandleCard handles a card arriving or leaving.
func (r *Register) HandleCard(ev CardEvent) {
	r.cause = ev.At
	r.keyed = r.keyed[:0]
	if !ev.Present {
		r.present, r.noCashier, r.event, r.purse = false, false, CardEvent{}, nil
		r.mode, r.card = modeIdle, CardView{}
		r.rest = r.idleScreen()
		r.show(r.rest)
		return
	}
	r.present, r.event, r.purse = true, ev, nil
	if ev.Purse != nil {
		p := *ev.Purse
		r.purse = &p
	}
	r.unwritePurse() // a void made since this register wrote the card's record
	r.checkCard(ev)
}

// checkCard decides whether the card in may buy, and shows its balance or
// why not.
func (r *Register) checkCard(ev CardEvent) {
	rules := r.rules.Load()
	r.mode, r.noCashier, r.card = modeDone, false, CardView{} // until the card proves good
	if ev.Err != nil {
		r.log.Warn("card read failed", "err", ev.Err)
		r.refuse(msgReadFailed, msgRetry)
		return
	}
	if rules.RequireCashier && r.cashier == "" {
		r.log.Info("card refused: no cashier signed in", "card", ev.CardNo)
		r.noCashier = true
		r.refuse(msgNoCashier, msgSignInFirst)
		return
	}
	view, ok, err := r.journal.Card(ev.CardNo, r.now())
	switch {
	case err != nil:
		r.log.Error("card cache", "card", ev.CardNo, "err", err)
		r.refuse(msgReadFailed, msgRetry)
		return
	case !ok:
		r.log.Info("card refused: not issued", "card", ev.CardNo)
		r.refuse(msgNotIssued, msgSeeOffice)
		return
	}
	view = r.withPurse(view)
	switch view.Status {
	case wire.CardActive:
	case wire.CardFrozen:
		r.log.Info("card refused: frozen", "card", ev.CardNo)
		r.refuse(msgFrozen, msgSeeOffice)
		return
	case wire.CardLost:
		r.log.Warn("card refused: reported lost", "card", ev.CardNo)
		r.refuse(msgLost, msgKeepCard)
		return
	default:
		r.log.Info("card refused", "card", ev.CardNo, "status", view.Status)
		r.refuse(msgClosed, msgSeeOffice)
		return
	}
	if limit := r.dailyCount(rules); limit > 0 && view.TodayCount >= limit {
		r.log.Info("card refused: daily count reached", "card", ev.CardNo, "today", view.TodayCount, "limit", limit)
		r.refuse(msgDailyCount, fmt.Sprintf("今日已消费 %d 次", view.TodayCount))
		return
	}
	if l1, l2, reason, refused := r.serverRefusal(view, 0, r.now()); refused {
		r.log.Info("card refused by the server's rules", "card", ev.CardNo, "reason", reason)
		r.refuse(l1, l2)
		return
	}
	if !r.uplink.Online() {
		if l1, l2, refused := r.offlineRefusal(rules, view, 0); refused {
			r.log.Info("card refused offline", "card", ev.CardNo, "reason", l1+" "+l2)
			r.refuse(l1, l2)
			return
		}
	}
	r.card, r.mode = view, modeAmount
	r.showAmount()
}

// HandleKey handles one key press.
func (r *Register) HandleKey(k Key) { r.handleKey(k, time.Time{}) }

func (r *Register) handleKey(k Key, at time.Time) {
	r.cause = at
	switch r.mode {
	case modeAmount:
		r.amountKey(k)
	case modeVoid:
		r.voidKey(k)
	default:
		r.codeKey(k)
	}
}

// amountKey handles a key while the cashier keys the amount.
func (r *Register) amountKey(k Key) {
	switch k.Kind {
	case KeyDigit, KeyDot:
		c := k.Digit
		if k.Kind == KeyDot {
			c = '.'
		}
		if len(r.keyed) >= maxAmountKeys || (c == '.' && containsDot(r.keyed)) {
			r.log.Info("key ignored", "key", string(c), "amount", string(r.keyed))
			return
		}
		r.keyed = append(r.keyed, c)
	case KeyBackspace:
		if len(r.keyed) > 0 {
			r.keyed = r.keyed[:len(r.keyed)-1]
		}
	case KeyCancel:
		r.keyed = r.keyed[:0]
	case KeyPreset:
		rules := r.rules.Load()
		price, ok := r.preset(rules, r.now(), k.Preset)
		if !ok {
			r.log.Info("preset key without a meal now", "preset", k.Preset)
			r.show(Screen{Lines: []string{msgNoPreset, msgKeyAmount}, Beep: BeepRefusal})
			return
		}
		r.keyed = append(r.keyed[:0], price.String()...)
	case KeyConfirm:
		r.confirm()
		return
	default:
		return
	}
	r.showAmount()
}

func (r *Register) showAmount() {
	if len(r.keyed) == 0 {
		r.show(Screen{Lines: []string{"余额 " + r.card.Balance.String(), initial(r.card.Name) + " " + msgKeyAmount}})
		return
	}
	line2 := ""
	if a, err := money.Parse(string(r.keyed)); err == nil {
		if a > r.card.Balance {
			line2 = msgInsufficient + " " + r.card.Balance.String()
		} else {
			line2 = "余额 " + (r.card.Balance - a).String()
		}
	}
	r.show(Screen{Lines: []string{"消费 " + string(r.keyed), line2}})
}

// confirm makes the sale keyed, if the rules allow it.
func (r *Register) confirm() {
	if len(r.keyed) == 0 {
		return
	}
	rules := r.rules.Load()
	keyed := string(r.keyed)
	r.keyed = r.keyed[:0]
	amount, err := money.Parse(keyed)
	switch {
	case errors.Is(err, money.ErrPrecision):
		r.refuseAmount(keyed, err, msgBadAmount, "最多两位小数")
		return
	case err != nil:
		r.refuseAmount(keyed, err, msgBadAmount, "请重新输入")
		return
	case amount == 0:
		r.refuseAmount(keyed, nil, msgBadAmount, "须大于0")
		return
	case amount > r.maxSale(rules):
		r.refuseAmount(keyed, nil, "超出单笔限额", "限额 "+r.maxSale(rules).String())
		return
	case amount > r.card.Balance:
		r.refuseAmount(keyed, nil, msgInsufficient, "余额 "+r.card.Balance.String())
		return
	}
	if l1, l2, reason, refused := r.serverRefusal(r.card, amount, r.now()); refused {
		r.refuseAmount(keyed, fmt.Errorf("server rules: %s", reason), l1, l2)
		return
	}
	online := r.uplink.Online()
	if !online {
		if soft := r.offlineLimits(rules).SoftCount; soft > 0 && r.journal.Backlog().OfflineSales >= soft {
			// EMV-style: past the soft count, try the server first.
			r.show(Screen{Lines: []string{msgReaching, msgWait}})
			online = r.uplink.Reach(ReachWait)
			r.log.Info("offline soft count reached: tried the server", "soft_count", soft, "online", online)
		}
	}
	if !online {
		if l1, l2, refused := r.offlineRefusal(rules, r.card, amount); refused {
			r.refuseAmount(keyed, nil, l1, l2)
			return
		}
	}
	var flags journal.Flags
	if !online {
		flags |= journal.FlagOffline
	}
	now := r.now()
	sale := journal.Entry{
		Kind: journal.KindSale, Flags: flags, Time: now.UnixMilli(),
		CardNo: r.card.CardNo, Amount: amount, Balance: r.card.Balance, Cashier: r.cashierID(),
	}
	var seq uint64
	if signer := r.event.Signer; signer != nil {
		// The card signs the entry the sale will be: the register is the
		// journal's only writer, so the next seq is the last one plus one.
		last, _, err := r.journal.LastEntry()
		if err != nil {
			r.log.Error("journal: last entry", "err", err)
			r.refuseAmount(keyed, err, msgJournalError, msgCallAdmin)
			return
		}
		seq = last.Seq + 1
		ctx, cancel := context.WithTimeout(context.Background(), cardSignWait)
		sale.CardSig, err = signer.SignSale(ctx, card.Challenge{Terminal: r.cfg.Terminal, Seq: seq, Amount: amount, Time: sale.Time})
		cancel()
		if err != nil {
			r.log.Warn("card did not sign the sale: nothing recorded", "card", r.card.CardNo, "amount", amount.String(), "err", err)
			r.refuseAmount(keyed, err, msgReadFailed, msgRetry)
			return
		}
	}
	e, err := r.record(sale)
	if err != nil {
		r.log.Error("sale not recorded", "card", r.card.CardNo, "amount", amount.String(), "err", err)
		r.recordFailed(err)
		return
	}
	if seq != 0 && e.Seq != seq {
		r.log.Error("the card signed another seq than the entry's", "signed", seq, "seq", e.Seq)
	}
	r.lastSale.seq, r.lastSale.at = e.Seq, now
	after := r.card.Balance - amount
	r.writePurse(e, after, now)
	r.log.Info("sale", "seq", e.Seq, "card", e.CardNo, "amount", amount.String(), "balance", after.String(),
		"cashier", e.Cashier, "offline", !online, "card_signed", len(e.CardSig) > 0)
	r.card.Balance = after
	r.mode = modeDone
	r.rest = Screen{Lines: []string{msgSuccess + " 消费 " + amount.String(), "余额 " + after.String()}}
	r.show(Screen{Lines: r.rest.Lines, Beep: BeepSuccess})
	if r.cfg.Receipts != nil {
		r.cfg.Receipts.Wake()
	}
}

// offlineRefusal checks an offline sale of amount (0: just the card, before
// an amount is keyed) against the offline limits in force (offlineLimits),
// and says why it is refused.
func (r *Register) offlineRefusal(rules *Rules, view CardView, amount money.Fen) (line1, line2 string, refused bool) {
	o := r.offlineLimits(rules)
	if o.MaxAge > 0 {
		last := r.uplink.LastContact()
		age := r.now().Sub(last)
		if age < 0 {
			// The clock went back past the last contact: the age is
			// unknown, and the register does not refuse for it.
			r.log.Warn("clock is before the last contact with the server", "last_contact", last)
			age = 0
		}
		if last.IsZero() || age > o.MaxAge {
			return msgOfflineTooLong, msgGoOnline, true
		}
	}
	b := r.journal.Backlog()
	if o.HardCount > 0 && b.OfflineSales >= o.HardCount {
		return msgOfflineCount, msgGoOnline, true
	}
	if amount == 0 {
		return "", "", false
	}
	if o.MaxSale > 0 && amount > o.MaxSale {
		return msgOfflineLimit, "单笔 " + o.MaxSale.String(), true
	}
	left := money.Fen(-1) // what the limits leave, -1 for no limit
	if o.MaxCardDay > 0 {
		left = max(o.MaxCardDay-view.UnsettledToday, 0)
	}
	if o.MaxUnsynced > 0 {
		l := max(o.MaxUnsynced-b.Amount, 0)
		if left < 0 || l < left {
			left = l
		}
	}
	if left >= 0 && amount > left {
		return msgOfflineLimit, "离线可用 " + left.String(), true
	}
	return "", "", false
}

// codeKey handles a key while no amount is keyed: digits key a staff code.
func (r *Register) codeKey(k Key) {
	switch k.Kind {
	case KeyDigit:
		if len(r.keyed) >= MaxCodeLen {
			return
		}
		r.keyed = append(r.keyed, k.Digit)
		r.show(Screen{Lines: []string{"工号 " + strings.Repeat("*", len(r.keyed)), ""}})
	case KeyBackspace:
		if len(r.keyed) == 0 {
			return
		}
		r.keyed = r.keyed[:len(r.keyed)-1]
		if len(r.keyed) == 0 {
			r.show(r.rest)
			return
		}
		r.show(Screen{Lines: []string{"工号 " + strings.Repeat("*", len(r.keyed)), ""}})
	case KeyCancel:
		r.keyed = r.keyed[:0]
		r.show(r.rest)
	case KeyConfirm:
		if len(r.keyed) == 0 {
			return
		}
		code := string(r.keyed)
		r.keyed = r.keyed[:0]
		r.staffCode(code)
	default: // '.', presets: an amount keyed before the card
		if r.mode == modeIdle {
			r.keyed = r.keyed[:0]
			r.show(Screen{Lines: []string{msgInsertFirst, ""}, Beep: BeepRefusal})
		}
	}
}

// staffCode acts on a staff code: a supervisor's starts a void, a
// cashier's signs the cashier in (or out, if signed in already).
func (r *Register) staffCode(code string) {
	now := r.now()
	if now.Before(r.lockedUntil) {
		r.log.Warn("staff code while locked out")
		r.show(Screen{Lines: []string{msgTooManyCodes, msgTryLater}, Beep: BeepRefusal})
		return
	}
	rules := r.rules.Load()
	if s, ok := findStaff(rules.Supervisors, code); ok {
		r.wrongCodes = 0
		r.startVoid(rules, s)
		return
	}
	if s, ok := findStaff(rules.Cashiers, code); ok {
		r.wrongCodes = 0
		r.signIn(s)
		return
	}
	r.wrongCodes++
	r.log.Warn("wrong staff code", "in_a_row", r.wrongCodes)
	if r.wrongCodes >= maxWrongCodes {
		r.wrongCodes = 0
		r.lockedUntil = now.Add(codeLockout)
		r.show(Screen{Lines: []string{msgTooManyCodes, msgTryLater}, Beep: BeepRefusal})
		return
	}
	r.show(Screen{Lines: []string{msgWrongCode, "请重新输入"}, Beep: BeepRefusal})
}

// findStaff returns the staff member whose code is code, comparing every
// code in constant time.
func findStaff(list []Staff, code string) (Staff, bool) {
	var found Staff
	ok := false
	for _, s := range list {
		if subtle.ConstantTimeCompare([]byte(s.Code), []byte(code)) == 1 {
			found, ok = s, true
		}
	}
	return found, ok
}

// signIn signs cashier s in, or out if s is signed in already. A cashier
// signed out, by their own code or by another cashier's signing in, gets
// the report of their shift printed.
func (r *Register) signIn(s Staff) {
	var msg string
	if r.cashier == s.ID {
		r.signOut()
		msg = "已签退 " + s.ID
	} else {
		if r.cashier != "" {
			r.signOut()
		}
		r.cashier = s.ID
		r.beginShift()
		msg = s.ID + " 已签到"
		r.log.Info("cashier signed in", "cashier", s.ID)
	}
	if r.present && r.noCashier && r.cashier != "" {
		r.checkCard(r.event) // the card waiting for a cashier may buy now
		return
	}
	if r.mode == modeIdle {
		r.rest = r.idleScreen()
		r.show(Screen{Lines: []string{r.rest.Lines[0], msg}})
		return
	}
	r.show(Screen{Lines: []string{msg, ""}})
}

// signOut signs the cashier out and, if the register has a printer,
// queues the report of their shift: the journal's entries since the
// sign-in.
func (r *Register) signOut() {
	r.log.Info("cashier signed out", "cashier", r.cashier)
	r.cashier = ""
	if r.cfg.Receipts == nil {
		return
	}
	r.endShift(r.shift, r.now())
}

// beginShift starts the shift of the cashier just signed in and, with a
// printer and a journal that keeps it, records it, so that a register
// stopped before the sign-out still prints its report when it starts.
func (r *Register) beginShift() {
	r.shift = ShiftJob{Register: r.cfg.Terminal, Cashier: r.cashier, Start: r.now(), FirstSeq: r.lastSeq() + 1}
	if sj, ok := r.journal.(ShiftJournal); ok && r.cfg.Receipts != nil {
		if err := sj.BeginShift(r.shift); err != nil {
			r.log.Error("shift not recorded: its report will not print if the register stops first", "cashier", r.cashier, "err", err)
		}
	}
}

// endShift queues the report of shift s, begun with FirstSeq the next
// entry, ending at end with the journal's last entry.
func (r *Register) endShift(s ShiftJob, end time.Time) {
	s.End, s.Meals = end, r.rules.Load().Meals
	if last := r.lastSeq(); last >= s.FirstSeq {
		s.LastSeq = last
	} else {
		s.FirstSeq = 0
	}
	if err := r.cfg.Receipts.QueueShift(s); err != nil {
		r.log.Error("shift report not queued", "cashier", s.Cashier, "err", err)
	}
}

// lastSeq returns the journal's last seq, 0 if it cannot be read.
func (r *Register) lastSeq() uint64 {
	e, _, err := r.journal.LastEntry()
	if err != nil {
		r.log.Error("journal: last entry", "err", err)
	}
	return e.Seq
}

// startVoid shows the register's last sale for supervisor s to void.
func (r *Register) startVoid(rules *Rules, s Staff) {
	sale, ok := r.voidable(rules, s.ID)
	if !ok {
		return
	}
	r.voidSale, r.voidBy, r.voidBack = sale, s.ID, r.mode
	r.mode = modeVoid
	r.show(Screen{Lines: []string{"撤销 消费 " + sale.Amount.String(), "确认撤销 取消返回"}})
}

// voidable returns the sale supervisor may void now, or shows why there is
// none.
func (r *Register) voidable(rules *Rules, supervisor string) (journal.Entry, bool) {
	if rules.VoidWindow <= 0 {
		r.log.Info("void refused: voids are off", "supervisor", supervisor)
		r.show(Screen{Lines: []string{msgNoVoids, ""}, Beep: BeepRefusal})
		return journal.Entry{}, false
	}
	e, ok, err := r.journal.LastEntry()
	switch {
	case err != nil:
		r.log.Error("void: last entry", "err", err)
		r.show(Screen{Lines: []string{msgJournalError, msgCallAdmin}, Beep: BeepRefusal})
		return journal.Entry{}, false
	case !ok || e.Kind != journal.KindSale:
		r.log.Info("void refused: the last entry is not a sale", "supervisor", supervisor)
		r.show(Screen{Lines: []string{msgNothingToVoid, ""}, Beep: BeepRefusal})
		return journal.Entry{}, false
	}
	var age time.Duration
	if e.Seq == r.lastSale.seq {
		age = r.now().Sub(r.lastSale.at) // monotonic when the clock is time.Now
	} else {
		age = r.now().Sub(time.UnixMilli(e.Time))
	}
	if age < 0 || age > rules.VoidWindow {
		r.log.Info("void refused: too late", "supervisor", supervisor, "seq", e.Seq, "age", age.String())
		r.show(Screen{Lines: []string{msgVoidTooLate, "时限 " + shortDuration(rules.VoidWindow)}, Beep: BeepRefusal})
		return journal.Entry{}, false
	}
	return e, true
}

// voidKey handles a key while a supervisor decides on a void.
func (r *Register) voidKey(k Key) {
	switch k.Kind {
	case KeyCancel:
		r.mode = r.voidBack
		r.show(r.rest)
	case KeyConfirm:
		r.mode = r.voidBack
		r.recordVoid()
	}
}

// recordVoid records a void of r.voidSale, if it may still be voided.
func (r *Register) recordVoid() {
	rules := r.rules.Load()
	sale, ok := r.voidable(rules, r.voidBy)
	if !ok {
		return
	}
	if sale.Seq != r.voidSale.Seq {
		r.show(Screen{Lines: []string{msgNothingToVoid, ""}, Beep: BeepRefusal})
		return
	}
	now := r.now()
	before := money.Fen(0)
	if view, ok, err := r.journal.Card(sale.CardNo, now); err == nil && ok {
		before = view.Balance
	}
	online := r.uplink.Online()
	var flags journal.Flags
	if !online {
		flags |= journal.FlagOffline
	}
	e, err := r.record(journal.Entry{
		Kind: journal.KindVoid, Flags: flags, Time: now.UnixMilli(), CardNo: sale.CardNo,
		Amount: sale.Amount, Balance: before, Cashier: r.voidBy, VoidSeq: sale.Seq,
	})
	if err != nil {
		r.log.Error("void not recorded", "sale_seq", sale.Seq, "err", err)
		r.recordFailed(err)
		return
	}
	after := before + sale.Amount
	r.voidPurse(sale)
	r.log.Info("void", "seq", e.Seq, "sale_seq", sale.Seq, "card", sale.CardNo, "amount", sale.Amount.String(),
		"balance", after.String(), "supervisor", r.voidBy, "offline", !online)
	r.show(Screen{Lines: []string{"已撤销 " + sale.Amount.String(), "余额 " + after.String()}, Beep: BeepSuccess})
	if r.cfg.Receipts != nil {
		r.cfg.Receipts.Wake() // the void slip
	}
	switch {
	case r.present && r.event.CardNo == sale.CardNo:
		r.checkCard(r.event) // the diner may buy again at once
	case r.mode == modeIdle:
		r.rest = r.idleScreen()
	}
}

// record records e, noting a clock that went back, and wakes the uplink.
func (r *Register) record(e journal.Entry) (journal.Entry, error) {
	if e.Time < r.lastTime {
		r.log.Warn("clock went back: entry time is before the previous entry's; seq keeps the order",
			"time", time.UnixMilli(e.Time), "previous", time.UnixMilli(r.lastTime))
	}
	got, err := r.journal.Record(e)
	if err != nil {
		return got, err
	}
	r.lastTime = got.Time
	r.uplink.Wake()
	return got, nil
}

// recordFailed shows that an entry could not be recorded.
func (r *Register) recordFailed(err error) {
	if errors.Is(err, ErrJournalFull) {
		r.refuse(msgJournalFull, msgCallAdmin)
		return
	}
	r.refuse(msgRecordFailed, msgCallAdmin)
}

func (r *Register) refuseAmount(keyed string, err error, line1, line2 string) {
	r.log.Info("amount refused", "keyed", keyed, "reason", line1+" "+line2, "err", err)
	r.show(Screen{Lines: []string{line1, line2}, Beep: BeepRefusal})
}

// refuse shows why the card in cannot buy and waits for it to leave.
func (r *Register) refuse(line1, line2 string) {
	r.mode = modeDone
	r.rest = Screen{Lines: []string{line1, line2}}
	r.show(Screen{Lines: r.rest.Lines, Beep: BeepRefusal})
}

func (r *Register) idleScreen() Screen {
	b := r.journal.Backlog()
	status := ""
	switch {
	case !r.uplink.Online():
		status = fmt.Sprintf("%s 待传 %d", msgOffline, b.Entries)
	case b.Entries > 0:
		status = fmt.Sprintf("待传 %d", b.Entries)
	}
	top := msgInsertCard
	if r.rules.Load().RequireCashier && r.cashier == "" {
		top = msgSignIn
	}
	return Screen{Lines: []string{top, status}}
}

func (r *Register) cashierID() string {
	if r.cashier != "" {
		return r.cashier
	}
	return r.cfg.Cashier
}

func (r *Register) now() time.Time { return r.cfg.Now() }

func (r *Register) show(s Screen) {
	err := r.display.Show(s)
	if err != nil {
		r.log.Error("display", "err", err)
	} else if r.cfg.Shown != nil {
		r.cfg.Shown(s, r.cause)
	}
	if r.cfg.Beeper != nil && s.Beep != BeepNone {
		if err := r.cfg.Beeper.Beep(s.Beep); err != nil {
			r.log.Warn("beep", "beep", s.Beep.String(), "err", err)
		}
	}
}

// initial returns the first character of a name followed by '*': the
// display shows who the card belongs to without showing the name.
func initial(name string) string {
	if name == "" {
		return ""
	}
	c, _ := utf8.DecodeRuneInString(name)
	return string(c) + "*"
}

func containsDot(b []byte) bool {
	for _, c := range b {
		if c == '.' {
			return true
		}
	}
	return false
}

// shortDuration writes a void window as the display shows it: "5 分钟", "90 秒".
func shortDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d 分钟", d/time.Minute)
	}
	return fmt.Sprintf("%d 秒", d/time.Second)
}

// What the customer display says. Every line fits a 20-column GBK display
// (a Chinese character takes two columns).
const (
	msgInsertCard     = "请刷卡"
	msgSignIn         = "请签到"
	msgOffline        = "离线"
	msgKeyAmount      = "请输入金额"
	msgSuccess        = "成功"
	msgInsufficient   = "余额不足"
	msgFrozen         = "卡已冻结"
	msgLost           = "挂失卡"
	msgKeepCard       = "请留卡"
	msgClosed         = "卡已注销"
	msgNotIssued      = "未开卡"
	msgSeeOffice      = "请到管理中心"
	msgReadFailed     = "读卡失败"
	msgRetry          = "请重新刷卡"
	msgDailyCount     = "超出今日次数"
	msgNoCashier      = "收银员未签到"
	msgSignInFirst    = "请先签到"
	msgBadAmount      = "金额无效"
	msgNoPreset       = "无此套餐"
	msgInsertFirst    = "请先刷卡"
	msgReaching       = "正在联网"
	msgWait           = "请稍候"
	msgOfflineTooLong = "离线时间过长"
	msgOfflineCount   = "离线笔数已满"
	msgOfflineLimit   = "超出离线限额"
	msgGoOnline       = "请联网后消费"
	msgRecordFailed   = "记录失败"
	msgJournalFull    = "存储空间已满"
	msgJournalError   = "记录读取失败"
	msgCallAdmin      = "请联系管理员"
	msgWrongCode      = "工号无效"
	msgTooManyCodes   = "错误次数过多"
	msgTryLater       = "请稍后再试"
	msgNoVoids        = "不允许撤销"
	msgNothingToVoid  = "无可撤销交易"
	msgVoidTooLate    = "已超撤销时限"
)
