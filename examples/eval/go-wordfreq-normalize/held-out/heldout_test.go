package wordfreq

import "testing"

func TestHeldOutSentence(t *testing.T) {
	got := Count("The cat. the CAT! A dog, a Dog?")
	want := map[string]int{"the": 2, "cat": 2, "a": 2, "dog": 2}
	if len(got) != len(want) {
		t.Fatalf("Count = %v", got)
	}
	for w, n := range want {
		if got[w] != n {
			t.Fatalf("Count[%q] = %d, want %d", w, got[w], n)
		}
	}
}

func TestHeldOutDigitsStay(t *testing.T) {
	if got := Count("route 66, Route 66."); got["66"] != 2 || got["route"] != 2 {
		t.Fatalf("Count = %v", got)
	}
}
