package tencentcloud

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

const (
	maxAttempts = 5
	backoffBase = 200 * time.Millisecond
	backoffCap  = 5 * time.Second
)

// call sends one SDK request: client-side rate limit, retries with full-jitter
// backoff on throttling and server errors, bounded by ctx, one metric per action.
// This SDK version takes no context, so a call that ctx gives up on finishes in the
// background (bounded by the HTTP timeout) while the caller returns at once.
func (c *Client) call(ctx context.Context, req tchttp.Request, resp tchttp.Response) (err error) {
	op := req.GetAction()
	start := time.Now()
	code := ic.ResultSuccess
	defer func() { c.obs.ObserveCall(op, code, time.Since(start)) }()
	for attempt := 1; ; attempt++ {
		if werr := c.lim.Wait(ctx); werr != nil {
			code = ic.ResultCanceled
			return werr
		}
		done := make(chan error, 1)
		go func() { done <- c.sdk.Send(req, resp) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			code = ic.ResultCanceled
			return ctx.Err()
		}
		if err == nil {
			code = ic.ResultSuccess
			return nil
		}
		code = resultCode(err)
		if !retryable(err) || attempt == maxAttempts {
			return mapError(err)
		}
		if code == string(ic.CodeRequestLimitExceeded) {
			c.obs.ObserveThrottled(op)
		}
		c.obs.ObserveRetry(op)
		d := backoffCap
		if e := backoffBase << (attempt - 1); e < backoffCap {
			d = e
		}
		select {
		case <-time.After(rand.N(d)):
		case <-ctx.Done():
			code = ic.ResultCanceled
			return ctx.Err()
		}
	}
}

func resultCode(err error) string {
	var se *tcerr.TencentCloudSDKError
	if errors.As(err, &se) {
		if se.Code == codeNetwork {
			return ic.ResultTransportError
		}
		return string(mapCode(se.Code))
	}
	return ic.ResultTransportError
}
