package csi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// codeOf is the one place where IaaS errors become gRPC codes. It branches on the
// sentinels with errors.Is, never on message text. RPCs that give an IaaS code a
// different meaning (ControllerUnpublish reading ResourceInUse) decide before calling it.
func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return s.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, iaasclient.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, iaasclient.ErrInUse):
		return codes.FailedPrecondition
	case errors.Is(err, iaasclient.ErrLimitExceeded):
		return codes.ResourceExhausted
	case errors.Is(err, iaasclient.ErrThrottled):
		// The client already retried within its budget; Unavailable tells the sidecar
		// to back off and try again rather than give up.
		return codes.Unavailable
	case errors.Is(err, iaasclient.ErrInvalidParameter):
		return codes.InvalidArgument
	case errors.Is(err, iaasclient.ErrUnauthorized):
		return codes.PermissionDenied
	case errors.Is(err, iaasclient.ErrIdempotentParameterMismatch):
		return codes.AlreadyExists
	default:
		return codes.Internal
	}
}

// toStatus turns err into a gRPC status error whose message says what was being done.
func toStatus(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return err
	}
	return status.Errorf(codeOf(err), "%s: %v", fmt.Sprintf(format, args...), err)
}
