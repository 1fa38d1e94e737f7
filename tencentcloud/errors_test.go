package tencentcloud

import (
	"errors"
	"testing"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Codes as documented in the API references of CVM, VPC, CLB and CBS.
func TestMapError(t *testing.T) {
	for code, want := range map[string]error{
		"InvalidInstanceId.NotFound":            ic.ErrNotFound,
		"ResourceNotFound":                      ic.ErrNotFound,
		"InvalidParameter.LBIdNotFound":         ic.ErrNotFound,
		"InvalidDiskId.NotFound":                ic.ErrNotFound,
		"InvalidSnapshotId.NotFound":            ic.ErrNotFound,
		"LimitExceeded":                         ic.ErrLimitExceeded,
		"LimitExceeded.RouteTableLimitExceeded": ic.ErrLimitExceeded,
		"LimitExceeded.InstanceAttachedDisk":    ic.ErrLimitExceeded,
		"ResourceInsufficient":                  ic.ErrLimitExceeded,
		"RequestLimitExceeded":                  ic.ErrThrottled,
		"RequestLimitExceeded.UinLimitExceeded": ic.ErrThrottled,
		"ResourceInUse":                         ic.ErrInUse,
		"ResourceBusy":                          ic.ErrInUse,
		"InvalidParameter":                      ic.ErrInvalidParameter,
		"InvalidParameterValue.Malformed":       ic.ErrInvalidParameter,
		"MissingParameter":                      ic.ErrInvalidParameter,
		"UnsupportedOperation":                  ic.ErrInvalidParameter,
		"UnsupportedRegion":                     ic.ErrInvalidParameter,
		"AuthFailure.SignatureFailure":          ic.ErrUnauthorized,
		"AuthFailure.SecretIdNotFound":          ic.ErrUnauthorized,
		"UnauthorizedOperation":                 ic.ErrUnauthorized,
		"InternalError":                         ic.ErrInternal,
		"FailedOperation":                       ic.ErrInternal,
		"SomethingNew.Entirely":                 ic.ErrInternal,
	} {
		err := mapError(tcerr.NewTencentCloudSDKError(code, "some message", "req-1"))
		if !errors.Is(err, want) {
			t.Errorf("%s -> %v, want %v", code, err, want)
		}
		var e *ic.Error
		if !errors.As(err, &e) || e.RequestID != "req-1" {
			t.Errorf("%s: request id lost: %#v", code, err)
		}
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[string]bool{
		"RequestLimitExceeded": true, "InternalError": true, codeNetwork: true,
		"ResourceNotFound": false, "InvalidParameter": false, "AuthFailure.SignatureFailure": false,
	} {
		if got := retryable(tcerr.NewTencentCloudSDKError(code, "", "")); got != want {
			t.Errorf("%s: retryable %v, want %v", code, got, want)
		}
	}
	if retryable(errors.New("plain")) {
		t.Error("a non-SDK error is not retryable")
	}
}
