package iaassim

import (
	"cmp"
	"slices"
)

func sortBy[T any, K cmp.Ordered](s []T, key func(T) K) {
	slices.SortFunc(s, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
}

// sortedValues returns the map's values ordered by key (ids), for stable pages.
func sortedValues[T any](m map[string]*T, keep func(*T) bool) []*T {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if keep == nil || keep(v) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

const gib = int64(1) << 30
