package kspp

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is the outcome of one rule.
type Result struct {
	Rule
	// Got is the value found ("n" for an unset Kconfig symbol, "" for a missing parameter).
	Got string
	// State is "ok", "fail", "n/a" or "exception".
	State string
}

// Failed reports whether a required rule does not hold.
func (r Result) Failed() bool { return r.State == "fail" }

// CheckConfig checks every Kconfig rule against a resolved configuration, given as symbol →
// value with "n" (or absence) for an unset symbol.
func CheckConfig(config map[string]string) []Result {
	var out []Result
	for _, rule := range Rules() {
		if rule.Kind != Kconfig {
			continue
		}
		got, ok := config[rule.Name]
		if !ok || got == "" {
			got = "n"
		}
		out = append(out, judge(rule, got, got == rule.Value))
	}
	return out
}

// CheckCmdline checks every command-line rule against a kernel command line.
func CheckCmdline(cmdline string) []Result {
	params := ParseCmdline(cmdline)
	var out []Result
	for _, rule := range Rules() {
		if rule.Kind != Cmdline {
			continue
		}
		got, present := params[rule.Name]
		ok := present && got == rule.Value
		if !present {
			got = "(missing)"
		} else if got == "" {
			got = "(set)"
		}
		out = append(out, judge(rule, got, ok))
	}
	return out
}

// CheckSysctl judges one sysctl rule against the value read back from /proc/sys.
func CheckSysctl(rule Rule, got string) Result {
	got = strings.TrimSpace(got)
	return judge(rule, got, got == rule.Value)
}

func judge(rule Rule, got string, ok bool) Result {
	r := Result{Rule: rule, Got: got}
	switch {
	case rule.Status == NotApplicable:
		r.State = "n/a"
	case rule.Status == Exception:
		r.State = "exception"
	case ok:
		r.State = "ok"
	default:
		r.State = "fail"
	}
	return r
}

// ParseCmdline splits a kernel command line into parameters; a bare flag maps to "".
// Double quotes group words as the kernel's own parser does; a later parameter wins.
func ParseCmdline(cmdline string) map[string]string {
	params := map[string]string{}
	for _, word := range splitCmdline(cmdline) {
		name, value, _ := strings.Cut(word, "=")
		params[name] = strings.Trim(value, `"`)
	}
	return params
}

func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	quoted := false
	for _, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
			cur.WriteRune(c)
		case (c == ' ' || c == '\t' || c == '\n') && !quoted:
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(c)
		}
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

// Failures returns the failed results.
func Failures(results []Result) []Result {
	var out []Result
	for _, r := range results {
		if r.Failed() {
			out = append(out, r)
		}
	}
	return out
}

// WriteText prints the results as a table: state, kind, name, wanted, got, reason or why.
func WriteText(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tKIND\tNAME\tWANT\tGOT\tREASON")
	for _, r := range results {
		note := r.Reason
		if r.Why != "" {
			note = r.Why
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.State, r.Kind, r.Name, show(r.Value), show(r.Got), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d rules: %s\n", len(results), summary(results))
	return err
}

func show(v string) string {
	if v == "" {
		return "(set)"
	}
	return v
}

func summary(results []Result) string {
	counts := map[string]int{}
	for _, r := range results {
		counts[r.State]++
	}
	return fmt.Sprintf("%d ok, %d fail, %d n/a, %d exception", counts["ok"], counts["fail"], counts["n/a"], counts["exception"])
}

type jsonResult struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Why    string `json:"why,omitempty"`
}

// WriteJSON writes the results as an indented JSON array.
func WriteJSON(w io.Writer, results []Result) error {
	out := make([]jsonResult, 0, len(results))
	for _, r := range results {
		out = append(out, jsonResult{r.Kind.String(), r.Name, r.Value, r.Got, r.State, r.Reason, r.Why})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
