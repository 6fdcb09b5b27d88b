package core

import (
	"errors"
	"fmt"

	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Code classifies an Error the way a client should react to it. Transports
// map it onto their own codes (Twirp: invalid_argument, not_found, ...).
type Code int

const (
	Internal Code = iota
	InvalidArgument
	NotFound
	AlreadyExists
	FailedPrecondition
	ResourceExhausted
	// Unavailable: the request may be retried (no leader, shutting down).
	Unavailable
	// DeadlineExceeded: the outcome is unknown.
	DeadlineExceeded
)

func (c Code) String() string {
	switch c {
	case InvalidArgument:
		return "invalid_argument"
	case NotFound:
		return "not_found"
	case AlreadyExists:
		return "already_exists"
	case FailedPrecondition:
		return "failed_precondition"
	case ResourceExhausted:
		return "resource_exhausted"
	case Unavailable:
		return "unavailable"
	case DeadlineExceeded:
		return "deadline_exceeded"
	default:
		return "internal"
	}
}

// Error is an error with a Code and, for invalid arguments, the request
// field at fault.
type Error struct {
	Code  Code
	Field string // proto field name, e.g. "visibility_timeout_seconds"; may be empty
	Msg   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// Errorf returns an *Error with no field.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// FieldError returns an InvalidArgument *Error naming field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: InvalidArgument, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns err's Code: Internal unless err wraps an *Error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// FromStatus converts a state machine Status into an error; nil on success.
func FromStatus(s *raftv1.Status) error {
	if s == nil || s.Code == raftv1.ErrorCode_ERROR_CODE_UNSPECIFIED {
		return nil
	}
	return &Error{Code: codeOfStatus(s.Code), Msg: s.Message}
}

func codeOfStatus(c raftv1.ErrorCode) Code {
	switch c {
	case raftv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT:
		return InvalidArgument
	case raftv1.ErrorCode_ERROR_CODE_NOT_FOUND:
		return NotFound
	case raftv1.ErrorCode_ERROR_CODE_ALREADY_EXISTS:
		return AlreadyExists
	case raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION:
		return FailedPrecondition
	case raftv1.ErrorCode_ERROR_CODE_RESOURCE_EXHAUSTED:
		return ResourceExhausted
	default:
		return Internal
	}
}
