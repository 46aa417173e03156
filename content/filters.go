package content

// The filters 7-Zip (and xz) put in front of a compressor: they make the
// data more compressible and are undone after decompressing. Both work
// in place on the whole output.

// bcjX86Decode undoes the x86 branch converter (7-Zip's BCJ, xz's
// --x86, start offset 0): the encoder rewrote the 32-bit operand of a
// CALL (E8) or JMP (E9) that looked like a near relative address (its
// top byte 00 or FF) into an absolute one, position + 5 + operand;
// decoding subtracts again. Which E8/E9 bytes count follows the
// encoder's rule exactly: mask remembers, as bits 1–3, the E8/E9 bytes
// of the last three positions that were not converted, and a candidate
// following some of them is left alone, or converted with its operand's
// top bytes re-checked, as the encoder did, so both sides agree.
func bcjX86Decode(b []byte) {
	// allowed[m] and byteOf[m] for m = mask >> 1 (a 3-bit history).
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	byteOf := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	near := func(c byte) bool { return c == 0 || c == 0xff }
	var mask uint32
	last := -5 // position of the previous E8/E9 looked at
	for i := 0; i+5 <= len(b); {
		if b[i]&0xfe != 0xe8 {
			i++
			continue
		}
		if gap := i - last; gap > 5 {
			mask = 0
		} else {
			for range gap {
				mask = mask & 0x77 << 1
			}
		}
		last = i
		top := b[i+4]
		if !near(top) || !allowed[mask>>1&7] || mask>>1 >= 0x10 {
			i++
			mask |= 1
			if near(top) {
				mask |= 0x10
			}
			continue
		}
		src := uint32(b[i+1]) | uint32(b[i+2])<<8 | uint32(b[i+3])<<16 | uint32(top)<<24
		var dst uint32
		for {
			dst = src - uint32(i+5)
			if mask == 0 {
				break
			}
			k := byteOf[mask>>1]
			if !near(byte(dst >> (24 - 8*k))) {
				break
			}
			src = dst ^ (1<<(32-8*k) - 1)
		}
		// 25 bits of address; the top byte is bit 24 repeated.
		b[i+1], b[i+2], b[i+3] = byte(dst), byte(dst>>8), byte(dst>>16)
		b[i+4] = 0 - byte(dst>>24&1)
		i += 5
		mask = 0
	}
}

// deltaDecode undoes the delta filter of distance dist (7-Zip's Delta,
// xz's --delta): each byte was stored as its difference from the byte
// dist before it (zero before the start).
func deltaDecode(b []byte, dist int) {
	for i := dist; i < len(b); i++ {
		b[i] += b[i-dist]
	}
}
