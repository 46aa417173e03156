package content

import "errors"

// An LZMA decoder (the LZMA1 format of 7-Zip, as in Igor Pavlov's
// LzmaSpec.cpp reference), only for what 7z archives compress their
// headers with: the whole output is kept in memory and serves as the
// dictionary, so it is bounded by the caller's size, never by the
// stream.

var errLZMA = errors.New("lzma: corrupt data")

const (
	lzmaProbInit   = 1 << 10
	lzmaStates     = 12
	lzmaPosStates  = 1 << 4
	lzmaEndPosIdx  = 14
	lzmaFullDist   = 1 << (lzmaEndPosIdx >> 1)
	lzmaAlignBits  = 4
	lzmaMatchMin   = 2
	lzmaLenToState = 4
)

type rangeDec struct {
	b         []byte
	pos       int
	rng, code uint32
	bad       bool
}

func (r *rangeDec) next() uint32 {
	if r.pos >= len(r.b) {
		r.bad = true
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return uint32(c)
}

func (r *rangeDec) init() {
	r.rng = 0xffffffff
	if r.next() != 0 {
		r.bad = true
	}
	for range 4 {
		r.code = r.code<<8 | r.next()
	}
	if r.code == r.rng {
		r.bad = true
	}
}

func (r *rangeDec) normalize() {
	if r.rng < 1<<24 {
		r.rng <<= 8
		r.code = r.code<<8 | r.next()
	}
}

func (r *rangeDec) bit(p *uint16) uint32 {
	v := uint32(*p)
	bound := (r.rng >> 11) * v
	var s uint32
	if r.code < bound {
		v += ((1 << 11) - v) >> 5
		r.rng = bound
	} else {
		v -= v >> 5
		r.code -= bound
		r.rng -= bound
		s = 1
	}
	*p = uint16(v)
	r.normalize()
	return s
}

func (r *rangeDec) direct(n int) uint32 {
	var res uint32
	for ; n > 0; n-- {
		r.rng >>= 1
		r.code -= r.rng
		t := 0 - (r.code >> 31)
		r.code += r.rng & t
		if r.code == r.rng {
			r.bad = true
		}
		r.normalize()
		res = res<<1 + t + 1
	}
	return res
}

func (r *rangeDec) tree(probs []uint16, bits int) uint32 {
	m := uint32(1)
	for range bits {
		m = m<<1 + r.bit(&probs[m])
	}
	return m - 1<<bits
}

func (r *rangeDec) reverse(probs []uint16, bits int) uint32 {
	m, sym := uint32(1), uint32(0)
	for i := range bits {
		b := r.bit(&probs[m])
		m = m<<1 + b
		sym |= b << i
	}
	return sym
}

type lzmaLen struct {
	choice, choice2 uint16
	low, mid        [lzmaPosStates][1 << 3]uint16
	high            [1 << 8]uint16
}

func (l *lzmaLen) decode(r *rangeDec, posState uint32) uint32 {
	if r.bit(&l.choice) == 0 {
		return r.tree(l.low[posState][:], 3)
	}
	if r.bit(&l.choice2) == 0 {
		return 8 + r.tree(l.mid[posState][:], 3)
	}
	return 16 + r.tree(l.high[:], 8)
}

func fill(p []uint16) {
	for i := range p {
		p[i] = lzmaProbInit
	}
}

func (l *lzmaLen) init() {
	l.choice, l.choice2 = lzmaProbInit, lzmaProbInit
	for i := range l.low {
		fill(l.low[i][:])
		fill(l.mid[i][:])
	}
	fill(l.high[:])
}

// lzmaDecode decodes an LZMA stream with the 5-byte coder properties
// (lc/lp/pb byte, dictionary size) to exactly size bytes (or up to an
// end marker). size is the caller's bound.
func lzmaDecode(props, data []byte, size int) ([]byte, error) {
	if len(props) < 1 || props[0] >= 9*5*5 {
		return nil, errLZMA
	}
	d := int(props[0])
	lc, lp, pb := d%9, d/9%5, d/45
	if lc+lp > 4 {
		// The literal tables grow as 0x300 << (lc+lp): refuse what
		// LZMA2 refuses too (7-Zip writes lc=3, lp=0), so a hostile
		// header cannot make us allocate 6 MB for each attempt.
		return nil, errLZMA
	}
	lit := make([]uint16, 0x300<<(lc+lp))
	fill(lit)
	var (
		isMatch, isRep0Long              [lzmaStates << 4]uint16
		isRep, isRepG0, isRepG1, isRepG2 [lzmaStates]uint16
		posSlot                          [lzmaLenToState][1 << 6]uint16
		posDec                           [1 + lzmaFullDist - lzmaEndPosIdx]uint16
		align                            [1 << lzmaAlignBits]uint16
		lenDec, repLen                   lzmaLen
	)
	fill(isMatch[:])
	fill(isRep0Long[:])
	fill(isRep[:])
	fill(isRepG0[:])
	fill(isRepG1[:])
	fill(isRepG2[:])
	for i := range posSlot {
		fill(posSlot[i][:])
	}
	fill(posDec[:])
	fill(align[:])
	lenDec.init()
	repLen.init()

	r := &rangeDec{b: data}
	r.init()
	// The output grows as it is decoded: a header that claims 4 MiB and
	// is corrupt after 64 bytes costs what it decoded, not its claim.
	out := make([]byte, 0, min(size, 4*len(data)+64))
	var state, rep0, rep1, rep2, rep3 uint32
	pbMask, lpMask := uint32(1)<<pb-1, uint32(1)<<lp-1
	for len(out) < size && !r.bad {
		n := uint32(len(out))
		posState := n & pbMask
		if r.bit(&isMatch[state<<4+posState]) == 0 {
			var prev uint32
			if n > 0 {
				prev = uint32(out[n-1])
			}
			ls := (n&lpMask)<<lc + prev>>(8-lc)
			probs := lit[0x300*ls : 0x300*(ls+1)]
			sym := uint32(1)
			if state >= 7 && rep0 < n {
				match := uint32(out[n-rep0-1])
				for sym < 0x100 {
					mb := match >> 7 & 1
					match <<= 1
					b := r.bit(&probs[(1+mb)<<8+sym])
					sym = sym<<1 | b
					if mb != b {
						break
					}
				}
			}
			for sym < 0x100 {
				sym = sym<<1 | r.bit(&probs[sym])
			}
			out = append(out, byte(sym))
			switch {
			case state < 4:
				state = 0
			case state < 10:
				state -= 3
			default:
				state -= 6
			}
			continue
		}
		var length uint32
		if r.bit(&isRep[state]) != 0 {
			if n == 0 {
				return out, errLZMA
			}
			if r.bit(&isRepG0[state]) == 0 {
				if r.bit(&isRep0Long[state<<4+posState]) == 0 {
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					if rep0 >= n {
						return out, errLZMA
					}
					out = append(out, out[n-rep0-1])
					continue
				}
			} else {
				var dist uint32
				if r.bit(&isRepG1[state]) == 0 {
					dist = rep1
				} else {
					if r.bit(&isRepG2[state]) == 0 {
						dist = rep2
					} else {
						dist, rep3 = rep3, rep2
					}
					rep2 = rep1
				}
				rep1, rep0 = rep0, dist
			}
			length = repLen.decode(r, posState)
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		} else {
			rep3, rep2, rep1 = rep2, rep1, rep0
			length = lenDec.decode(r, posState)
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
			// The distance (LzmaSpec DecodeDistance).
			slot := r.tree(posSlot[min(length, lzmaLenToState-1)][:], 6)
			if slot < 4 {
				rep0 = slot
			} else {
				bits := int(slot>>1) - 1
				dist := (2 | slot&1) << bits
				if slot < lzmaEndPosIdx {
					dist += r.reverse(posDec[dist-slot:], bits)
				} else {
					dist += r.direct(bits-lzmaAlignBits) << lzmaAlignBits
					dist += r.reverse(align[:], lzmaAlignBits)
				}
				rep0 = dist
			}
			if rep0 == 0xffffffff { // end marker
				return out, nil
			}
		}
		if rep0 >= uint32(len(out)) {
			return out, errLZMA
		}
		for l := length + lzmaMatchMin; l > 0 && len(out) < size; l-- {
			out = append(out, out[uint32(len(out))-rep0-1])
		}
	}
	if r.bad {
		return out, errLZMA
	}
	return out, nil
}
