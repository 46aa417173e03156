package bayes

import (
	"math"
	"slices"

	"github.com/hamlet-mail/hamlet/store"
)

// Combining constants, as in SpamBayes and SpamAssassin (Robinson's
// "A Statistical Approach to the Spam Problem", Linux Journal 2003).
const (
	// robinsonS is the strength of the prior belief x for a token seen
	// rarely: f(w) = (s·x + n·p(w)) / (s + n).
	robinsonS = 0.45
	robinsonX = 0.5
	// minProbStrength: tokens whose f(w) is this close to 0.5 say nothing
	// and are left out.
	minProbStrength = 0.1
	// MaxDiscriminators is how many of the most significant tokens are
	// combined (SpamBayes's max_discriminators; SpamAssassin uses 150).
	MaxDiscriminators = 150
)

// TokenProb is Robinson's f(w) for a token learned from spam and ham
// messages out of nspam and nham learned: the spam frequency relative to
// the ham frequency, pulled towards 0.5 by the strength robinsonS when the
// token was seen in few messages.
func TokenProb(c store.BayesCounts, nspam, nham int64) float64 {
	n := float64(c.Spam) + float64(c.Ham)
	if n == 0 {
		return robinsonX
	}
	sf := float64(c.Spam) / math.Max(1, float64(nspam))
	hf := float64(c.Ham) / math.Max(1, float64(nham))
	p := sf / (sf + hf)
	return (robinsonS*robinsonX + n*p) / (robinsonS + n)
}

// chi2Q is the probability that a chi-squared variable with v degrees of
// freedom (v even) is at least x2: the series for even v,
// e^(-m) Σ_{i<v/2} m^i / i!, with m = x2/2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	sum := math.Exp(-m)
	term := sum
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return math.Min(sum, 1)
}

// Combine is Fisher's method as Robinson applies it: with n token
// probabilities p_i, S = 1 - chi2Q(-2 Σ ln(1-p_i), 2n) measures the
// evidence for spam and H = 1 - chi2Q(-2 Σ ln p_i, 2n) the evidence for
// ham; the result (1 + S - H)/2 is near 1 for spam, near 0 for ham, and
// near 0.5 when the evidence is weak or contradictory. No probabilities:
// 0.5.
func Combine(probs []float64) float64 {
	if len(probs) == 0 {
		return 0.5
	}
	// Sum logarithms: the products underflow for a few hundred tokens.
	var lnS, lnH float64
	for _, p := range probs {
		p = math.Min(math.Max(p, 1e-6), 1-1e-6)
		lnS += math.Log(1 - p)
		lnH += math.Log(p)
	}
	n := 2 * len(probs)
	s := 1 - chi2Q(-2*lnS, n)
	h := 1 - chi2Q(-2*lnH, n)
	return (1 + s - h) / 2
}

// Significant returns the probabilities of the at most max most
// significant tokens (farthest from 0.5), leaving out those within
// minProbStrength of it. Tokens equally far from 0.5 are common while few
// messages are learned (every token seen once in one class has the same
// f(w)); when the cut falls among them, the places left are shared
// between the spam side and the ham side of that group in proportion to
// their numbers, so that the order of the tokens never decides the
// verdict.
func Significant(counts []store.BayesCounts, nspam, nham int64, max int) []float64 {
	probs := make([]float64, 0, len(counts))
	for _, c := range counts {
		if c.Spam == 0 && c.Ham == 0 {
			continue
		}
		if p := TokenProb(c, nspam, nham); math.Abs(p-0.5) >= minProbStrength {
			probs = append(probs, p)
		}
	}
	if len(probs) <= max {
		return probs
	}
	// d is the strength of the max-th strongest token (a selection, not
	// a sort: thousands of tokens, 150 kept).
	st := make([]float64, len(probs))
	for i, p := range probs {
		st[i] = strength(p)
	}
	d := kthLargest(slices.Clone(st), max-1)
	out := make([]float64, 0, max)
	var spamTied, hamTied int
	for i, p := range probs {
		switch {
		case st[i] > d:
			out = append(out, p)
		case st[i] == d && p > 0.5:
			spamTied++
		case st[i] == d:
			hamTied++
		}
	}
	room := max - len(out)
	nSpam := min(int(math.Round(float64(room)*float64(spamTied)/float64(spamTied+hamTied))), spamTied)
	nHam := min(room-nSpam, hamTied)
	for i, p := range probs {
		if st[i] != d {
			continue
		}
		if p > 0.5 && nSpam > 0 {
			out = append(out, p)
			nSpam--
		} else if p < 0.5 && nHam > 0 {
			out = append(out, p)
			nHam--
		}
	}
	return out
}

// kthLargest returns the k-th largest value of a (from 0), reordering a
// (Hoare's selection).
func kthLargest(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		pivot := a[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for a[i] > pivot {
				i++
			}
			for a[j] < pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// strength is how far p is from 0.5, rounded to 1e-9 so that the two
// sides of a tie (0.5±d computed apart) compare equal.
func strength(p float64) float64 { return math.Round(math.Abs(p-0.5)*1e9) / 1e9 }
