package tencentcloud

import (
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func strs(p []*string) []string {
	out := make([]string, 0, len(p))
	for _, s := range p {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// tcTime parses Tencent's timestamps (ISO 8601 in CVM, "2006-01-02 15:04:05" in VPC).
func tcTime(p *string) time.Time {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, str(p)); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

var sp, sps = common.StringPtr, common.StringPtrs

// pageSize is the documented maximum Limit of Tencent's Describe actions.
const pageSize = 100

// window turns our Page into Tencent's offset and limit: at most pageSize per call.
func window(offset, limit int) (int, int) {
	if limit <= 0 {
		limit = pageSize
	}
	return offset, min(limit, pageSize)
}
