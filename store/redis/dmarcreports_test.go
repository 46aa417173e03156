package redis

import (
	"testing"

	"github.com/hamlet-mail/hamlet/store/redis/redistest"
	"github.com/hamlet-mail/hamlet/store/storetest"
)

func TestDMARCReports(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunDMARCReports(t, opener(srv))
}
