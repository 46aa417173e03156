package content

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
)

// Archive is the listing of an archive attachment (or of an archive
// inside one).
type Archive struct {
	// Format is TypeZip, TypeRar, Type7z, TypeGzip or TypeTar.
	Format string
	// Files are the entries, at most Limits.MaxArchiveFiles.
	Files []ArchiveFile
	// Encrypted reports an entry, or the archive's own headers, protected
	// by a password.
	Encrypted bool
	// NamesHidden reports that the entry names could not be read: rar
	// and 7z archives with encrypted or compressed headers.
	NamesHidden bool
	// Truncated reports that not every entry was listed (a bound).
	Truncated bool
	// Problem says why the archive could not be read completely ("" when
	// it could).
	Problem string
}

// ArchiveFile is one archive entry.
type ArchiveFile struct {
	Name string
	// Size is the uncompressed size the archive declares (-1 when
	// unknown).
	Size      int64
	Encrypted bool
	Dir       bool
	// Nested is the listing of an archive inside the archive, when it
	// was opened (within Limits.MaxInflate and MaxArchiveDepth).
	Nested *Archive
}

// archiveFormat tells which archive reader fits: by detected type first,
// by name when the content was not recognised.
func archiveFormat(detected, name string) string {
	switch detected {
	case TypeZip, TypeRar, Type7z, TypeGzip, TypeTar:
		return detected
	case "":
	default:
		return ""
	}
	switch Ext(name) {
	case "zip":
		return TypeZip
	case "rar":
		return TypeRar
	case "7z":
		return Type7z
	case "gz", "tgz":
		return TypeGzip
	case "tar":
		return TypeTar
	}
	return ""
}

// IsArchiveName reports a name whose extension is an archive or a disk
// image that holds files.
func IsArchiveName(name string) bool {
	switch Ext(name) {
	case "zip", "rar", "7z", "gz", "tgz", "tar", "bz2", "xz", "cab", "arj", "lzh", "ace", "z", "zipx", "iso", "img":
		return true
	}
	return false
}

type opener struct {
	lim     Limits
	inflate *int64 // bytes of decompression left for the message
	c       *Message
}

func (o *opener) open(format string, data []byte, depth int) *Archive {
	a := &Archive{Format: format}
	switch format {
	case TypeZip:
		o.zip(a, data, depth)
	case TypeRar:
		o.rar(a, data)
	case Type7z:
		o.sevenZip(a, data)
	case TypeGzip:
		o.gzip(a, data, depth)
	case TypeTar:
		o.tar(a, bytes.NewReader(data))
	}
	for _, f := range a.Files {
		if f.Encrypted {
			a.Encrypted = true
		}
	}
	return a
}

// add appends an entry unless the bound is reached.
func (o *opener) add(a *Archive, f ArchiveFile) bool {
	if len(a.Files) >= o.lim.MaxArchiveFiles {
		a.Truncated = true
		o.c.exceed(ExceededArchiveFiles)
		return false
	}
	a.Files = append(a.Files, f)
	return true
}

// take reserves n bytes of decompression; false when the budget is spent.
func (o *opener) take(n int64) bool {
	if n > *o.inflate {
		o.c.exceed(ExceededInflate)
		return false
	}
	*o.inflate -= n
	return true
}

func (o *opener) zip(a *Archive, data []byte, depth int) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		a.Problem = "zip: " + err.Error()
		return
	}
	for _, f := range zr.File {
		e := ArchiveFile{Name: f.Name, Size: int64(f.UncompressedSize64), Encrypted: f.Flags&1 != 0,
			Dir: strings.HasSuffix(f.Name, "/")}
		if !e.Encrypted && !e.Dir && depth+1 < o.lim.MaxArchiveDepth && IsArchiveName(f.Name) {
			e.Nested = o.nested(f, depth)
		}
		if !o.add(a, e) {
			return
		}
	}
}

// nested opens an archive stored in a zip, inflating at most the budget.
func (o *opener) nested(f *zip.File, depth int) *Archive {
	size := int64(f.UncompressedSize64)
	if size <= 0 || !o.take(size) {
		return nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil
	}
	defer rc.Close()
	buf, err := io.ReadAll(io.LimitReader(rc, size))
	if err != nil && len(buf) == 0 {
		return nil
	}
	format := archiveFormat(Detect(buf), f.Name)
	if format == "" {
		return nil
	}
	return o.open(format, buf, depth+1)
}

func (o *opener) gzip(a *Archive, data []byte, depth int) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		a.Problem = "gzip: " + err.Error()
		return
	}
	defer zr.Close()
	name := zr.Name
	if name == "" {
		name = "(unnamed)"
	}
	e := ArchiveFile{Name: name, Size: -1}
	if len(data) >= 4 {
		e.Size = int64(binary.LittleEndian.Uint32(data[len(data)-4:])) // ISIZE, RFC 1952 §2.3.1
	}
	// Look inside: a tar (.tar.gz) is listed, another archive opened.
	if depth+1 < o.lim.MaxArchiveDepth {
		budget := min(*o.inflate, 16<<20)
		if budget > 0 {
			buf, _ := io.ReadAll(io.LimitReader(zr, budget))
			o.take(int64(len(buf)))
			if int64(len(buf)) == budget {
				o.c.exceed(ExceededInflate)
			}
			if Detect(buf) == TypeTar || strings.HasSuffix(strings.ToLower(name), ".tar") {
				t := &Archive{Format: TypeTar}
				o.tar(t, bytes.NewReader(buf))
				e.Nested = t
			} else if f := archiveFormat(Detect(buf), ""); f != "" {
				e.Nested = o.open(f, buf, depth+1)
			}
		}
	}
	o.add(a, e)
}

func (o *opener) tar(a *Archive, r io.Reader) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			if len(a.Files) == 0 {
				a.Problem = "tar: " + err.Error()
			}
			return
		}
		if !o.add(a, ArchiveFile{Name: h.Name, Size: h.Size, Dir: h.Typeflag == tar.TypeDir}) {
			return
		}
	}
}

// rar lists the entries of a RAR 4 or RAR 5 archive from its block
// headers (names are stored in clear unless the headers are encrypted).
func (o *opener) rar(a *Archive, data []byte) {
	switch {
	case bytes.HasPrefix(data, []byte("Rar!\x1a\x07\x01\x00")):
		o.rar5(a, data[8:])
	case bytes.HasPrefix(data, []byte("Rar!\x1a\x07\x00")):
		o.rar4(a, data[7:])
	default:
		a.Problem = "rar: unknown signature"
		a.NamesHidden = true
	}
}

func (o *opener) rar4(a *Archive, b []byte) {
	for pos := 0; pos+7 <= len(b); {
		typ := b[pos+2]
		flags := binary.LittleEndian.Uint16(b[pos+3:])
		size := int(binary.LittleEndian.Uint16(b[pos+5:]))
		if size < 7 || pos+size > len(b) {
			a.Problem = "rar: truncated block"
			return
		}
		add := 0
		if flags&0x8000 != 0 && size >= 11 {
			add = int(binary.LittleEndian.Uint32(b[pos+7:]))
		}
		switch typ {
		case 0x73: // main archive header
			if flags&0x0080 != 0 {
				a.Encrypted, a.NamesHidden = true, true
				return
			}
		case 0x74: // file header
			h := b[pos : pos+size]
			if len(h) >= 32 {
				nameSize := int(binary.LittleEndian.Uint16(h[26:]))
				off := 32
				if flags&0x100 != 0 {
					off += 8
				}
				if off+nameSize <= len(h) {
					name := string(h[off : off+nameSize])
					if flags&0x200 != 0 { // unicode name: ASCII part, NUL, encoded
						name = rar4Unicode(h[off : off+nameSize])
					}
					e := ArchiveFile{Name: name, Size: int64(binary.LittleEndian.Uint32(h[11:])),
						Encrypted: flags&0x04 != 0, Dir: flags&0xe0 == 0xe0}
					if !o.add(a, e) {
						return
					}
				}
			}
		case 0x7b: // end of archive
			return
		}
		next := pos + size + add
		if next <= pos {
			return
		}
		pos = next
	}
}

// rar4Unicode decodes a RAR 4 file name stored with the unicode flag:
// the name in the OEM charset, NUL, then the UTF-16 name encoded against
// it, as unrar's EncodeFileName::Decode reads it: its copy runs (flag 3)
// read the whole name field, past the NUL too, an operation short of
// bytes does not consume them, and the name ends at its first NUL.
// Without the encoded part, or when it decodes to nothing, the first part
// is the name.
func rar4Unicode(b []byte) string {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b)
	}
	plain, enc := b[:i], b[i+1:]
	if len(enc) == 0 {
		return string(plain)
	}
	high := uint16(enc[0])
	pos := 1
	var out []uint16
	var flags byte
	bits := 0
	for pos < len(enc) && len(out) < maxRarName {
		if bits == 0 {
			flags, bits = enc[pos], 8
			pos++
		}
		switch flags >> 6 {
		case 0:
			if pos < len(enc) {
				out = append(out, uint16(enc[pos]))
				pos++
			}
		case 1:
			if pos < len(enc) {
				out = append(out, uint16(enc[pos])+high<<8)
				pos++
			}
		case 2:
			if pos+1 < len(enc) {
				out = append(out, uint16(enc[pos])|uint16(enc[pos+1])<<8)
				pos += 2
			}
		case 3:
			if pos >= len(enc) {
				break
			}
			n := int(enc[pos])
			pos++
			if n&0x80 != 0 {
				if pos >= len(enc) {
					break
				}
				corr := uint16(enc[pos])
				pos++
				for n = n&0x7f + 2; n > 0 && len(out) < maxRarName && len(out) < len(b); n-- {
					out = append(out, (uint16(b[len(out)])+corr)&0xff+high<<8)
				}
			} else {
				for n += 2; n > 0 && len(out) < maxRarName && len(out) < len(b); n-- {
					out = append(out, uint16(b[len(out)]))
				}
			}
		}
		flags <<= 2
		bits -= 2
	}
	if j := slices.Index(out, 0); j >= 0 {
		out = out[:j]
	}
	if len(out) == 0 {
		return string(plain)
	}
	return string(utf16.Decode(out))
}

// maxRarName bounds a decoded RAR 4 name (the format's own limit is
// 64 KiB of header).
const maxRarName = 2048

// vint reads a RAR 5 variable-length integer.
func vint(b []byte, pos int) (uint64, int, bool) {
	var v uint64
	for i := 0; i < 10 && pos+i < len(b); i++ {
		c := b[pos+i]
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, pos + i + 1, true
		}
	}
	return 0, pos, false
}

func (o *opener) rar5(a *Archive, b []byte) {
	for pos := 0; pos+5 < len(b); {
		hsize, p, ok := vint(b, pos+4)
		if !ok || hsize == 0 || hsize > uint64(len(b)) || p+int(hsize) > len(b) {
			a.Problem = "rar: truncated header"
			return
		}
		hend := p + int(hsize)
		typ, p, ok1 := vint(b, p)
		hflags, p, ok2 := vint(b, p)
		if !ok1 || !ok2 {
			a.Problem = "rar: bad header"
			return
		}
		var extra, dataSize uint64
		if hflags&1 != 0 {
			extra, p, _ = vint(b, p)
		}
		if hflags&2 != 0 {
			dataSize, p, _ = vint(b, p)
		}
		switch typ {
		case 4: // archive encryption header: everything after is encrypted
			a.Encrypted, a.NamesHidden = true, true
			return
		case 2: // file header
			fflags, q, _ := vint(b, p)
			usize, q, _ := vint(b, q)
			_, q, _ = vint(b, q) // attributes
			if fflags&2 != 0 {
				q += 4
			}
			if fflags&4 != 0 {
				q += 4
			}
			_, q, _ = vint(b, q) // compression info
			_, q, _ = vint(b, q) // host OS
			nlen, q, ok := vint(b, q)
			if ok && q <= hend && nlen <= uint64(hend-q) {
				e := ArchiveFile{Name: string(b[q : q+int(nlen)]), Size: int64(usize), Dir: fflags&1 != 0}
				if extra > 0 && extra <= uint64(hend-q) {
					e.Encrypted = rar5Encrypted(b[hend-int(extra) : hend])
				}
				if !o.add(a, e) {
					return
				}
			}
		case 5: // end of archive
			return
		}
		next := hend + int(dataSize)
		if dataSize > uint64(len(b)) || next <= pos {
			return
		}
		pos = next
	}
}

// rar5Encrypted reports a file encryption record (type 1) in a RAR 5
// extra area.
func rar5Encrypted(x []byte) bool {
	for pos := 0; pos < len(x); {
		size, p, ok := vint(x, pos)
		if !ok || size == 0 {
			return false
		}
		typ, _, ok := vint(x, p)
		if ok && typ == 1 {
			return true
		}
		pos = p + int(size)
		if size > uint64(len(x)) {
			return false
		}
	}
	return false
}

// sevenVint reads a 7z NUMBER (first byte's high bits say how many bytes
// follow).
func sevenVint(b []byte, pos int) (uint64, int, bool) {
	if pos >= len(b) {
		return 0, pos, false
	}
	first := b[pos]
	pos++
	mask := byte(0x80)
	var v uint64
	for i := 0; i < 8; i++ {
		if first&mask == 0 {
			high := uint64(first) & (uint64(mask) - 1)
			return v | high<<(8*i), pos, true
		}
		if pos >= len(b) {
			return 0, pos, false
		}
		v |= uint64(b[pos]) << (8 * i)
		pos++
		mask >>= 1
	}
	return v, pos, true
}
