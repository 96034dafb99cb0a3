package config

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// GC is how the process collects garbage.
//
// Go's default (a collection each time the heap doubles) suits a program
// whose live heap is large next to what it allocates. A gateway is the
// opposite: a few megabytes live, and every request allocates some tens
// of kilobytes that die at its end, so by default it collects dozens of
// times a second and spends a fifth of its CPU doing it (the side-by-side
// benchmark in the README: the member list served 1,400 requests a second
// with GOGC=100 and 1,670 with GOGC=400). A higher percent collects less
// often; a soft memory limit keeps that from growing the heap past what
// the process may use: near the limit Go collects as often as it must.
type GC struct {
	// Percent is GOGC: collect when the heap has grown by this many
	// percent of what the last collection kept.
	Percent int
	// Limit is GOMEMLIMIT in bytes; 0 for none.
	Limit int64
	// FromEnv reports that GOGC or GOMEMLIMIT is set, and Go applied it
	// itself; the process then leaves both as they are.
	FromEnv bool
}

// gcPercent is the percent used when GOGC is not set.
const gcPercent = 400

// GCPolicy decides the collector's settings: those of GOGC and GOMEMLIMIT
// when either is set (Go reads them itself), else gcPercent with a soft
// limit of three quarters of the memory the process may use: its cgroup's
// limit when it has one, else the machine's memory (0 when neither is
// known: no limit).
func GCPolicy(getenv func(string) string, cgroupLimit, physical uint64) GC {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return GC{FromEnv: true}
	}
	available := physical
	if cgroupLimit > 0 && (available == 0 || cgroupLimit < available) {
		available = cgroupLimit
	}
	return GC{Percent: gcPercent, Limit: int64(available / 4 * 3)}
}

// MemoryAvailable reads the limit of the process's cgroup (v2, then v1;
// 0 when there is none) and the machine's physical memory (0 if unknown).
func MemoryAvailable() (cgroupLimit, physical uint64) {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// "max" (v2) or a huge number (v1) means no limit.
		if n, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64); err == nil && n < 1<<62 {
			cgroupLimit = n
		}
		break
	}
	var info syscall.Sysinfo_t
	if err := syscall.Sysinfo(&info); err == nil {
		physical = uint64(info.Totalram) * uint64(info.Unit)
	}
	return cgroupLimit, physical
}
