package semver

import "testing"

func TestHeldOutSemverOrder(t *testing.T) {
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"}
	for i := 0; i+1 < len(order); i++ {
		if got := Compare(order[i], order[i+1]); got != -1 {
			t.Errorf("Compare(%q, %q) = %d, want -1", order[i], order[i+1], got)
		}
		if got := Compare(order[i+1], order[i]); got != 1 {
			t.Errorf("Compare(%q, %q) = %d, want 1", order[i+1], order[i], got)
		}
	}
}
