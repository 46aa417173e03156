package bayes

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hamlet-mail/hamlet/store"
)

func near(a, b, eps float64) bool { return math.Abs(a-b) <= eps }

func TestTokenProb(t *testing.T) {
	tests := []struct {
		c           store.BayesCounts
		nspam, nham int64
		lo, hi      float64
	}{
		{store.BayesCounts{}, 100, 100, 0.5, 0.5},                  // unknown: x
		{store.BayesCounts{Spam: 10, Ham: 10}, 100, 100, 0.5, 0.5}, // as often in both
		{store.BayesCounts{Spam: 1}, 100, 100, 0.84, 0.85},         // one sighting: (0.45·0.5+1)/1.45
		{store.BayesCounts{Spam: 50}, 100, 100, 0.995, 1},          // strong
		{store.BayesCounts{Ham: 50}, 100, 100, 0, 0.005},
		// Frequencies, not counts: 10 of 1000 spam vs 10 of 100 ham is hammy.
		{store.BayesCounts{Spam: 10, Ham: 10}, 1000, 100, 0.09, 0.12},
	}
	for _, tc := range tests {
		p := TokenProb(tc.c, tc.nspam, tc.nham)
		if p < tc.lo || p > tc.hi {
			t.Errorf("TokenProb(%+v, %d, %d) = %.4f, want in [%v, %v]", tc.c, tc.nspam, tc.nham, p, tc.lo, tc.hi)
		}
	}
}

func TestChi2Q(t *testing.T) {
	tests := []struct {
		x2   float64
		v    int
		want float64
	}{
		{0, 2, 1},
		{2, 2, math.Exp(-1)},
		{4, 4, math.Exp(-2) * 3}, // e^-m (1 + m), m = 2
		{9.4877, 4, 0.05},        // the table's 95th percentile for 4 degrees
		{18.307, 10, 0.05},       // and for 10
		{100000, 300, 0},         // underflows to 0, not NaN
	}
	for _, tc := range tests {
		if got := chi2Q(tc.x2, tc.v); !near(got, tc.want, 1e-4) {
			t.Errorf("chi2Q(%v, %d) = %v, want %v", tc.x2, tc.v, got, tc.want)
		}
	}
}

func TestCombine(t *testing.T) {
	rep := func(p float64, n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = p
		}
		return s
	}
	tests := []struct {
		name   string
		probs  []float64
		lo, hi float64
	}{
		{"none", nil, 0.5, 0.5},
		{"all spammy", rep(0.99, 20), 0.999, 1},
		{"all hammy", rep(0.01, 20), 0, 0.001},
		{"contradictory", append(rep(0.99, 10), rep(0.01, 10)...), 0.49, 0.51},
		{"mildly spammy", rep(0.7, 5), 0.6, 0.9},
		{"many spammy beat a few hammy", append(rep(0.95, 30), rep(0.05, 3)...), 0.95, 1},
		{"150 extreme: no overflow", rep(1, 150), 0.999, 1},
		{"150 extreme ham: no overflow", rep(0, 150), 0, 0.001},
	}
	for _, tc := range tests {
		got := Combine(tc.probs)
		if math.IsNaN(got) || got < tc.lo || got > tc.hi {
			t.Errorf("%s: Combine = %v, want in [%v, %v]", tc.name, got, tc.lo, tc.hi)
		}
	}
	// Symmetric: mirrored evidence gives the mirrored probability.
	a := Combine([]float64{0.9, 0.8, 0.3, 0.99})
	b := Combine([]float64{0.1, 0.2, 0.7, 0.01})
	if !near(a, 1-b, 1e-9) {
		t.Errorf("not symmetric: %v vs 1-%v", a, b)
	}
}

func TestSignificant(t *testing.T) {
	counts := []store.BayesCounts{
		{},                  // unknown: left out
		{Spam: 5, Ham: 5},   // 0.5: left out
		{Spam: 6, Ham: 5},   // ~0.54: within minProbStrength, left out
		{Spam: 100},         // strong spam
		{Ham: 100},          // strong ham
		{Spam: 3},           // spam, weaker
		{Spam: 30, Ham: 10}, // 0.74
	}
	probs := Significant(counts, 100, 100, 10)
	if len(probs) != 4 {
		t.Fatalf("%d significant of 7, want 4: %v", len(probs), probs)
	}
	top := Significant(counts, 100, 100, 2)
	if len(top) != 2 || !(top[0] > 0.99 || top[0] < 0.01) || !(top[1] > 0.99 || top[1] < 0.01) {
		t.Errorf("top 2: %v, want the two strongest", top)
	}
}

// Tokens equally strong on both sides (seen once, in one class): the
// places left at the cut are shared in proportion, whatever their order.
func TestSignificantTies(t *testing.T) {
	var counts []store.BayesCounts
	for range 10 {
		counts = append(counts, store.BayesCounts{Ham: 100}) // strong ham
	}
	for range 120 {
		counts = append(counts, store.BayesCounts{Spam: 1}) // weak spam, listed first
	}
	for range 180 {
		counts = append(counts, store.BayesCounts{Ham: 1}) // as weak ham
	}
	for _, order := range []string{"spam first", "ham first"} {
		if order == "ham first" {
			slices.Reverse(counts)
		}
		probs := Significant(counts, 10, 10, 110)
		if len(probs) != 110 {
			t.Fatalf("%s: %d probabilities, want 110", order, len(probs))
		}
		var strong, spam, ham int
		for _, p := range probs {
			switch {
			case p < 0.1:
				strong++
			case p > 0.5:
				spam++
			default:
				ham++
			}
		}
		// 100 places for 300 tied tokens, 2 in 5 of them spam.
		if strong != 10 || spam != 40 || ham != 60 {
			t.Errorf("%s: %d strong, %d spam, %d ham; want 10, 40, 60", order, strong, spam, ham)
		}
		if p := Combine(probs); p >= 0.5 {
			t.Errorf("%s: combined %v: ham tokens outnumber spam tokens, want < 0.5", order, p)
		}
	}
}

func TestKthLargest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 7, 150, 1000} {
		a := make([]float64, n)
		for i := range a {
			a[i] = float64(r.IntN(n/2 + 1)) // with repeats
		}
		sorted := slices.Clone(a)
		slices.Sort(sorted)
		slices.Reverse(sorted)
		for _, k := range []int{0, n / 3, n - 1} {
			if got := kthLargest(slices.Clone(a), k); got != sorted[k] {
				t.Errorf("n=%d k=%d: %v, want %v", n, k, got, sorted[k])
			}
		}
	}
}

func TestVerdictThresholds(t *testing.T) {
	tests := []struct {
		r    Result
		name string
		mult float64
		opt  string
	}{
		{Result{Trained: false, Spam: 12, Ham: 250, Prob: 0.5}, SymUntrained, 0, "spam 12/200"},
		{Result{Trained: true, Prob: 0.5}, "", 0, ""},
		{Result{Trained: true, Prob: 0.54}, "", 0, ""}, // within 0.05 of 0.5
		{Result{Trained: true, Prob: 0.46}, "", 0, ""},
		{Result{Trained: true, Prob: 0.75}, SymSpam, 0.5, "75.00%"},
		{Result{Trained: true, Prob: 1}, SymSpam, 1, "100.00%"},
		{Result{Trained: true, Prob: 0.1}, SymHam, 0.8, "10.00%"},
		{Result{Trained: true, Prob: 0}, SymHam, 1, "0.00%"},
	}
	for _, tc := range tests {
		name, mult, opts := tc.r.Verdict(200)
		if name != tc.name || !near(mult, tc.mult, 1e-9) {
			t.Errorf("%+v: %q ×%v, want %q ×%v", tc.r, name, mult, tc.name, tc.mult)
		}
		if tc.opt != "" && (len(opts) == 0 || opts[0] != tc.opt) {
			t.Errorf("%+v: options %v, want %q first", tc.r, opts, tc.opt)
		}
	}
}
