package message

import (
	"fmt"
	"io"
	"mime"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// wordDecoder decodes RFC 2047 encoded words in any charset the WHATWG
// encoding index knows (the names mail readers accept, with their aliases:
// latin1, cp1252, koi8-r, gb2312, shift_jis, …).
var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(strings.ToLower(strings.TrimSpace(charset)))
	if err != nil {
		return nil, fmt.Errorf("unknown charset %q: %w", charset, err)
	}
	return enc.NewDecoder().Reader(input), nil
}

// DecodeText returns an unstructured field body (Subject, Comments) as a
// reader sees it: folding removed (RFC 5322 §2.2.3) and RFC 2047 encoded
// words decoded to UTF-8. A malformed or unknown-charset encoded word is
// left as written (RFC 2047 §6.3: "display it as is"), never dropped.
func DecodeText(value string) string {
	v := strings.TrimSpace(strings.ReplaceAll(value, "\r\n", ""))
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}
