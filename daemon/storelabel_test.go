package daemon

import "testing"

// The start-up line names the store without its password.
func TestStoreLabel(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "embedded"},
		{"bolt:/var/lib/hamlet/other.db", "bolt:/var/lib/hamlet/other.db"},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"rediss://hamlet:s3cret@redis.example:6380/1", "rediss://hamlet:xxxxx@redis.example:6380/1"},
	} {
		if got := storeLabel(tt.in); got != tt.want {
			t.Errorf("storeLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
