package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Series is one line of a panel.
type Series struct {
	Name   string
	Color  string
	Dashed bool
	// Y has one value per x category; NaN leaves a gap.
	Y []float64
}

// Panel is one chart: categories along x, values along y from 0.
type Panel struct {
	Title, YLabel string
	X             []string
	Series        []Series
}

// Chart draws throughput and p99 against concurrency, one row of two panels per hash
// setting, as a standalone SVG document.
func Chart(res Results) string {
	var rows [][2]Panel
	for _, s := range res.Settings {
		rows = append(rows, settingPanels(s))
		if s.Extra != nil {
			if row, ok := extraPanels(s); ok {
				rows = append(rows, row)
			}
		}
	}
	const panelW, panelH = 460, 300
	w, h := 2*panelW, len(rows)*panelH+30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	label := "identity: throughput and p99 against concurrency (closed loop)"
	if res.Machine.Commit != "" {
		label += ", commit " + res.Machine.Commit
	}
	fmt.Fprintf(&b, `<text x="%d" y="20" text-anchor="middle" font-size="14">%s</text>`+"\n", w/2, html.EscapeString(label))
	for i, row := range rows {
		for j, p := range row {
			if len(p.X) == 0 {
				continue // a row of the busy-client and scale steps without one of them
			}
			drawPanel(&b, p, float64(j*panelW), float64(30+i*panelH), panelW, panelH)
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func settingPanels(s SettingResults) [2]Panel {
	var conns []int
	for _, r := range s.Steps {
		if r.Spec.Workload == RegisterOnly && !containsInt(conns, r.Spec.Conns) {
			conns = append(conns, r.Spec.Conns)
		}
	}
	for _, r := range s.Steps {
		if r.Spec.Workload == FullFlow && !containsInt(conns, r.Spec.Conns) {
			conns = append(conns, r.Spec.Conns)
		}
	}
	x := make([]string, len(conns))
	for i, c := range conns {
		x[i] = fmt.Sprint(c)
	}
	series := func(w Workload, value func(StepResult) float64) []float64 {
		y := make([]float64, len(conns))
		for i := range y {
			y[i] = math.NaN()
		}
		for _, r := range s.Steps {
			if r.Spec.Workload != w {
				continue
			}
			for i, c := range conns {
				if c == r.Spec.Conns {
					y[i] = value(r)
				}
			}
		}
		return y
	}
	flat := func(v float64) []float64 {
		y := make([]float64, len(conns))
		for i := range y {
			y[i] = v
		}
		return y
	}
	rate := func(r StepResult) float64 { return r.Rate() }
	p99 := func(route string) func(StepResult) float64 {
		return func(r StepResult) float64 { return ms(r.Latency[route].P99) }
	}
	limit := s.Limit.PerSecond()
	title := fmt.Sprintf("%s hash (%s)", s.Hash.Name, s.Hash)
	throughput := []Series{
		{Name: "registrations/s (register-only)", Color: "#1f77b4", Y: series(RegisterOnly, rate)},
		{Name: "flows/s (full flow)", Color: "#d62728", Y: series(FullFlow, rate)},
	}
	top := 0.0
	for _, r := range s.Steps {
		top = max(top, r.Rate())
	}
	// The limit is drawn where it bounds the service; with the cheapest hash it is
	// far out of the picture and would squash the measured lines.
	if limit <= 3*top {
		throughput = append(throughput,
			Series{Name: "hash-bound limit, registrations", Color: "#1f77b4", Dashed: true, Y: flat(limit)},
			Series{Name: "hash-bound limit, flows", Color: "#d62728", Dashed: true, Y: flat(limit / 3)})
	}
	return [2]Panel{
		{Title: title + ": throughput", YLabel: "per second", X: x, Series: throughput},
		{
			Title: title + ": p99 latency", YLabel: "ms",
			X: x,
			Series: []Series{
				{Name: "POST /v1/users p99 (register-only)", Color: "#1f77b4", Y: series(RegisterOnly, p99(routeRegister))},
				{Name: "whole flow p99 (incl. email wait)", Color: "#d62728", Y: series(FullFlow, p99(routeFlow))},
			},
		},
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func drawPanel(b *strings.Builder, p Panel, x0, y0, w, h float64) {
	const left, right, top, bottom = 60.0, 15.0, 25.0, 110.0
	pw, ph := w-left-right, h-top-bottom
	ox, oy := x0+left, y0+top+ph // origin: bottom left of the plot area

	maxY := 0.0
	for _, s := range p.Series {
		for _, v := range s.Y {
			if !math.IsNaN(v) && v > maxY {
				maxY = v
			}
		}
	}
	step := niceStep(maxY / 5)
	top5 := math.Max(step, math.Ceil(maxY/step)*step)

	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12" font-weight="bold">%s</text>`+"\n", x0+w/2, y0+15, html.EscapeString(p.Title))
	// y grid and ticks
	for v := 0.0; v <= top5+step/2; v += step {
		y := oy - v/top5*ph
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", ox, y, ox+pw, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", ox-5, y+4, formatTick(v))
	}
	fmt.Fprintf(b, `<text transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", x0+14, y0+top+ph/2, html.EscapeString(p.YLabel))
	// x axis: categories evenly spaced (1, 4, 16, 64 are evenly spaced on a log scale)
	n := len(p.X)
	xAt := func(i int) float64 {
		if n == 1 {
			return ox + pw/2
		}
		return ox + 20 + float64(i)*(pw-40)/float64(n-1)
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", ox, oy, ox+pw, oy)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", ox, oy, ox, oy-ph)
	for i, label := range p.X {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xAt(i), oy+15, html.EscapeString(label))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">connections</text>`+"\n", ox+pw/2, oy+30)
	// series
	for si, s := range p.Series {
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", s.Color, dash, strings.Join(pts, " "))
			}
			pts = nil
		}
		for i, v := range s.Y {
			if math.IsNaN(v) {
				flush()
				continue
			}
			px, py := xAt(i), oy-v/top5*ph
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
			if !s.Dashed {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %s</title></circle>`+"\n", px, py, s.Color, html.EscapeString(s.Name), formatTick(v))
			}
		}
		flush()
		// legend
		ly := oy + 45 + float64(si)*14
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", ox, ly-4, ox+24, ly-4, s.Color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", ox+30, ly, html.EscapeString(s.Name))
	}
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// extraPanels draws the busy-client and scale comparisons of a setting as ratios against
// their goals.
func extraPanels(s SettingResults) ([2]Panel, bool) {
	x := *s.Extra
	goal := func(n int, v float64) []float64 {
		y := make([]float64, n)
		for i := range y {
			y[i] = v
		}
		return y
	}
	var row [2]Panel
	ok := false
	if many, one, have := busyPair(x.Busy); have {
		p := Panel{Title: fmt.Sprintf("%s hash: a busy client, one ÷ many clients", s.Hash.Name), YLabel: "ratio"}
		var y []float64
		for _, route := range busyRoutes {
			p.X = append(p.X, shortRoute(route))
			y = append(y, Ratio(perSecond(one, route), perSecond(many, route)))
		}
		p.Series = []Series{{Name: "one client ÷ many", Color: "#1f77b4", Y: y}, {Name: "goal 0.8", Color: "#7f7f7f", Dashed: true, Y: goal(len(y), 0.8)}}
		row[0], ok = p, true
	}
	if len(x.Full) > 0 {
		p := Panel{Title: fmt.Sprintf("%s hash: big tables, filled ÷ empty", s.Hash.Name), YLabel: "ratio"}
		var y, g []float64
		for _, full := range x.Full {
			for _, empty := range x.Empty {
				if empty.Spec.Workload == full.Spec.Workload {
					p.X = append(p.X, string(full.Spec.Workload))
					y = append(y, Ratio(full.Rate(), empty.Rate()))
					g = append(g, scaleGoal(full.Spec.Workload))
				}
			}
		}
		p.Series = []Series{{Name: "filled ÷ empty", Color: "#d62728", Y: y}, {Name: "goal", Color: "#7f7f7f", Dashed: true, Y: g}}
		row[1], ok = p, true
	}
	return row, ok
}
