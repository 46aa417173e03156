// Package stores opens the store a configuration names. It is separate
// from package store so that the interface does not import its
// implementations.
package stores

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
)

// Open opens the store named by spec:
//
//	""  or "bolt"              the embedded store, dataDir/hamlet.db
//	"bolt:/path/to/file.db"    the embedded store at that path
//	"redis://host:6379/0?..."  Redis (see redis.ParseURL); rediss:// for TLS
func Open(spec, dataDir string, opts store.Options) (store.Store, error) {
	switch {
	case spec == "" || spec == "bolt":
		if dataDir == "" {
			return nil, fmt.Errorf("store: the embedded store needs a data directory")
		}
		return bolt.Open(filepath.Join(dataDir, bolt.FileName), opts)
	case strings.HasPrefix(spec, "bolt:"):
		p := strings.TrimPrefix(strings.TrimPrefix(spec, "bolt:"), "//")
		if p == "" {
			return nil, fmt.Errorf("store: %q names no file", spec)
		}
		return bolt.Open(p, opts)
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		return redis.Open(spec, opts)
	}
	return nil, fmt.Errorf("store: unknown store %q (want \"bolt\", \"bolt:/path\" or \"redis://host:6379/0\")", spec)
}
