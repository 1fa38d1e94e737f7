package iaasclient

import "time"

// Result codes an Observer sees besides the API's own codes.
const (
	// ResultSuccess is the code of a call that succeeded.
	ResultSuccess = "Success"
	// ResultTransportError is the code of a call whose last attempt got no HTTP answer.
	ResultTransportError = "TransportError"
	// ResultCanceled is the code of a call the caller's ctx ended.
	ResultCanceled = "Canceled"
	// OperationIdentity is the operation name of the metadata call.
	OperationIdentity = "Identity"
)

// Observer receives the metrics of every call, labelled by operation (the action
// name). Implementations must be safe for concurrent use and fast: they run on the
// caller's goroutine. iaasclient/metrics has a Prometheus implementation.
type Observer interface {
	// ObserveCall reports one finished call: its result code (ResultSuccess, an API
	// Code, ResultTransportError or ResultCanceled) and its duration, retries, waits
	// and client-side rate limiting included.
	ObserveCall(operation, code string, duration time.Duration)
	// ObserveThrottled reports one attempt the server throttled (RequestLimitExceeded).
	ObserveThrottled(operation string)
	// ObserveRetry reports one retry, whatever its reason.
	ObserveRetry(operation string)
}

type nopObserver struct{}

func (nopObserver) ObserveCall(string, string, time.Duration) {}
func (nopObserver) ObserveThrottled(string)                   {}
func (nopObserver) ObserveRetry(string)                       {}
