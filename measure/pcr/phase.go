package pcr

// The phase words Kiln extends into PCR 11 during boot, as systemd-pcrphase does: stage 1
// extends PhaseEnterInitrd before it mounts the root image and PhaseLeaveInitrd after, and
// machined extends PhaseReady once the boot is ready. The builder predicts PCR 11 after each
// (uki/pcrsig) and the node measures them (initd/pcrphase), so both read the words here: a
// word spelt differently on one side would make every signed policy miss.
const (
	PhaseEnterInitrd = "enter-initrd"
	PhaseLeaveInitrd = "leave-initrd"
	PhaseReady       = "ready"
)

// Phases returns the phase words in the order the boot extends them. It is a function, not
// a variable, so that no importer can reorder the boot for every other.
func Phases() []string {
	return []string{PhaseEnterInitrd, PhaseLeaveInitrd, PhaseReady}
}
