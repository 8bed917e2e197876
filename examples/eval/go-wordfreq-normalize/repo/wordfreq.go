// Package wordfreq counts words in text.
package wordfreq

import "strings"

// Count returns how many times each word occurs in text, words being separated by white space.
func Count(text string) map[string]int {
	counts := map[string]int{}
	for _, w := range strings.Fields(text) {
		counts[w]++
	}
	return counts
}
