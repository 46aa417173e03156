package bolt

import (
	"testing"

	"github.com/hamlet-mail/hamlet/store/storetest"
)

func TestDMARCReports(t *testing.T) { storetest.RunDMARCReports(t, openTemp) }
