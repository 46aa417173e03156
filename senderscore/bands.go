package senderscore

// The default bands of hamlet's filter ([senderscore] block_below,
// junk_below, good_above), which `hamlet doctor` also judges the outbound
// addresses by.
const (
	DefaultBlockBelow = 10 // scores at or below are rejected
	DefaultJunkBelow  = 70 // scores below are junk
	DefaultGoodAbove  = 90 // scores at or above are good
)

// Bands are how a filter reads a score.
type Bands struct {
	BlockBelow int // scores ≤ this are rejected; -1: none
	JunkBelow  int // scores < this (and above BlockBelow) are junk
	GoodAbove  int // scores ≥ this are good; 101: none
}

// DefaultBands are the filter's defaults.
func DefaultBands() Bands {
	return Bands{BlockBelow: DefaultBlockBelow, JunkBelow: DefaultJunkBelow, GoodAbove: DefaultGoodAbove}
}

// Band is where a score falls.
type Band int

// The bands, worst first.
const (
	Blocked Band = iota // rejected
	Junk                // counted as junk
	Neutral             // neither penalised nor rewarded
	Good                // rewarded
)

var bandNames = [...]string{"blocked", "junk", "neutral", "good"}

func (b Band) String() string {
	if b >= 0 && int(b) < len(bandNames) {
		return bandNames[b]
	}
	return "band?"
}

// Of returns the band of score (0–100).
func (b Bands) Of(score int) Band {
	switch {
	case score <= b.BlockBelow:
		return Blocked
	case score < b.JunkBelow:
		return Junk
	case score >= b.GoodAbove:
		return Good
	}
	return Neutral
}
