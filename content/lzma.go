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

// lzmaDec is the decoder's state: the probabilities and the last
// distances, kept across the chunks of an LZMA2 stream.
type lzmaDec struct {
	lc, lp, pb                       int
	lit                              []uint16
	isMatch, isRep0Long              [lzmaStates << 4]uint16
	isRep, isRepG0, isRepG1, isRepG2 [lzmaStates]uint16
	posSlot                          [lzmaLenToState][1 << 6]uint16
	posDec                           [1 + lzmaFullDist - lzmaEndPosIdx]uint16
	align                            [1 << lzmaAlignBits]uint16
	lenDec, repLen                   lzmaLen
	state, rep0, rep1, rep2, rep3    uint32
}

// setProps takes the lc/lp/pb byte of the properties.
func (d *lzmaDec) setProps(p byte) error {
	if p >= 9*5*5 {
		return errLZMA
	}
	lc, lp, pb := int(p%9), int(p/9%5), int(p/45)
	if lc+lp > 4 {
		// The literal tables grow as 0x300 << (lc+lp): refuse what
		// LZMA2 refuses too (7-Zip writes lc=3, lp=0), so a hostile
		// header cannot make us allocate 6 MB for each attempt.
		return errLZMA
	}
	d.lc, d.lp, d.pb = lc, lp, pb
	if n := 0x300 << (lc + lp); cap(d.lit) >= n {
		d.lit = d.lit[:n]
	} else {
		d.lit = make([]uint16, n)
	}
	return nil
}

// reset sets the probabilities and the state to their start.
func (d *lzmaDec) reset() {
	fill(d.lit)
	fill(d.isMatch[:])
	fill(d.isRep0Long[:])
	fill(d.isRep[:])
	fill(d.isRepG0[:])
	fill(d.isRepG1[:])
	fill(d.isRepG2[:])
	for i := range d.posSlot {
		fill(d.posSlot[i][:])
	}
	fill(d.posDec[:])
	fill(d.align[:])
	d.lenDec.init()
	d.repLen.init()
	d.state, d.rep0, d.rep1, d.rep2, d.rep3 = 0, 0, 0, 0, 0
}

// lzmaDecode decodes an LZMA stream with the 5-byte coder properties
// (lc/lp/pb byte, dictionary size) to exactly size bytes (or up to an
// end marker). size is the caller's bound.
func lzmaDecode(props, data []byte, size int) ([]byte, error) {
	var d lzmaDec
	if len(props) < 1 || d.setProps(props[0]) != nil {
		return nil, errLZMA
	}
	d.reset()
	r := &rangeDec{b: data}
	r.init()
	// The output grows as it is decoded: a header that claims 4 MiB and
	// is corrupt after 64 bytes costs what it decoded, not its claim.
	out := make([]byte, 0, min(size, 4*len(data)+64))
	out, _, err := d.decode(r, out, size, 0)
	return out, err
}

// decode appends to out up to size bytes (or an end marker: end true).
// The dictionary is out[dict:]: no match reaches before it, and
// positions count from it.
func (d *lzmaDec) decode(r *rangeDec, out []byte, size, dict int) (_ []byte, end bool, _ error) {
	lc := d.lc
	pbMask, lpMask := uint32(1)<<d.pb-1, uint32(1)<<d.lp-1
	state, rep0, rep1, rep2, rep3 := d.state, d.rep0, d.rep1, d.rep2, d.rep3
	defer func() { d.state, d.rep0, d.rep1, d.rep2, d.rep3 = state, rep0, rep1, rep2, rep3 }()
	for len(out) < size && !r.bad {
		n := uint32(len(out) - dict)
		posState := n & pbMask
		if r.bit(&d.isMatch[state<<4+posState]) == 0 {
			var prev uint32
			if n > 0 {
				prev = uint32(out[len(out)-1])
			}
			ls := (n&lpMask)<<lc + prev>>(8-lc)
			probs := d.lit[0x300*ls : 0x300*(ls+1)]
			sym := uint32(1)
			if state >= 7 && rep0 < n {
				match := uint32(out[uint32(len(out))-rep0-1])
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
		if r.bit(&d.isRep[state]) != 0 {
			if n == 0 {
				return out, false, errLZMA
			}
			if r.bit(&d.isRepG0[state]) == 0 {
				if r.bit(&d.isRep0Long[state<<4+posState]) == 0 {
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					if rep0 >= n {
						return out, false, errLZMA
					}
					out = append(out, out[uint32(len(out))-rep0-1])
					continue
				}
			} else {
				var dist uint32
				if r.bit(&d.isRepG1[state]) == 0 {
					dist = rep1
				} else {
					if r.bit(&d.isRepG2[state]) == 0 {
						dist = rep2
					} else {
						dist, rep3 = rep3, rep2
					}
					rep2 = rep1
				}
				rep1, rep0 = rep0, dist
			}
			length = d.repLen.decode(r, posState)
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		} else {
			rep3, rep2, rep1 = rep2, rep1, rep0
			length = d.lenDec.decode(r, posState)
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
			// The distance (LzmaSpec DecodeDistance).
			slot := r.tree(d.posSlot[min(length, lzmaLenToState-1)][:], 6)
			if slot < 4 {
				rep0 = slot
			} else {
				bits := int(slot>>1) - 1
				dist := (2 | slot&1) << bits
				if slot < lzmaEndPosIdx {
					dist += r.reverse(d.posDec[dist-slot:], bits)
				} else {
					dist += r.direct(bits-lzmaAlignBits) << lzmaAlignBits
					dist += r.reverse(d.align[:], lzmaAlignBits)
				}
				rep0 = dist
			}
			if rep0 == 0xffffffff { // end marker
				return out, true, nil
			}
		}
		if rep0 >= n {
			return out, false, errLZMA
		}
		for l := length + lzmaMatchMin; l > 0 && len(out) < size; l-- {
			out = append(out, out[uint32(len(out))-rep0-1])
		}
	}
	if r.bad {
		return out, false, errLZMA
	}
	return out, false, nil
}

// lzma2Decode decodes an LZMA2 stream (xz's and 7-Zip's coder 21): a
// sequence of chunks, each uncompressed (control 1, 2) or LZMA (0x80 |
// reset mode << 5 | bits 16–20 of the unpacked size − 1), ended by a 0.
// An LZMA chunk gives its unpacked and packed sizes and starts a new
// range coder; its reset mode keeps the state (0), resets it (1), with
// new properties (2), and the dictionary too (3). Like lzmaDecode, the
// whole output is the dictionary and is bounded by size.
func lzma2Decode(data []byte, size int) ([]byte, error) {
	var d lzmaDec
	out := make([]byte, 0, min(size, 4*len(data)+64))
	dict, started, props := 0, false, false
	for pos := 0; pos < len(data); {
		c := data[pos]
		pos++
		if c == 0 {
			return out, nil
		}
		if c < 0x80 && c > 2 || pos+2 > len(data) {
			return out, errLZMA
		}
		usize := (int(c&0x1f)<<16 | int(data[pos])<<8 | int(data[pos+1])) + 1
		pos += 2
		if c < 0x80 {
			usize = (int(data[pos-2])<<8 | int(data[pos-1])) + 1 // 16 bits
			if c == 1 {
				dict, started = len(out), true
			}
			if !started || pos+usize > len(data) || len(out)+usize > size {
				return out, errLZMA
			}
			out = append(out, data[pos:pos+usize]...)
			pos += usize
			continue
		}
		if pos+2 > len(data) {
			return out, errLZMA
		}
		psize := (int(data[pos])<<8 | int(data[pos+1])) + 1
		pos += 2
		mode := c >> 5 & 3
		if mode == 3 {
			dict, started = len(out), true
		}
		if mode >= 2 {
			if pos >= len(data) || d.setProps(data[pos]) != nil {
				return out, errLZMA
			}
			pos++
			props = true
		}
		if !started || !props || pos+psize > len(data) || len(out)+usize > size {
			return out, errLZMA
		}
		if mode >= 1 {
			d.reset()
		}
		r := &rangeDec{b: data[pos : pos+psize]}
		r.init()
		want := len(out) + usize
		var end bool
		var err error
		if out, end, err = d.decode(r, out, want, dict); err != nil || end || len(out) != want {
			return out, errLZMA
		}
		pos += psize
	}
	return out, errLZMA // no end byte
}
