//go:build !unix

package milter

// DefaultMaxConnections is a fixed 512 where the descriptor limit cannot
// be read.
func DefaultMaxConnections() int { return 512 }
