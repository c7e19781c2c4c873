// Package terminal is the register: the program on each cash register that
// reads the diner's card, takes the cashier's keys, shows the customer
// display, records every sale durably in a signed, hash-chained journal and
// streams that journal to the server.
//
// This package holds the register's domain: the sale state machine
// (Register), the rules it applies (Rules: limits, preset meal prices,
// staff codes, offline limits) and the small interfaces it consumes
// (CardReader, CardSigner, Keypad, Display, Journal, Uplink). The real devices live in pcsc/ and serial/, the journal in
// journal/, the server link in uplink/, and working virtual devices for tests
// and the simulator in virtual/.
package terminal
