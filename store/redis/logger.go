package redis

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// go-redis writes its own unstructured lines to stderr ("redis: …
// pool.go:770: connection pool: failed to dial …"), one per failed dial:
// while Redis is down that floods the journal beside hamlet's own
// structured warnings, which already name each failed operation. They go
// to slog at debug level instead.
func init() { goredis.SetLogger(debugLogger{}) }

type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
