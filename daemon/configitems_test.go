package daemon

import (
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/config"
)

// TestConfigItemsHideStoreCredentials: the configuration page shows the
// Redis store without its user or password, also when the password holds
// an @ (the Redis client reads the URL as url.Parse does, up to the last
// @).
func TestConfigItemsHideStoreCredentials(t *testing.T) {
	for _, store := range []string{"redis://:s3cret@127.0.0.1:6379/0", "redis://user:p@ss@127.0.0.1:6379/0", "redis://:a@b@c@127.0.0.1:6379/0"} {
		d := &Daemon{}
		c := config.Default()
		c.Store = store
		d.settings.Store(&Settings{Config: c})
		for _, it := range d.configItems() {
			if it.Key != "store" {
				continue
			}
			if it.Value != "redis://…@127.0.0.1:6379/0" {
				t.Errorf("store %q shown as %q", store, it.Value)
			}
			for _, secret := range []string{"s3cret", "ss@", "b@c", "user"} {
				if strings.Contains(it.Value, secret) {
					t.Errorf("store %q shown as %q: has %q", store, it.Value, secret)
				}
			}
		}
	}
}
