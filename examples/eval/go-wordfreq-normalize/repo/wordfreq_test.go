package wordfreq

import "testing"

func TestCountCountsRepeats(t *testing.T) {
	got := Count("a b a")
	if got["a"] != 2 || got["b"] != 1 {
		t.Fatalf("Count = %v", got)
	}
}

func TestCountEmpty(t *testing.T) {
	if got := Count("   "); len(got) != 0 {
		t.Fatalf("Count of blanks = %v", got)
	}
}
