package tencentcloud

import (
	"errors"
	"strings"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// codeNetwork is the SDK's code for a request that never got an answer.
const codeNetwork = "ClientError.NetworkError"

// mapCode turns a Tencent Cloud error code into our stable code. It is the one place
// that knows Tencent's codes; it reads the code only, never the message. Order
// matters: "InvalidParameter.LBIdNotFound" is a missing resource, not a bad parameter.
func mapCode(code string) ic.Code {
	first, _, _ := strings.Cut(code, ".")
	switch {
	case first == "AuthFailure" || first == "UnauthorizedOperation" || first == "OperationDenied":
		return ic.CodeUnauthorizedOperation
	case strings.Contains(code, "NotFound") || first == "ResourceNotFound" || code == "InvalidInstanceId.NotFound":
		return ic.CodeResourceNotFound
	case first == "RequestLimitExceeded":
		return ic.CodeRequestLimitExceeded
	case first == "LimitExceeded" || first == "ResourceInsufficient" || strings.HasSuffix(code, "LimitExceeded"):
		return ic.CodeLimitExceeded
	case first == "ResourceInUse" || first == "ResourceBusy" || strings.HasSuffix(code, ".Busy") || strings.HasSuffix(code, "InUse"):
		return ic.CodeResourceInUse
	case code == "IdempotentParameterMismatch" || strings.HasSuffix(code, "ClientTokenConflict"):
		return ic.CodeIdempotentParameterMismatch
	case first == "InvalidParameter" || first == "InvalidParameterValue" || first == "MissingParameter" ||
		first == "UnknownParameter" || first == "InvalidFilter" || first == "UnsupportedOperation" ||
		first == "InvalidAction" || first == "UnsupportedRegion" || first == "InvalidRegion" ||
		strings.HasPrefix(first, "Invalid"):
		return ic.CodeInvalidParameter
	}
	// InternalError, FailedOperation, ResourceUnavailable and codes we do not know:
	// retryable server-side trouble.
	return ic.CodeInternalError
}

// mapError converts an SDK error into an *ic.Error (errors.Is works on it). The
// Tencent code stays in the message so an operator can look it up.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var se *tcerr.TencentCloudSDKError
	if !errors.As(err, &se) {
		return err
	}
	return &ic.Error{Code: mapCode(se.Code), Message: se.Code + ": " + se.Message, RequestID: se.RequestId}
}

// retryable: throttling, server errors and requests that never got an answer.
func retryable(err error) bool {
	var se *tcerr.TencentCloudSDKError
	if errors.As(err, &se) {
		if se.Code == codeNetwork {
			return true
		}
		c := mapCode(se.Code)
		return c == ic.CodeRequestLimitExceeded || c == ic.CodeInternalError
	}
	return false
}
