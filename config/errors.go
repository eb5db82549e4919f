package config

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one problem with one field. Line is the 1-based line in the YAML
// document, 0 when the problem was found after decoding (by Validate).
type FieldError struct {
	Line   int
	Path   string // e.g. machine.network.interfaces[0].dhcp; empty for the document
	Reason string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// FieldErrors is every problem found in one document, in document order. Decode and
// Validate return it, so that a user sees all mistakes at once; errors.As finds it.
type FieldErrors []*FieldError

func (errs FieldErrors) Error() string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each FieldError.
func (errs FieldErrors) Unwrap() []error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return out
}

// errorList collects FieldErrors while walking a document or a config.
type errorList struct {
	errs FieldErrors
}

func (l *errorList) add(line int, path, format string, args ...any) {
	l.errs = append(l.errs, &FieldError{Line: line, Path: path, Reason: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was collected. (A nil FieldErrors in an error interface
// would not be nil.)
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return l.errs
}

// ErrInvalid is matched (errors.Is) by every error of Decode and Validate, and so of Load:
// the config was rejected for what it says, not for anything on the node. The
// FieldErrors stay reachable with errors.As.
var ErrInvalid = errors.New("config: invalid machine config")

// Is makes every FieldError, and so FieldErrors, match ErrInvalid.
func (e *FieldError) Is(target error) bool {
	return target == ErrInvalid
}

// invalidError is a rejection of the whole document (not YAML, empty, several
// documents) that also matches ErrInvalid, with its message unchanged.
type invalidError struct {
	err error
}

func invalid(err error) error {
	return &invalidError{err: err}
}

func (e *invalidError) Error() string {
	return e.err.Error()
}

func (e *invalidError) Unwrap() []error {
	return []error{e.err, ErrInvalid}
}

// ErrNeedsReboot is matched (errors.Is) by a *NeedsRebootError.
var ErrNeedsReboot = errors.New("config: the change needs a reboot")

// NeedsRebootError refuses a config change that the running node cannot apply live,
// naming the fields that need the reboot (Change.Path).
type NeedsRebootError struct {
	Paths []string
}

func (e *NeedsRebootError) Error() string {
	return fmt.Sprintf("config: these fields change only with a reboot: %s; apply with --mode reboot or auto", strings.Join(e.Paths, ", "))
}

// Is makes a NeedsRebootError match ErrNeedsReboot.
func (e *NeedsRebootError) Is(target error) bool {
	return target == ErrNeedsReboot
}
