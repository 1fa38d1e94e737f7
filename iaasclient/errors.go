package iaasclient

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable error code of the IaaS API. Callers branch on codes (through the
// sentinels below and errors.Is), never on message text.
type Code string

const (
	CodeResourceNotFound            Code = "ResourceNotFound"
	CodeResourceInUse               Code = "ResourceInUse"
	CodeLimitExceeded               Code = "LimitExceeded"
	CodeRequestLimitExceeded        Code = "RequestLimitExceeded"
	CodeInvalidParameter            Code = "InvalidParameter"
	CodeUnauthorizedOperation       Code = "UnauthorizedOperation"
	CodeIdempotentParameterMismatch Code = "IdempotentParameterMismatch"
	CodeInternalError               Code = "InternalError"
)

// Sentinels for errors.Is. An *Error matches the sentinel of its code.
var (
	ErrNotFound                    = errors.New(string(CodeResourceNotFound))
	ErrInUse                       = errors.New(string(CodeResourceInUse))
	ErrLimitExceeded               = errors.New(string(CodeLimitExceeded))
	ErrThrottled                   = errors.New(string(CodeRequestLimitExceeded))
	ErrInvalidParameter            = errors.New(string(CodeInvalidParameter))
	ErrUnauthorized                = errors.New(string(CodeUnauthorizedOperation))
	ErrIdempotentParameterMismatch = errors.New(string(CodeIdempotentParameterMismatch))
	ErrInternal                    = errors.New(string(CodeInternalError))
)

var sentinelByCode = map[Code]error{
	CodeResourceNotFound:            ErrNotFound,
	CodeResourceInUse:               ErrInUse,
	CodeLimitExceeded:               ErrLimitExceeded,
	CodeRequestLimitExceeded:        ErrThrottled,
	CodeInvalidParameter:            ErrInvalidParameter,
	CodeUnauthorizedOperation:       ErrUnauthorized,
	CodeIdempotentParameterMismatch: ErrIdempotentParameterMismatch,
	CodeInternalError:               ErrInternal,
}

// statusByCode is the HTTP status the API answers with for each code.
var statusByCode = map[Code]int{
	CodeResourceNotFound:            http.StatusNotFound,
	CodeResourceInUse:               http.StatusConflict,
	CodeLimitExceeded:               http.StatusBadRequest,
	CodeRequestLimitExceeded:        http.StatusTooManyRequests,
	CodeInvalidParameter:            http.StatusBadRequest,
	CodeUnauthorizedOperation:       http.StatusForbidden,
	CodeIdempotentParameterMismatch: http.StatusConflict,
	CodeInternalError:               http.StatusInternalServerError,
}

// Error is the one error shape of the API: {code, message, requestId}.
type Error struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"`
}

func (e *Error) Error() string {
	if e.RequestID != "" {
		return fmt.Sprintf("%s: %s (request %s)", e.Code, e.Message, e.RequestID)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is makes errors.Is(err, ErrNotFound) and friends work on *Error.
func (e *Error) Is(target error) bool {
	s, ok := sentinelByCode[e.Code]
	return ok && s == target
}

// HTTPStatus is the status code the API uses for this error.
func (e *Error) HTTPStatus() int {
	if s, ok := statusByCode[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// KnownCode reports whether c is one of the stable codes.
func KnownCode(c Code) bool {
	_, ok := sentinelByCode[c]
	return ok
}

// ErrorEnvelope is the body of every failed response.
type ErrorEnvelope struct {
	Error *Error `json:"error"`
}

// CodeOf returns the API code carried by err, or "" if err is not (or wraps no) *Error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
