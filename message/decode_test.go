package message

import "testing"

func TestDecodeText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain subject", "plain subject"},
		{" folded\r\n subject ", "folded subject"},
		{"=?UTF-8?B?w4RyZ2VyIG1pdCBkZXIgUmVjaG51bmc=?=", "Ärger mit der Rechnung"},
		{"=?iso-8859-1?q?caf=E9?= au lait", "café au lait"},
		{"=?windows-1251?B?z/Du4uXw6uA=?=", "Проверка"},
		{"=?koi8-r?Q?=F0=D2=CF=D7=C5=D2=CB=C1?=", "Проверка"},
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"}, // white space between encoded words is dropped (RFC 2047 §6.2)
		{"=?x-unknown?q?abc?=", "=?x-unknown?q?abc?="},
		{"=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="},
	} {
		if got := DecodeText(tc.in); got != tc.want {
			t.Errorf("DecodeText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"=?UTF-8?B?w4Q=?=", "=?iso-8859-1?q?caf=E9?=", "=?utf-8?q?", "a\r\n b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = DecodeText(s)
	})
}
