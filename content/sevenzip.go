package content

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"unicode/utf16"
)

// The 7z reader lists the entries of a 7z archive from its header
// (7-Zip's 7zFormat.txt): a plain header (kHeader) is read as it is; an
// encoded header (kEncodedHeader, what 7-Zip writes by default) is
// decompressed when its coders are LZMA, LZMA2 or Copy, with an x86
// BCJ or Delta filter in front or not (up to 4 coders of one input and
// output each), within the message's inflate budget and max7zHeader; a
// header coded with AES-256 (7z -mhe) cannot be read: Encrypted and
// NamesHidden.

const (
	max7zHeader = 4 << 20 // decoded header bytes
	max7zItems  = 1 << 16 // folders, coders, streams declared

	k7zEnd             = 0x00
	k7zHeader          = 0x01
	k7zArchiveProps    = 0x02
	k7zAdditional      = 0x03
	k7zMainStreams     = 0x04
	k7zFilesInfo       = 0x05
	k7zPackInfo        = 0x06
	k7zUnpackInfo      = 0x07
	k7zSubStreams      = 0x08
	k7zSize            = 0x09
	k7zCRC             = 0x0a
	k7zFolder          = 0x0b
	k7zCodersUnpack    = 0x0c
	k7zNumUnpackStream = 0x0d
	k7zEmptyStream     = 0x0e
	k7zEmptyFile       = 0x0f
	k7zName            = 0x11
	k7zEncodedHeader   = 0x17
)

var err7z = errors.New("7z: bad header")

var (
	coderAES   = []byte{0x06, 0xf1, 0x07, 0x01}
	coderLZMA  = []byte{0x03, 0x01, 0x01}
	coderLZMA2 = []byte{0x21}
	coderCopy  = []byte{0x00}
	coderBCJ   = []byte{0x03, 0x03, 0x01, 0x03} // x86 branch converter
	coderDelta = []byte{0x03}
)

// r7z reads the fields of a 7z header.
type r7z struct {
	b   []byte
	pos int
	err error
}

func (r *r7z) byte() byte {
	if r.pos >= len(r.b) {
		r.err = err7z
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *r7z) num() uint64 {
	v, p, ok := sevenVint(r.b, r.pos)
	if !ok {
		r.err = err7z
	}
	r.pos = p
	return v
}

// count reads a NUMBER that counts items, bounded by max7zItems.
func (r *r7z) count() int {
	v := r.num()
	if v > max7zItems {
		r.err = err7z
		return 0
	}
	return int(v)
}

func (r *r7z) skip(n uint64) {
	if n > uint64(len(r.b)-r.pos) {
		r.err = err7z
		r.pos = len(r.b)
		return
	}
	r.pos += int(n)
}

// bits reads a bit vector of n items, or all-defined when the first byte
// says so (when allDefined is true).
func (r *r7z) bits(n int, allDefined bool) []bool {
	v := make([]bool, n)
	if allDefined && r.byte() != 0 {
		for i := range v {
			v[i] = true
		}
		return v
	}
	var c byte
	for i := range v {
		if i%8 == 0 {
			c = r.byte()
		}
		v[i] = c&(0x80>>(i%8)) != 0
	}
	return v
}

func (r *r7z) digests(n int) {
	for _, d := range r.bits(n, true) {
		if d {
			r.skip(4)
		}
	}
}

type folder7z struct {
	coders    [][]byte // ids
	props     [][]byte
	simple    bool        // every coder has one input and one output
	bind      [][2]uint64 // bind pairs: in index, out index
	packed    []uint64    // the in indices fed by packed streams
	outs      int
	unpack    []uint64
	numUnpack int  // substreams
	crc       bool // the folder's unpacked CRC is given
}

type streams7z struct {
	packPos   uint64
	packSizes []uint64
	folders   []folder7z
}

func (r *r7z) streams() *streams7z {
	s := &streams7z{}
	for r.err == nil {
		switch id := r.byte(); id {
		case k7zEnd:
			return s
		case k7zPackInfo:
			s.packPos = r.num()
			n := r.count()
			for r.err == nil {
				t := r.byte()
				if t == k7zEnd {
					break
				}
				switch t {
				case k7zSize:
					for range n {
						s.packSizes = append(s.packSizes, r.num())
					}
				case k7zCRC:
					r.digests(n)
				default:
					r.skip(r.num())
				}
			}
		case k7zUnpackInfo:
			if r.byte() != k7zFolder {
				r.err = err7z
				return s
			}
			n := r.count()
			if r.byte() != 0 { // external
				r.err = err7z
				return s
			}
			for i := 0; i < n && r.err == nil; i++ {
				s.folders = append(s.folders, r.folder())
			}
			if r.byte() != k7zCodersUnpack {
				r.err = err7z
				return s
			}
			for i := range s.folders {
				for range s.folders[i].outs {
					s.folders[i].unpack = append(s.folders[i].unpack, r.num())
				}
			}
			for r.err == nil {
				t := r.byte()
				if t == k7zEnd {
					break
				}
				if t == k7zCRC {
					for i, d := range r.bits(len(s.folders), true) {
						s.folders[i].crc = d
						if d {
							r.skip(4)
						}
					}
				} else {
					r.skip(r.num())
				}
			}
		case k7zSubStreams:
			r.subStreams(s)
		default:
			r.err = err7z
		}
	}
	return s
}

func (r *r7z) folder() folder7z {
	f := folder7z{simple: true}
	n := r.count()
	ins := 0
	for i := 0; i < n && r.err == nil; i++ {
		flags := r.byte()
		idSize := int(flags & 0x0f)
		if r.pos+idSize > len(r.b) {
			r.err = err7z
			return f
		}
		f.coders = append(f.coders, r.b[r.pos:r.pos+idSize])
		r.pos += idSize
		in, out := 1, 1
		if flags&0x10 != 0 {
			in, out = r.count(), r.count()
			f.simple = f.simple && in == 1 && out == 1
		}
		ins += in
		f.outs += out
		var props []byte
		if flags&0x20 != 0 {
			size := r.num()
			start := r.pos
			r.skip(size)
			if r.err == nil {
				props = r.b[start:r.pos]
			}
		}
		f.props = append(f.props, props)
	}
	if f.outs > max7zItems || ins > max7zItems {
		r.err = err7z
		return f
	}
	bind := f.outs - 1
	for range max(bind, 0) {
		f.bind = append(f.bind, [2]uint64{r.num(), r.num()})
	}
	if packed := ins - bind; packed > 1 {
		for range packed {
			f.packed = append(f.packed, r.num())
		}
	} else if packed == 1 {
		// The one in index no bind pair feeds.
		for i := range uint64(ins) {
			if !slices.ContainsFunc(f.bind, func(p [2]uint64) bool { return p[0] == i }) {
				f.packed = append(f.packed, i)
				break
			}
		}
	}
	f.numUnpack = 1
	return f
}

func (r *r7z) subStreams(s *streams7z) {
	t := r.byte()
	if t == k7zNumUnpackStream {
		// Each folder's count is bounded, and so is their sum: the
		// sizes and CRCs below are read per substream, and a header of
		// many folders each claiming max7zItems would otherwise loop
		// and allocate for folders × max7zItems of them.
		total := 0
		for i := range s.folders {
			s.folders[i].numUnpack = r.count()
			if total += s.folders[i].numUnpack; total > max7zItems {
				r.err = err7z
				return
			}
		}
		t = r.byte()
	}
	if t == k7zSize {
		for _, f := range s.folders {
			for j := 1; j < f.numUnpack; j++ {
				r.num()
			}
		}
		t = r.byte()
	}
	for t != k7zEnd && r.err == nil {
		if t == k7zCRC {
			n := 0
			for _, f := range s.folders {
				if f.numUnpack != 1 || !f.crc { // else the folder's CRC is the stream's
					n += f.numUnpack
				}
			}
			r.digests(n)
		} else {
			r.skip(r.num())
		}
		t = r.byte()
	}
}

// sevenZip lists a 7z archive's entries.
func (o *opener) sevenZip(a *Archive, data []byte) {
	if len(data) < 32 {
		a.Problem = "7z: truncated"
		return
	}
	off := binary.LittleEndian.Uint64(data[12:])
	size := binary.LittleEndian.Uint64(data[20:])
	if off > uint64(len(data)) || size > uint64(len(data)) || 32+off+size > uint64(len(data)) {
		a.Problem = "7z: header outside the data"
		a.NamesHidden = true
		return
	}
	h := data[32+off : 32+off+size]
	for range 4 { // an encoded header may decode to another encoded header
		if len(h) == 0 {
			return // an empty archive
		}
		switch h[0] {
		case k7zHeader:
			o.sevenZipHeader(a, h[1:])
			return
		case k7zEncodedHeader:
			var why string
			h, why = o.sevenZipDecode(a, data, h[1:])
			if h == nil {
				a.NamesHidden = true
				if why != "" {
					a.Problem = "7z: " + why
				}
				return
			}
		default:
			a.Problem = "7z: unknown header"
			a.NamesHidden = true
			return
		}
	}
	a.NamesHidden = true
}

// sevenZipDecode decodes an encoded header: nil with a reason when it
// cannot (Encrypted set for AES).
func (o *opener) sevenZipDecode(a *Archive, data, h []byte) ([]byte, string) {
	r := &r7z{b: h}
	s := r.streams()
	if r.err != nil {
		return nil, "bad encoded header"
	}
	if len(s.folders) != 1 || len(s.packSizes) < 1 || len(s.folders[0].unpack) < 1 {
		return nil, "unsupported encoded header"
	}
	f := s.folders[0]
	for _, c := range f.coders {
		if bytes.Equal(c, coderAES) {
			a.Encrypted = true
			return nil, ""
		}
	}
	start, psize := 32+s.packPos, s.packSizes[0]
	if s.packPos > uint64(len(data)) || psize > uint64(len(data)) || start+psize > uint64(len(data)) {
		return nil, "packed header outside the data"
	}
	packed := data[start : start+psize]
	// The header's size is that of the output no bind pair takes (the
	// last, in the AES + LZMA folders 7-Zip writes).
	usize := f.unpack[len(f.unpack)-1]
	for i := range uint64(len(f.unpack)) {
		if len(f.bind) > 0 && !slices.ContainsFunc(f.bind, func(p [2]uint64) bool { return p[1] == i }) {
			usize = f.unpack[i]
			break
		}
	}
	if usize == 0 {
		// 7-Zip never writes one; decoding it (an LZMA decoder's tables
		// for nothing, and no budget taken) would only show an empty
		// archive.
		return nil, "empty encoded header"
	}
	if usize > max7zHeader || !o.take(int64(usize)) {
		return nil, "header too large"
	}
	if !f.simple || len(f.coders) > 4 || len(f.packed) != 1 || len(f.unpack) != len(f.coders) {
		return nil, "unsupported header coders"
	}
	for _, p := range f.bind {
		if p[0] >= uint64(len(f.coders)) || p[1] >= uint64(len(f.coders)) {
			return nil, "bad header coders"
		}
	}
	// Follow the data from the coder the packed stream feeds through the
	// bind pairs (each a coder's output into the next one's input) to
	// the output none takes: the header. With one in and one out each,
	// coder i's in and out index are both i.
	c := f.packed[0]
	in := packed
	for range len(f.coders) {
		if c >= uint64(len(f.coders)) {
			return nil, "bad header coders"
		}
		size := f.unpack[c]
		// Each coder's output costs its size (the header's own was
		// taken above).
		if size > max7zHeader || len(f.coders) > 1 && !o.take(int64(size)) {
			return nil, "header too large"
		}
		out, why := decode7zCoder(f.coders[c], f.props[c], in, int(size))
		if out == nil {
			return nil, why
		}
		next := slices.IndexFunc(f.bind, func(p [2]uint64) bool { return p[1] == c })
		if next < 0 {
			if uint64(len(out)) != usize {
				return nil, "bad header coders"
			}
			return out, ""
		}
		c, in = f.bind[next][0], out
	}
	return nil, "bad header coders"
}

// decode7zCoder runs one coder of an encoded header to size bytes: nil
// with the reason when it cannot.
func decode7zCoder(id, props, in []byte, size int) ([]byte, string) {
	switch {
	case bytes.Equal(id, coderCopy):
		if len(in) < size {
			return nil, "truncated header"
		}
		return in[:size], ""
	case bytes.Equal(id, coderLZMA):
		out, err := lzmaDecode(props, in, size)
		if err != nil || len(out) != size {
			return nil, "corrupt compressed header"
		}
		return out, ""
	case bytes.Equal(id, coderLZMA2):
		out, err := lzma2Decode(in, size)
		if err != nil || len(out) != size {
			return nil, "corrupt compressed header"
		}
		return out, ""
	case bytes.Equal(id, coderBCJ), bytes.Equal(id, coderDelta):
		// A filter keeps the size; it works in place on a copy (the
		// input may be the message's bytes).
		if len(in) != size {
			return nil, "bad header filter"
		}
		out := slices.Clone(in)
		if id[0] == coderDelta[0] && len(id) == 1 {
			if len(props) != 1 {
				return nil, "bad header filter"
			}
			deltaDecode(out, int(props[0])+1)
		} else {
			bcjX86Decode(out)
		}
		return out, ""
	}
	return nil, "unsupported header coder"
}

// sevenZipHeader reads a plain header (after its kHeader byte): the
// streams (for AES coders: encrypted entries) and the files' names.
func (o *opener) sevenZipHeader(a *Archive, h []byte) {
	r := &r7z{b: h}
	var main *streams7z
	for r.err == nil {
		switch r.byte() {
		case k7zEnd:
			return
		case k7zArchiveProps:
			for r.err == nil && r.byte() != 0 {
				r.skip(r.num())
			}
		case k7zAdditional:
			r.streams()
		case k7zMainStreams:
			main = r.streams()
			for _, f := range main.folders {
				for _, c := range f.coders {
					if bytes.Equal(c, coderAES) {
						a.Encrypted = true
					}
				}
			}
		case k7zFilesInfo:
			o.sevenZipFiles(a, r, main)
			return
		default:
			r.err = err7z
		}
	}
	if r.err != nil && len(a.Files) == 0 {
		a.Problem = "7z: bad header"
		a.NamesHidden = true
	}
}

func (o *opener) sevenZipFiles(a *Archive, r *r7z, main *streams7z) {
	n := r.count()
	var names []string
	var empty, emptyFile []bool
	for r.err == nil {
		t := r.byte()
		if t == k7zEnd || r.err != nil {
			break
		}
		size := r.num()
		if size > uint64(len(r.b)-r.pos) {
			r.err = err7z
			break
		}
		p := &r7z{b: r.b[r.pos : r.pos+int(size)]}
		r.pos += int(size)
		switch t {
		case k7zEmptyStream:
			empty = p.bits(n, false)
		case k7zEmptyFile:
			ne := 0
			for _, e := range empty {
				if e {
					ne++
				}
			}
			emptyFile = p.bits(ne, false)
		case k7zName:
			if p.byte() != 0 { // external
				continue
			}
			names = utf16Names(p.b[p.pos:], n)
		}
	}
	if r.err != nil && len(names) == 0 {
		a.Problem = "7z: bad files info"
		a.NamesHidden = true
		return
	}
	ei := 0
	for i, name := range names {
		e := ArchiveFile{Name: name, Size: -1, Encrypted: a.Encrypted}
		if i < len(empty) && empty[i] {
			e.Encrypted = false
			e.Dir = ei >= len(emptyFile) || !emptyFile[ei]
			e.Size = 0
			ei++
		}
		if !o.add(a, e) {
			return
		}
	}
	if len(names) == 0 && n > 0 {
		a.NamesHidden = true
	}
}

// utf16Names splits NUL-terminated UTF-16LE names, at most n.
func utf16Names(b []byte, n int) []string {
	var names []string
	for len(b) >= 2 && len(names) < n {
		var u []uint16
		j := 0
		for ; j+1 < len(b); j += 2 {
			c := binary.LittleEndian.Uint16(b[j:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		names = append(names, string(utf16.Decode(u)))
		b = b[min(j+2, len(b)):]
	}
	return names
}
