// Package semver compares semantic versions.
package semver

import (
	"strconv"
	"strings"
)

// Compare returns -1, 0 or 1 as version a is lower than, equal to or higher than b. Versions are
// MAJOR.MINOR.PATCH with an optional -PRERELEASE, which is ignored.
func Compare(a, b string) int {
	pa, pb := parts(a), parts(b)
	for i := 0; i < 3; i++ {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func parts(v string) [3]int {
	core, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "-")
	var out [3]int
	for i, p := range strings.SplitN(core, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}
