package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/controller"
)

// hamlet refuses to start with the controller beyond loopback and no
// password, and with a password that is not a hash.
func TestControllerListenNeedsPassword(t *testing.T) {
	hash, err := controller.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, toml, want string
	}{
		{"wildcard without password", "[controller]\nlisten = \"0.0.0.0:11334\"\n", "beyond loopback"},
		{"LAN address without password", "[controller]\nlisten = \"192.168.1.5:11334\"\n", "no password"},
		{"plain-text password", "[controller]\npassword = \"hunter2\"\n", "hamlet passwd"},
		{"bad secure_ip", "[controller]\nsecure_ip = [\"lan\"]\n", "secure_ip"},
		{"wildcard with password", "[controller]\nlisten = \"0.0.0.0:11334\"\nenable_password = \"" + hash + "\"\n", ""},
		{"loopback without password", "[controller]\nlisten = \"127.0.0.1:11334\"\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "hamlet.toml")
			if err := os.WriteFile(f, []byte("data_dir = \""+t.TempDir()+"\"\n"+tt.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSettings(f, Overrides{})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("LoadSettings: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadSettings = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
