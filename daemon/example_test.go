package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestExampleConfig loads hamlet.example.toml: it must be valid, use no
// unknown option, and document every option the program has.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "hamlet.example.toml")
	s, err := LoadSettings(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(text)
	var missing []string
	walk(reflect.TypeOf(*s), "", func(key, section string) {
		if !documents(doc, section, key) {
			missing = append(missing, strings.TrimPrefix(section+"."+key, "."))
		}
	})
	if len(missing) > 0 {
		t.Fatalf("hamlet.example.toml does not document: %s", strings.Join(missing, ", "))
	}
}

// walk calls fn for every leaf option of t (a config struct), with the
// section it is in.
func walk(t reflect.Type, section string, fn func(key, section string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if tag == "-" {
			continue
		}
		if tag == "" { // embedded or untagged: a section of its own or the root
			if f.Anonymous && ft.Kind() == reflect.Struct {
				walk(ft, section, fn)
				continue
			}
			tag = strings.ToLower(f.Name)
			if f.Name == "HTTP" { // derived from [scan], not a section
				continue
			}
		}
		switch {
		case ft.Kind() == reflect.Struct && !isScalar(ft):
			walk(ft, strings.TrimPrefix(section+"."+tag, "."), fn)
		case ft.Kind() == reflect.Map: // a free-form table: [name] must be there
			fn("", strings.TrimPrefix(section+"."+tag, "."))
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			walk(ft.Elem(), strings.TrimPrefix(section+"."+tag, "."), fn)
		default:
			fn(tag, section)
		}
	}
}

func isScalar(t reflect.Type) bool {
	_, ok := reflect.New(t).Interface().(interface{ UnmarshalText([]byte) error })
	return ok
}

// documents reports whether doc sets or mentions key (possibly commented
// out) inside [section] (or [[section]]).
func documents(doc, section, key string) bool {
	cur := ""
	for _, line := range strings.Split(doc, "\n") {
		// A commented-out section header counts: it documents the keys
		// below it.
		l := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if strings.HasPrefix(l, "[") {
			cur = strings.Trim(l, "[] ")
			continue
		}
		if cur == section && key == "" {
			return true
		}
		if cur == section && (strings.HasPrefix(l, key+" =") || strings.HasPrefix(l, key+"=")) {
			return true
		}
	}
	return false
}
