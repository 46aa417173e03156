package redis

import (
	"strings"
	"testing"
)

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://host:6379/0", "rediss://u:p@[::1]:6380/2?prefix=x:", "redis://s1?master_name=m&addr=s2:1",
		"redis://h/0?cluster=true&dial_timeout=1s&pool_size=3", "redis://h/x", "http://h", "redis://%zz", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, prefix, err := ParseURL(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "redis store: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if len(o.Addrs) == 0 || o.Addrs[0] == "" || o.DB < 0 {
			t.Fatalf("ParseURL(%q) = addrs %v db %d", s, o.Addrs, o.DB)
		}
		_ = prefix
	})
}
