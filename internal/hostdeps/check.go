package hostdeps

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

var (
	// ErrAbsent: the file is not on this machine.
	ErrAbsent = errors.New("hostdeps: file absent")
	// ErrNotOwned: the file is there but no installed package lists it.
	ErrNotOwned = errors.New("hostdeps: no package owns the file")
)

// Owners says which installed packages own path: ErrAbsent or ErrNotOwned when none does.
type Owners func(path string) ([]string, error)

// Check reports every listed file whose package ci/deps.sh does not install (listed), or
// whose real owner differs from the one written down. With strict (CI), a file missing
// from the machine is a problem too: deps.sh ran first, so it should be there; without
// strict it is left for the oracle tests to skip. All problems come back in one error.
func Check(files []File, listed []string, owners Owners, strict bool) error {
	var problems []error
	for _, f := range files {
		if !slices.Contains(listed, f.Package) {
			problems = append(problems, fmt.Errorf("line %d: %s (used by %s) comes from Debian package %s, which ci/deps.sh does not install: add %s to PACKAGES",
				f.Line, f.Path, f.UsedBy, f.Package, f.Package))
		}
		if err := checkOwner(f, owners, strict); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

func checkOwner(f File, owners Owners, strict bool) error {
	pkgs, err := owners(f.Path)
	switch {
	case errors.Is(err, ErrAbsent):
		if strict {
			return fmt.Errorf("line %d: %s is missing although ci/deps.sh ran: install Debian package %s", f.Line, f.Path, f.Package)
		}
		return nil
	case errors.Is(err, ErrNotOwned):
		if f.How == Generated {
			return nil
		}
		return fmt.Errorf("line %d: no installed package owns %s: fix its package, or mark it %q if %s's scripts make it", f.Line, f.Path, Generated, f.Package)
	case err != nil:
		return fmt.Errorf("line %d: %s: %w", f.Line, f.Path, err)
	}
	if f.How == Generated {
		return fmt.Errorf("line %d: %s is owned by %s: mark it %q, not %q", f.Line, f.Path, strings.Join(pkgs, ", "), Owned, Generated)
	}
	if !slices.Contains(pkgs, f.Package) {
		return fmt.Errorf("line %d: %s is owned by %s, not %s as listed", f.Line, f.Path, strings.Join(pkgs, ", "), f.Package)
	}
	return nil
}
