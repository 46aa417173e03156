package content

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTML is what ExtractHTML found in an HTML document.
type HTML struct {
	// Text is the visible text: entities decoded, white space collapsed,
	// block elements separated by a line break.
	Text string
	// Links are the <a> and <area> elements with an href.
	Links []Link
	// Images are the <img> elements.
	Images []Image
	// Forms are the <form> elements.
	Forms []Form
	// HiddenText counts the bytes of text a reader does not see:
	// display:none, visibility:hidden, a zero font size, or text in the
	// colour of its background.
	HiddenText int
	// ZeroFont reports text in a font of size 0 (or 1px).
	ZeroFont bool
	// LowContrast reports text in the colour of its background;
	// LowContrastText counts its bytes.
	LowContrast     bool
	LowContrastText int
	// InvisibleBlocks counts elements hidden by display, visibility,
	// opacity or the hidden attribute; ZeroFontBlocks those hidden by a
	// zero font size.
	InvisibleBlocks, ZeroFontBlocks int
	// MetaRefresh is the URL of a <meta http-equiv="refresh">, "" when none.
	MetaRefresh string
	// ExternalCSS reports a <link> to a .css file, or an @import.
	ExternalCSS bool
	// Tags counts the elements; Unbalanced counts end tags without a
	// matching start tag.
	Tags, Unbalanced int
}

// Link is an <a href> (or <area href>).
type Link struct {
	Href string
	// Text is the link's visible text (at most 256 bytes).
	Text string
	// Image reports an <img> inside the link.
	Image bool
	// URL is the parsed Href (nil when it is not a URL we keep, e.g. a
	// relative link or past the URL bound).
	URL *URL
}

// Image is an <img>.
type Image struct {
	Src string
	// Width and Height are the attribute values in pixels, -1 when
	// absent or not a number.
	Width, Height int
	Alt           string
	InLink        bool
	// Embedded reports an image of the message itself (src="cid:…").
	Embedded bool
}

// Form is a <form>.
type Form struct {
	Action string
	// Password reports an <input type="password"> inside it.
	Password bool
}

const (
	maxStack    = 512 // elements kept open; deeper ones inherit the top
	maxLinkText = 256
)

type frame struct {
	tag    atom.Atom
	name   string
	hidden bool
	color  string // text colour in effect, lower case, "" default (black)
	bg     string // background colour in effect, "" default (white)
	zero   bool   // hidden by a zero font size
	link   int    // index+1 of the open link
	form   int    // index+1 of the open form
}

var blockTags = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true, atom.Br: true,
	atom.Dd: true, atom.Div: true, atom.Dl: true, atom.Dt: true, atom.Fieldset: true, atom.Figcaption: true,
	atom.Figure: true, atom.Footer: true, atom.Form: true, atom.H1: true, atom.H2: true, atom.H3: true,
	atom.H4: true, atom.H5: true, atom.H6: true, atom.Header: true, atom.Hr: true, atom.Li: true,
	atom.Main: true, atom.Nav: true, atom.Ol: true, atom.P: true, atom.Pre: true, atom.Section: true,
	atom.Table: true, atom.Tbody: true, atom.Td: true, atom.Tfoot: true, atom.Th: true, atom.Thead: true,
	atom.Tr: true, atom.Ul: true, atom.Center: true,
}

var voidTags = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true, atom.Hr: true,
	atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true, atom.Param: true, atom.Source: true,
	atom.Track: true, atom.Wbr: true,
}

// invisible elements: their text is never shown.
var invisibleTags = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Head: true, atom.Title: true, atom.Template: true,
	atom.Noscript: true, atom.Object: true, atom.Iframe: true, atom.Svg: true, atom.Math: true,
}

// ExtractHTML reads an HTML document with golang.org/x/net/html's
// tokenizer (linear time, no tree) and returns its visible text and
// structure. Broken HTML gives what a browser would mostly show.
func ExtractHTML(doc string) *HTML {
	h := &HTML{}
	z := html.NewTokenizer(strings.NewReader(doc))
	z.SetMaxBuf(0)
	var text strings.Builder
	text.Grow(len(doc) / 2)
	stack := []frame{{}}
	var attrs attrList
	invisible := 0 // depth inside invisible elements
	space := true  // last byte written to text is white space
	writeBreak := func() {
		if text.Len() > 0 && !space {
			text.WriteByte('\n')
			space = true
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			h.Text = strings.TrimSpace(text.String())
			return h
		case html.TextToken:
			raw := z.Text()
			top := &stack[len(stack)-1]
			if invisible > 0 {
				if top.tag == atom.Style && strings.Contains(strings.ToLower(string(raw)), "@import") {
					h.ExternalCSS = true
				}
				continue
			}
			hidden := top.hidden || (top.color != "" && top.bg != "" && sameColour(top.color, top.bg))
			if hidden {
				n := len(strings.TrimSpace(string(raw)))
				h.HiddenText += n
				if n > 0 && !top.hidden {
					h.LowContrast = true
					h.LowContrastText += n
				}
				continue
			}
			if top.link > 0 {
				l := &h.Links[top.link-1]
				if len(l.Text) < maxLinkText {
					t := collapse(string(raw))
					if l.Text != "" && t != "" {
						t = " " + t
					}
					l.Text = strings.TrimSpace(truncUTF8(l.Text+t, maxLinkText))
				}
			}
			for i := 0; i < len(raw); {
				c := raw[i]
				if c < utf8.RuneSelf {
					i++
					if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
						if !space {
							text.WriteByte(' ')
							space = true
						}
						continue
					}
					text.WriteByte(c)
					space = false
					continue
				}
				r, size := utf8.DecodeRune(raw[i:])
				i += size
				if r == '\u00a0' {
					if !space {
						text.WriteByte(' ')
						space = true
					}
					continue
				}
				text.WriteRune(r) // U+FFFD for an invalid byte
				space = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			h.Tags++
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			attrs = attrs[:0]
			if hasAttr {
				attrs = readAttrs(z, attrs)
			}
			if blockTags[a] {
				writeBreak()
			}
			top := stack[len(stack)-1]
			f := frame{tag: a, name: string(name), hidden: top.hidden, color: top.color, bg: top.bg, link: top.link, form: top.form}
			h.element(a, attrs, &f)
			if f.hidden && !top.hidden && invisible == 0 {
				if f.zero {
					h.ZeroFontBlocks++
				} else {
					h.InvisibleBlocks++
				}
			}
			if voidTags[a] || tt == html.SelfClosingTagToken {
				continue
			}
			if invisibleTags[a] {
				invisible++
			}
			if len(stack) < maxStack {
				stack = append(stack, f)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if blockTags[a] {
				writeBreak()
			}
			// Pop to the matching open element, if any is near the top.
			found := -1
			for i := len(stack) - 1; i > 0 && i >= len(stack)-64; i-- {
				if stack[i].tag == a && (a != 0 || stack[i].name == string(name)) {
					found = i
					break
				}
			}
			if found < 0 {
				h.Unbalanced++
				continue
			}
			for i := len(stack) - 1; i >= found; i-- {
				if invisibleTags[stack[i].tag] && invisible > 0 {
					invisible--
				}
			}
			stack = stack[:found]
		}
	}
}

// element records what a start tag says and sets the frame's state.
func (h *HTML) element(a atom.Atom, attrs attrList, f *frame) {
	if style := attrs.val("style"); style != "" {
		h.applyStyle(style, f)
	}
	if c := attrs.val("color"); c != "" && a == atom.Font {
		f.color = normColour(c)
	}
	if c := attrs.val("bgcolor"); c != "" {
		f.bg = normColour(c)
	}
	if attrs.has("hidden") {
		f.hidden = true
	}
	if a == atom.Font {
		if s := strings.TrimSpace(attrs.val("size")); s == "0" {
			f.hidden, f.zero = true, true
			h.ZeroFont = true
		}
	}
	switch a {
	case atom.A, atom.Area:
		if attrs.has("href") {
			href := attrs.val("href")
			h.Links = append(h.Links, Link{Href: strings.TrimSpace(href)})
			if a == atom.A {
				f.link = len(h.Links)
			}
		}
	case atom.Img:
		img := Image{Src: strings.TrimSpace(attrs.val("src")), Width: pixels(attrs, "width"), Height: pixels(attrs, "height"),
			Alt: attrs.val("alt"), InLink: f.link > 0}
		img.Embedded = len(img.Src) > 4 && strings.EqualFold(img.Src[:4], "cid:")
		h.Images = append(h.Images, img)
		if f.link > 0 {
			h.Links[f.link-1].Image = true
		}
	case atom.Form:
		h.Forms = append(h.Forms, Form{Action: strings.TrimSpace(attrs.val("action"))})
		f.form = len(h.Forms)
	case atom.Input:
		if f.form > 0 && strings.EqualFold(attrs.val("type"), "password") {
			h.Forms[f.form-1].Password = true
		}
	case atom.Meta:
		if strings.EqualFold(attrs.val("http-equiv"), "refresh") {
			c := attrs.val("content")
			if i := strings.Index(strings.ToLower(c), "url="); i >= 0 {
				h.MetaRefresh = strings.Trim(strings.TrimSpace(c[i+4:]), `'"`)
			}
		}
	case atom.Link:
		href := strings.ToLower(attrs.val("href"))
		if i := strings.IndexAny(href, "?#"); i >= 0 {
			href = href[:i]
		}
		if strings.HasSuffix(strings.TrimSpace(href), ".css") {
			h.ExternalCSS = true
		}
	}
}

// attr is an attribute as the tokenizer gives it: valid until its next
// token.
type attr struct{ key, val []byte }

type attrList []attr

// wantedAttrs are the attributes element reads; others are not kept.
var wantedAttrs = map[string]bool{
	"style": true, "color": true, "bgcolor": true, "hidden": true, "size": true, "href": true, "src": true,
	"width": true, "height": true, "alt": true, "action": true, "type": true, "http-equiv": true, "content": true,
}

func (l attrList) val(k string) string {
	for _, a := range l {
		if string(a.key) == k {
			return string(a.val)
		}
	}
	return ""
}

func (l attrList) has(k string) bool {
	for _, a := range l {
		if string(a.key) == k {
			return true
		}
	}
	return false
}

// readAttrs appends the wanted attributes of the current tag to l (the
// first of each name; at most 64 read).
func readAttrs(z *html.Tokenizer, l attrList) attrList {
	for n := 0; n < 64; n++ {
		k, v, more := z.TagAttr()
		if wantedAttrs[string(k)] && !l.has(string(k)) {
			l = append(l, attr{k, v})
		}
		if !more {
			break
		}
	}
	return l
}

// applyStyle reads the declarations of a style attribute that hide text.
func (h *HTML) applyStyle(style string, f *frame) {
	for decl := range strings.SplitSeq(strings.ToLower(style), ";") {
		k, v, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "!important"))
		switch k {
		case "display":
			if v == "none" {
				f.hidden = true
			}
		case "visibility":
			if v == "hidden" || v == "collapse" {
				f.hidden = true
			}
		case "font-size":
			if zeroSize(v) {
				f.hidden, f.zero = true, true
				h.ZeroFont = true
			}
		case "max-height", "height", "max-width", "width":
			// Zero-sized boxes with overflow hidden are a common trick;
			// treated only together with overflow below.
		case "opacity":
			if n, err := strconv.ParseFloat(v, 64); err == nil && n <= 0.05 {
				f.hidden = true
			}
		case "color":
			f.color = normColour(v)
		case "background-color", "background":
			if c := normColour(v); c != "" {
				f.bg = c
			}
		}
	}
}

func zeroSize(v string) bool {
	v = strings.TrimSpace(v)
	for _, u := range []string{"px", "pt", "em", "rem", "%", ""} {
		if n, ok := strings.CutSuffix(v, u); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
			if err != nil {
				continue
			}
			if u == "px" || u == "pt" {
				return f <= 1
			}
			return f == 0
		}
	}
	return false
}

var namedColours = map[string]string{
	"white": "#ffffff", "black": "#000000", "red": "#ff0000", "green": "#008000", "blue": "#0000ff",
	"yellow": "#ffff00", "silver": "#c0c0c0", "gray": "#808080", "grey": "#808080", "transparent": "",
	"snow": "#fffafa", "ivory": "#fffff0", "whitesmoke": "#f5f5f5", "ghostwhite": "#f8f8ff",
}

// normColour turns a CSS or HTML colour into "#rrggbb" ("" when unknown).
func normColour(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexByte(v, ' '); i >= 0 && !strings.HasPrefix(v, "rgb") {
		v = v[:i] // "background: #fff url(...)"
	}
	if c, ok := namedColours[v]; ok {
		return c
	}
	if !strings.HasPrefix(v, "#") {
		if strings.HasPrefix(v, "rgb") {
			open, close := strings.IndexByte(v, '('), strings.IndexByte(v, ')')
			if open < 0 || close < open {
				return ""
			}
			parts := strings.Split(v[open+1:close], ",")
			if len(parts) < 3 {
				return ""
			}
			out := "#"
			for _, p := range parts[:3] {
				n, err := strconv.Atoi(strings.TrimSpace(p))
				if err != nil || n < 0 || n > 255 {
					return ""
				}
				out += strconv.FormatInt(int64(n)|0x100, 16)[1:]
			}
			return out
		}
		if len(v) == 6 || len(v) == 3 {
			v = "#" + v // bgcolor="ffffff"
		} else {
			return ""
		}
	}
	hex := v[1:]
	for _, c := range hex {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return ""
		}
	}
	switch len(hex) {
	case 3:
		return "#" + string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	case 6:
		return v
	}
	return ""
}

// sameColour reports text colour fg on background bg ("" is white) being
// (nearly) the same colour.
func sameColour(fg, bg string) bool {
	if fg == "" {
		fg = "#000000"
	}
	if bg == "" {
		bg = "#ffffff"
	}
	if len(fg) != 7 || len(bg) != 7 {
		return false
	}
	d := 0
	for i := 1; i < 7; i += 2 {
		a, _ := strconv.ParseUint(fg[i:i+2], 16, 8)
		b, _ := strconv.ParseUint(bg[i:i+2], 16, 8)
		x := int(a) - int(b)
		if x < 0 {
			x = -x
		}
		d += x
	}
	return d < 24
}

func pixels(attrs attrList, k string) int {
	if !attrs.has(k) {
		return -1
	}
	v := attrs.val(k)
	v = strings.TrimSuffix(strings.TrimSpace(v), "px")
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// collapse turns white space runs into one space.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncUTF8 cuts s to at most n bytes without splitting a character.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
