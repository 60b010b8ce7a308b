package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	// 1..100 ms: the p-th percentile by nearest rank is p ms.
	var l Latencies
	for i := 100; i >= 1; i-- { // unsorted on purpose: Summarize sorts
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	s := l.Summarize()
	want := Summary{N: 100, P50: 50 * time.Millisecond, P95: 95 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if s != want {
		t.Fatalf("Summarize(1..100 ms) = %+v, want %+v", s, want)
	}
	if l[0] != 100*time.Millisecond {
		t.Fatal("Summarize sorted its receiver; it must work on a copy")
	}
}

func TestPercentileOfSmallSets(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, c := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 1, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2), 51, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{ms(1, 2, 3, 4), 25, 1 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
	} {
		if got := Percentile(c.sorted, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.sorted, c.p, got, c.want)
		}
	}
}

func TestPerUnitAndRatioOfNothingAreZero(t *testing.T) {
	if PerUnit(5, 0) != 0 || Ratio(5, 0) != 0 {
		t.Fatal("division by an empty count must give 0, not Inf or NaN")
	}
	if PerUnit(6, 3) != 2 || Ratio(3, 4) != 0.75 {
		t.Fatal("PerUnit or Ratio divides wrongly")
	}
}

func TestDeriveComparesTheServerWithThePlainHash(t *testing.T) {
	r := StepResult{
		Spec:     StepSpec{Workload: FullFlow, Conns: 4},
		Window:   10 * time.Second,
		Units:    50, // 5 flows/s
		Server:   ProcDelta{User: 4 * time.Second, System: time.Second, MinorFaults: 500},
		Limit:    HashLimit{Hashes: 300, Elapsed: 10 * time.Second, CPU: 6 * time.Second}, // 30/s, 20 ms each
		Machine:  MachineCPU{Busy: 15 * time.Second, Total: 20 * time.Second},
		PGCPU:    time.Second,
		BenchCPU: time.Second,
	}
	d := Derive(r)
	check := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("rate", d.Rate, 5)
	check("limit (30 hashes/s, 3 per flow)", d.Limit, 10)
	check("of limit", d.OfLimit, 0.5)
	check("CPU per flow (ms)", ms(d.CPUPerUnit), 100)
	check("hash CPU per flow (ms)", ms(d.HashCPUPerUnit), 60)
	check("efficiency", d.Efficiency, 0.6)
	check("faults per flow", d.FaultsPerUnit, 10)
	check("other load (15 busy - 5 server - 1 pg - 1 bench over 10 s)", d.OtherCores, 0.8)
}

func TestParseStatCountsFieldsAfterTheCommandName(t *testing.T) {
	// A command name with spaces and a parenthesis must not shift the fields.
	line := "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 777 0 3 0 250 40 0 0 20 0 9 0 100 0 0"
	s, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.MinorFaults != 777 || s.MajorFaults != 3 || s.User != 2500*time.Millisecond || s.System != 400*time.Millisecond {
		t.Fatalf("parseStat = %+v, want 777 minor, 3 major faults, 2.5s user, 0.4s system", s)
	}
	if _, err := parseStat([]byte("1234 (x) S 1 2")); err == nil {
		t.Fatal("a short line parsed")
	}
}

func TestActivationCodeFromAQuotedPrintableMultipartEmail(t *testing.T) {
	raw := strings.ReplaceAll(`From: Identity <no-reply@localhost>
To: a@example.com
Subject: Your activation code
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=XYZ

--XYZ
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Hello,

Your activation code is:

0427

It expires in 1m0s, at 2026-11-26T02:00:00Z, a very long line that is wrapped=
 by quoted-printable.
--XYZ
Content-Type: text/html; charset=UTF-8

<p>1111</p>
--XYZ--
`, "\n", "\r\n")
	code, err := activationCode([]byte(raw))
	if err != nil || code != "0427" {
		t.Fatalf("activationCode = %q, %v; want 0427", code, err)
	}
	if _, err := activationCode([]byte("Content-Type: text/html\r\n\r\n<p>1234</p>\r\n")); err == nil {
		t.Fatal("a code found in an email without a text/plain part")
	}
}

func TestParseVariants(t *testing.T) {
	v, err := ParseVariants("before=GOGC=100; after=")
	if err != nil || len(v) != 2 || v[0].Name != "before" || len(v[0].Env) != 1 || v[0].Env[0] != "GOGC=100" || v[1].Name != "after" || len(v[1].Env) != 0 {
		t.Fatalf("ParseVariants = %+v, %v", v, err)
	}
	if _, err := ParseVariants("before=GOGC"); err == nil {
		t.Fatal("an environment entry without = parsed")
	}
}
