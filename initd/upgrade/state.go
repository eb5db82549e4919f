package upgrade

import (
	"strings"

	"github.com/kiln-os/kiln/bootloader/entry"
)

// State is what a mounted ESP's EFI/Linux says of this boot, for runtime/BootStatus.
type State struct {
	// Booted is the booted UKI's file name as it is in the directory.
	Booted string
	// Standby is the previous good UKI (the newest blessed one that is not booted), the
	// one systemd-boot falls back to; "" if none.
	Standby string
	// Failed is the newest UKI newer than the booted one that systemd-boot has tried (its
	// counter shows a try used) and that did not become the booted one: an upgrade that
	// fell back. "" if none. An untried "+3" (a staged upgrade) is not a failure.
	Failed string
}

// Inspect reads linuxDir and reports booted, the standby and a fallback. It only reads.
func Inspect(linuxDir, booted string) (State, error) {
	entries, err := readKiln(linuxDir)
	if err != nil {
		return State{}, err
	}
	st := State{}
	var self entry.Entry // a copy: entries is sorted below
	for _, e := range entries {
		if strings.EqualFold(e.Name(), booted) {
			self, st.Booted = e, e.Name()
		}
	}
	if st.Booted == "" {
		return State{}, refuse(CheckESP, ErrBootedMissing)
	}
	st.Standby = previousGood(entries, st.Booted)
	entry.Sort(entries) // newest first, bad ones last
	var failed []entry.Entry
	for _, e := range entries {
		if e.Counting && e.Done > 0 && entry.CompareVersions(e.Version, self.Version) > 0 {
			failed = append(failed, e)
		}
	}
	if len(failed) > 0 {
		newest := failed[0]
		for _, e := range failed[1:] {
			if entry.CompareVersions(e.Version, newest.Version) > 0 {
				newest = e
			}
		}
		st.Failed = newest.Name()
	}
	return st, nil
}
