// Package crm is Switchboard's domain: its types, the service interfaces the
// rest of the gateway calls, the error vocabulary and the pure policy code
// (roles to permissions, field visibility). It imports nothing from the
// database, GraphQL or HTTP worlds, so every rule here can be read and tested
// on its own.
package crm

import (
	"errors"
	"fmt"
	"time"
)

// Code is one word of the error vocabulary that clients see as
// extensions.code. The set is part of the wire contract: add to it, never
// rename.
type Code string

// The error vocabulary (DESIGN.md, invariant 8).
const (
	CodeUnauthenticated      Code = "UNAUTHENTICATED"
	CodeSessionEvicted       Code = "SESSION_EVICTED"
	CodeSessionExpired       Code = "SESSION_EXPIRED"
	CodeSecondFactorRequired Code = "SECOND_FACTOR_REQUIRED"
	CodeForbidden            Code = "FORBIDDEN"
	CodeNotFound             Code = "NOT_FOUND"
	CodeBadUserInput         Code = "BAD_USER_INPUT"
	CodeConflict             Code = "CONFLICT"
	CodeRateLimited          Code = "RATE_LIMITED"
	CodeIPNotAllowed         Code = "IP_NOT_ALLOWED"
	CodeAccountDeactivated   Code = "ACCOUNT_DEACTIVATED"
	CodeBadRequest           Code = "BAD_REQUEST" // a malformed request envelope, refused by the gateway before GraphQL runs
	CodeInternal             Code = "INTERNAL"
	// CodeCursorExpired: a subscription's cursor is older than the
	// retention, or too far behind to replay; the client refetches.
	CodeCursorExpired Code = "CURSOR_EXPIRED"
	// CodeTooManySubscriptions: a connection or a user holds the most
	// subscriptions of a kind they may.
	CodeTooManySubscriptions Code = "TOO_MANY_SUBSCRIPTIONS"
	// CodeSlowConsumer is the close reason of a stream that fell behind
	// what it was sent; it resumes from its cursor.
	CodeSlowConsumer Code = "SLOW_CONSUMER"
)

// Error is the one error type that carries a code and a message that is safe
// to show to the user. Anything that is not an *Error (or does not wrap one)
// is internal: its text is logged, never shown.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault, for BAD_USER_INPUT.
	Field string
	// RetryAfter says when to try again, for RATE_LIMITED.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted, user-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidInput reports bad input in one field.
func InvalidInput(field, format string, args ...any) *Error {
	return &Error{Code: CodeBadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound is what both a missing resource and one in another account answer,
// so that the existence of the latter does not leak.
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// Forbidden reports an action the caller's role does not allow.
func Forbidden(format string, args ...any) *Error {
	return Errorf(CodeForbidden, format, args...)
}

// RateLimited reports throttling with the wait before the next attempt.
func RateLimited(retryAfter time.Duration) *Error {
	return &Error{Code: CodeRateLimited, RetryAfter: retryAfter, Message: "too many attempts; try again later"}
}

// ErrorCode returns the code of err, or CodeInternal for anything that is not
// (and does not wrap) an *Error.
func ErrorCode(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool {
	return err != nil && ErrorCode(err) == code
}
