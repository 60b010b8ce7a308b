package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc (USER_HZ, 100 on every Linux build
// this tool runs on).
const clockTick = 10 * time.Millisecond

// ProcSample is what /proc tells of one process at one moment.
type ProcSample struct {
	User, System time.Duration
	MinorFaults  uint64
	MajorFaults  uint64
	PeakRSSKiB   uint64 // VmHWM: the high-water mark since start or the last ResetPeakRSS
	RSSKiB       uint64
}

// CPU is user plus system time.
func (s ProcSample) CPU() time.Duration { return s.User + s.System }

// ReadProc samples process pid from /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read /proc stat of %d: %w", pid, err)
	}
	s, err := parseStat(raw)
	if err != nil {
		return ProcSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read /proc status of %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		field := strings.Fields(value)
		if len(field) == 0 {
			continue
		}
		n, err := strconv.ParseUint(field[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmHWM":
			s.PeakRSSKiB = n
		case "VmRSS":
			s.RSSKiB = n
		}
	}
	return s, nil
}

// parseStat reads the fields of a /proc/PID/stat line this tool uses. The command name
// (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
func parseStat(raw []byte) (ProcSample, error) {
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return ProcSample{}, fmt.Errorf("no command name in %q", raw)
	}
	f := strings.Fields(string(raw[end+1:]))
	// f[0] is field 3 (state): field N is f[N-3].
	if len(f) < 13 {
		return ProcSample{}, fmt.Errorf("short stat line %q", raw)
	}
	num := func(field int) uint64 {
		n, _ := strconv.ParseUint(f[field-3], 10, 64)
		return n
	}
	return ProcSample{
		MinorFaults: num(10),
		MajorFaults: num(12),
		User:        time.Duration(num(14)) * clockTick, //nolint:gosec // CPU ticks of one process fit
		System:      time.Duration(num(15)) * clockTick, //nolint:gosec // CPU ticks of one process fit
	}, nil
}

// ResetPeakRSS resets VmHWM of pid to its current RSS (Linux ≥ 4.0), so the next sample's
// peak is the peak of the step that starts now.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// MachineCPU is the machine's CPU time from /proc/stat: busy (everything but idle and
// iowait) and total, summed over every CPU.
type MachineCPU struct {
	Busy, Total time.Duration
}

// ReadMachineCPU reads the first line of /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 6 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var m MachineCPU
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("/proc/stat field %d: %w", i+1, err)
		}
		d := time.Duration(n) * clockTick //nolint:gosec // machine CPU ticks fit
		m.Total += d
		if i != 3 && i != 4 { // idle, iowait
			m.Busy += d
		}
	}
	return m, nil
}

// LoadAverage returns the first three fields of /proc/loadavg.
func LoadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return strings.TrimSpace(string(raw))
	}
	return strings.Join(f[:3], " ")
}
