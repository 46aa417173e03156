package daemon

import (
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
)

// procs remembers whether the cpus option changed GOMAXPROCS, so that a
// reload back to 0 can give Go's default back.
var procs struct {
	sync.Mutex
	set bool
}

// applyCPUs sets how many CPUs Go code runs on at once: n > 0 caps it,
// 0 leaves (or restores) Go's default — every CPU the process may use,
// or the GOMAXPROCS environment variable.
//
// Why a cap helps: on a small host hamlet shares with its MTA, Postfix's
// processes need most of the CPU and hamlet's own work per message comes
// in short bursts (a milter packet, a DNS answer, a check). With every CPU
// at its disposal, Go wakes a second thread for each burst to look for
// more work: on two cores, at 400 msg/s over the milter socket, cpus = 1
// took about a fifth off hamlet's CPU per message (bench/mta -hamlet-cpus,
// frontend/README). The price: hamlet's peak is then n CPUs' worth.
func applyCPUs(n int, log *slog.Logger) {
	procs.Lock()
	defer procs.Unlock()
	switch {
	case n > 0:
		if runtime.GOMAXPROCS(0) != n {
			runtime.GOMAXPROCS(n)
			log.Info("Go code runs on at most this many CPUs at once (cpus)", "cpus", n, "host_cpus", runtime.NumCPU())
		}
		procs.set = true
	case procs.set:
		procs.set = false
		if env, err := strconv.Atoi(os.Getenv("GOMAXPROCS")); err == nil && env > 0 {
			runtime.GOMAXPROCS(env)
		} else {
			runtime.SetDefaultGOMAXPROCS()
		}
		log.Info("Go code runs on Go's default number of CPUs (cpus = 0)", "cpus", runtime.GOMAXPROCS(0))
	}
}
