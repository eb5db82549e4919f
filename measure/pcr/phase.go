package pcr

// The phase words Kiln extends into PCR 11 during boot, as systemd-pcrphase does: stage 1
// extends PhaseEnterInitrd before it mounts the root image and PhaseLeaveInitrd after;
// machined extends PhaseSysinit as soon as STATE is open (or the boot failed before), and
// PhaseReady once the boot is ready. STATE's key is sealed to the value after
// PhaseLeaveInitrd, so PhaseSysinit is the lock: nothing that listens on the network runs
// before it. The words and their order are systemd's (systemd-pcrphase.service(8)). The builder predicts PCR 11 after each
// (uki/pcrsig) and the node measures them (initd/pcrphase), so both read the words here: a
// word spelt differently on one side would make every signed policy miss.
const (
	PhaseEnterInitrd = "enter-initrd"
	PhaseLeaveInitrd = "leave-initrd"
	PhaseSysinit     = "sysinit"
	PhaseReady       = "ready"
)

// Phases returns the phase words in the order the boot extends them. It is a function, not
// a variable, so that no importer can reorder the boot for every other.
func Phases() []string {
	return []string{PhaseEnterInitrd, PhaseLeaveInitrd, PhaseSysinit, PhaseReady}
}
