package iaassim

import (
	"cmp"
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

func sortBy[T any, K cmp.Ordered](s []T, key func(T) K) {
	slices.SortFunc(s, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
}

// sortedValues returns the map's values ordered by key (ids); keep nil keeps all.
func sortedValues[T any](m map[string]*T, keep func(*T) bool) []*T {
	if keep == nil {
		keep = func(*T) bool { return true }
	}
	all, _ := validate.Select(m, keep, 0, len(m))
	return all
}

const gib = int64(1) << 30

func errf(code iaasclient.Code, format string, args ...any) *iaasclient.Error {
	return iaasclient.Errorf(code, format, args...)
}

// describePage returns what view makes of the page of the records of m that keep
// accepts (see validate.Select) and how many it accepts in all.
func describePage[R, T any](m map[string]*R, keep func(*R) bool, view func(*R) T, offset, limit int) ([]T, int) {
	sel, total := validate.Select(m, keep, offset, limit)
	page := make([]T, len(sel))
	for i, r := range sel {
		page[i] = view(r)
	}
	return page, total
}
