package terminal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/fanka/fanka/shared/journal"
	"github.com/fanka/fanka/shared/money"
	"github.com/fanka/fanka/shared/wire"
)

// Journal is where the register records sales and looks up cards.
type Journal interface {
	// Record completes e (register id, seq, previous hash, signature) and
	// makes it durable before returning it. On error nothing is recorded.
	Record(e journal.Entry) (journal.Entry, error)
	// Card returns the register's view of a card at time now, and false for
	// a card the server never told it about.
	Card(cardNo string, now time.Time) (CardView, bool, error)
	// Pending returns how many entries wait to be settled, and their sum.
	Pending() (int, money.Fen)
}

// Uplink is the register's link to the server as the sale path sees it.
type Uplink interface {
	// Wake says a new entry waits to be sent. It never blocks.
	Wake()
	// Online reports whether the server link is up.
	Online() bool
}

// Config holds the register's sale rules.
type Config struct {
	// MaxSale is the largest amount one sale may have.
	MaxSale money.Fen
	// Cashier is recorded in every entry.
	Cashier string
	// Now is the register's clock.
	Now func() time.Time
	// Logger receives one line per sale and per refusal.
	Logger *slog.Logger
}

// DefaultMaxSale is the per-sale maximum when none is configured.
const DefaultMaxSale = 200 * money.Yuan

// maxAmountKeys bounds what the cashier can key: "99999999.99".
const maxAmountKeys = 11

type state uint8

const (
	stateIdle state = iota // waiting for a card
	stateCard              // a card is in: amount entry
	stateDone              // sale made or card refused: waiting for the card to leave
)

// Register is the sale state machine. Its Handle methods are not safe for
// concurrent use: Run calls them from one goroutine, in event order.
type Register struct {
	cfg     Config
	journal Journal
	display Display
	uplink  Uplink
	log     *slog.Logger

	state  state
	card   CardView
	amount []byte // keys as typed: digits and at most one dot
}

// NewRegister returns a register showing 请刷卡.
func NewRegister(cfg Config, j Journal, d Display, u Uplink) *Register {
	if cfg.MaxSale <= 0 {
		cfg.MaxSale = DefaultMaxSale
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Register{cfg: cfg, journal: j, display: d, uplink: u, log: cfg.Logger}
}

// Run feeds card events, keys and link changes into the register until ctx
// ends or a device fails for good. linkChanged may be nil.
func (r *Register) Run(ctx context.Context, reader CardReader, keypad Keypad, linkChanged <-chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cards := make(chan CardEvent)
	keys := make(chan Key)
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
			case keys <- k:
			case <-ctx.Done():
				return
			}
		}
	}()
	r.show(r.idleScreen())
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
			r.HandleKey(k)
		case <-linkChanged:
			if r.state == stateIdle {
				r.show(r.idleScreen())
			}
		}
	}
}

// HandleCard handles a card arriving or leaving.
func (r *Register) HandleCard(ev CardEvent) {
	if !ev.Present {
		r.state, r.amount, r.card = stateIdle, r.amount[:0], CardView{}
		r.show(r.idleScreen())
		return
	}
	r.amount = r.amount[:0]
	r.state = stateDone // until the card proves good
	if ev.Err != nil {
		r.log.Warn("card read failed", "err", ev.Err)
		r.refuse("读卡失败", "请重新刷卡")
		return
	}
	view, ok, err := r.journal.Card(ev.CardNo, r.cfg.Now())
	switch {
	case err != nil:
		r.log.Error("card cache", "card", ev.CardNo, "err", err)
		r.refuse("读卡失败", "请重新刷卡")
		return
	case !ok:
		r.log.Info("card refused: not issued", "card", ev.CardNo)
		r.refuse("未开卡", "请到管理中心")
		return
	}
	switch view.Status {
	case wire.CardActive:
	case wire.CardFrozen:
		r.log.Info("card refused: frozen", "card", ev.CardNo)
		r.refuse("卡已冻结", "请到管理中心")
		return
	case wire.CardLost:
		r.log.Warn("card refused: reported lost", "card", ev.CardNo)
		r.refuse("挂失卡", "请留卡")
		return
	default:
		r.log.Info("card refused", "card", ev.CardNo, "status", view.Status)
		r.refuse("卡已注销", "请到管理中心")
		return
	}
	r.card, r.state = view, stateCard
	r.show(Screen{Lines: []string{"余额 " + view.Balance.String(), initial(view.Name) + " 请输入金额"}})
}

// HandleKey handles one key press.
func (r *Register) HandleKey(k Key) {
	if r.state != stateCard {
		return // no card, or waiting for the card to leave
	}
	switch k.Kind {
	case KeyDigit, KeyDot:
		c := k.Digit
		if k.Kind == KeyDot {
			c = '.'
		}
		if len(r.amount) >= maxAmountKeys || (c == '.' && containsDot(r.amount)) {
			r.log.Info("key ignored", "key", string(c), "amount", string(r.amount))
			return
		}
		r.amount = append(r.amount, c)
	case KeyBackspace:
		if len(r.amount) > 0 {
			r.amount = r.amount[:len(r.amount)-1]
		}
	case KeyCancel:
		r.amount = r.amount[:0]
	case KeyConfirm:
		r.confirm()
		return
	default:
		return // preset keys: a later issue
	}
	r.showAmount()
}

func (r *Register) showAmount() {
	if len(r.amount) == 0 {
		r.show(Screen{Lines: []string{"余额 " + r.card.Balance.String(), initial(r.card.Name) + " 请输入金额"}})
		return
	}
	line2 := ""
	if a, err := money.Parse(string(r.amount)); err == nil {
		if a > r.card.Balance {
			line2 = "余额不足 " + r.card.Balance.String()
		} else {
			line2 = "余额 " + (r.card.Balance - a).String()
		}
	}
	r.show(Screen{Lines: []string{"消费 " + string(r.amount), line2}})
}

func (r *Register) confirm() {
	if len(r.amount) == 0 {
		return
	}
	keyed := string(r.amount)
	r.amount = r.amount[:0]
	amount, err := money.Parse(keyed)
	switch {
	case errors.Is(err, money.ErrPrecision):
		r.refuseAmount(keyed, err, "金额无效", "最多两位小数")
		return
	case err != nil:
		r.refuseAmount(keyed, err, "金额无效", "请重新输入")
		return
	case amount == 0:
		r.refuseAmount(keyed, nil, "金额无效", "须大于0")
		return
	case amount > r.cfg.MaxSale:
		r.refuseAmount(keyed, nil, "超出单笔限额", "限额 "+r.cfg.MaxSale.String())
		return
	case amount > r.card.Balance:
		r.refuseAmount(keyed, nil, "余额不足", "余额 "+r.card.Balance.String())
		return
	}
	var flags journal.Flags
	if !r.uplink.Online() {
		flags |= journal.FlagOffline
	}
	e, err := r.journal.Record(journal.Entry{
		Kind: journal.KindSale, Flags: flags, Time: r.cfg.Now().UnixMilli(),
		CardNo: r.card.CardNo, Amount: amount, Balance: r.card.Balance, Cashier: r.cfg.Cashier,
	})
	if err != nil {
		r.log.Error("sale not recorded", "card", r.card.CardNo, "amount", amount.String(), "err", err)
		r.refuse("记录失败", "请联系管理员")
		return
	}
	r.uplink.Wake()
	after := r.card.Balance - amount
	r.log.Info("sale", "seq", e.Seq, "card", e.CardNo, "amount", amount.String(), "balance", after.String(), "offline", flags&journal.FlagOffline != 0)
	r.card.Balance = after
	r.state = stateDone
	r.show(Screen{Lines: []string{"成功 消费 " + amount.String(), "余额 " + after.String()}, Beep: true})
}

func (r *Register) refuseAmount(keyed string, err error, line1, line2 string) {
	r.log.Info("amount refused", "keyed", keyed, "reason", line1+" "+line2, "err", err)
	r.show(Screen{Lines: []string{line1, line2}, Beep: true})
}

func (r *Register) refuse(line1, line2 string) {
	r.state = stateDone
	r.show(Screen{Lines: []string{line1, line2}, Beep: true})
}

func (r *Register) idleScreen() Screen {
	n, _ := r.journal.Pending()
	status := ""
	switch {
	case !r.uplink.Online():
		status = fmt.Sprintf("离线 待传 %d", n)
	case n > 0:
		status = fmt.Sprintf("待传 %d", n)
	}
	return Screen{Lines: []string{"请刷卡", status}}
}

func (r *Register) show(s Screen) {
	if err := r.display.Show(s); err != nil {
		r.log.Error("display", "err", err)
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
