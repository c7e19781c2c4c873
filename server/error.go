package server

import (
	"errors"
	"fmt"
)

// Error codes. Each says what went wrong in terms a caller can act on; the
// admin API maps each to an HTTP status.
const (
	ECONFLICT     = "ECONFLICT"     // the request clashes with what exists (a used request id, a taken card number)
	EFORBIDDEN    = "EFORBIDDEN"    // authenticated, but not allowed
	EINTERNAL     = "EINTERNAL"     // a fault in the server: its message is not shown to clients
	EINVALID      = "EINVALID"      // the request is malformed or breaks a rule
	ENOTFOUND     = "ENOTFOUND"     // no such card, terminal, user…
	EUNAUTHORIZED = "EUNAUTHORIZED" // missing, wrong or expired credentials
)

// Error is an error with a code from the list above and a message for the
// person who made the request. Errors without a code are EINTERNAL.
type Error struct {
	Code    string
	Message string
	// Field names the request's field at fault, if one is ("max_sale",
	// "periods.1.end"): a form shows the message next to it.
	Field string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error about field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Message: fmt.Sprintf(format, args...), Field: field}
}

// ErrorField returns the Field of the first *Error in err's chain, "" if
// none.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorCode returns the code of the first *Error in err's chain, "" for a
// nil err and EINTERNAL for an error without one.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or
// "internal error" for any other error, whose text may hold details a
// client must not see.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
