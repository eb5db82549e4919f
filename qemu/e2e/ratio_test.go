package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
)

// ratioRuns is how many counted boots each side of each path gets, interleaved (issue 16:
// at least 5), after one warm-up round.
const ratioRuns = 5

// extraTaskThreshold: tasks shorter than this are left out of where Kiln's time goes.
const extraTaskThreshold = 100 * time.Millisecond

// bootPath is one way to boot, run twice per round: Kiln's image to ready, and the bare
// path (the same kernel and firmware with an /init that only says it runs).
type bootPath struct {
	name string
	// kiln and bare start one boot each; disk paths power off cleanly, so that the next
	// boot of the same disk is an ordinary reboot.
	kiln, bare func(t *testing.T) *qemu.VM
	cleanOff   bool
}

// sideRun is one boot: QEMU start → ready on the host, and what the guest says of it.
type sideRun struct {
	Total  float64 `json:"qemuStartToReadySeconds"`
	Kernel float64 `json:"kernelToReadySeconds"`
	Pieces []piece `json:"pieces"`
}

// piece is one part of a boot, in the order the boot went through it.
type piece struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// TestBootRatio boots Kiln and the bare path side by side, interleaved, for four paths:
// direct diskless, direct with a disk and swtpm, UEFI Secure Boot from the ISO and from the
// disk, and writes the medians, spreads, ratios and where Kiln's extra time goes to
// _out/qemu-logs/boot-ratio.json. The bare path is the same vmlinuz with an initramfs whose
// /init is testdata/bareinit; for UEFI it is a UKI of the same size (the bare initramfs
// padded with zeros, which the kernel's unpacker skips), signed with the image's key, in
// place of Kiln's on a copy of the same medium. Each round also boots the bare UKI from
// disk at five sizes, for how the time before the kernel (firmware, systemd-boot, stub)
// grows with the UKI. It is a benchmark, not a check: `make bench` runs it
// (KILN_BENCH_RATIO=1).
func TestBootRatio(t *testing.T) {
	if os.Getenv("KILN_BENCH_RATIO") == "" {
		t.Skip("a benchmark: make bench runs it")
	}
	img := requireUEFI(t)
	work := t.TempDir()
	bareInitrd := filepath.Join(work, "bare.cpio.zst")
	writeInitOnlyInitramfs(t, buildBareInit(t, work), bareInitrd)
	kilnUKI := readArtifact(t, img, "uki")
	bareUKI := sameSizeBareUKI(t, img, kilnUKI, bareInitrd)
	t.Logf("UKI bytes: Kiln %d, bare %d", len(kilnUKI), len(bareUKI))
	enrolled := enrolledVars(t, img)

	// Direct boot with a disk: STATE is plain there (no stub, so no PCR public key to seal
	// with); the swtpm is attached all the same. The first boot makes STATE and EPHEMERAL,
	// untimed; the timed ones are reboots.
	directDisk, directTPM := filepath.Join(work, "direct.raw"), filepath.Join(work, "direct-tpm")
	copySparse(t, artifact(t, img, "disk"), directDisk)
	prepare(t, start(t, context.Background(), img, "ratio-direct-disk-first", img.cmdline, withConfig(t),
		qemu.WithDisk(directDisk), qemu.WithTPM(directTPM)))

	// UEFI from disk: the first boot seals STATE to swtpm and blesses the UKI, untimed. The
	// bare disk is a copy of that disk with the bare UKI under the blessed name.
	uefiDisk, uefiVars, uefiTPM := filepath.Join(work, "uefi.raw"), filepath.Join(work, "uefi.vars.fd"), filepath.Join(work, "uefi-tpm")
	copySparse(t, artifact(t, img, "disk"), uefiDisk)
	copyFile(t, enrolled, uefiVars)
	uefiOpts := []qemu.Option{qemu.WithUEFIVars(ovmfCode, uefiVars), qemu.WithDisk(uefiDisk), qemu.WithTPM(uefiTPM)}
	prepare(t, startUEFI(t, img, "ratio-uefi-disk-first", uefiOpts...))
	blessed := espListing(t, uefiDisk, "::/EFI/Linux")
	if len(blessed) != 1 {
		t.Fatalf("EFI/Linux after the first boot = %v, want one blessed UKI", blessed)
	}
	bareDisk, bareDiskVars := filepath.Join(work, "bare-uefi.raw"), filepath.Join(work, "bare-uefi.vars.fd")
	copySparse(t, uefiDisk, bareDisk)
	copyFile(t, enrolled, bareDiskVars)
	bareEFI := filepath.Join(work, "bare.efi")
	if err := os.WriteFile(bareEFI, bareUKI, 0o644); err != nil {
		t.Fatal(err)
	}
	mtools(t, "mcopy", "-o", "-i", bareDisk+espOffset, bareEFI, "::/EFI/Linux/"+blessed[0])

	bareISO := filepath.Join(work, "bare.iso")
	copyFile(t, artifact(t, img, "iso"), bareISO)
	replaceISOUKI(t, bareISO, bareEFI)
	// How the firmware, systemd-boot and the stub scale with the UKI's size: the bare UKI
	// at several sizes, each on its own copy of the bare disk, timed to the kernel's start.
	type sizedDisk struct {
		bytes      int
		disk, vars string
	}
	var sized []sizedDisk
	for i, size := range []int{0, 12e6, 18e6, len(kilnUKI), 32e6} {
		uki := paddedBareUKI(t, img, kilnUKI, bareInitrd, size)
		efi, disk, vars := filepath.Join(work, fmt.Sprintf("sized-%d.efi", i)), filepath.Join(work, fmt.Sprintf("sized-%d.raw", i)), filepath.Join(work, fmt.Sprintf("sized-%d.vars.fd", i))
		if err := os.WriteFile(efi, uki, 0o644); err != nil {
			t.Fatal(err)
		}
		copySparse(t, uefiDisk, disk)
		copyFile(t, enrolled, vars)
		mtools(t, "mcopy", "-o", "-i", disk+espOffset, efi, "::/EFI/Linux/"+blessed[0])
		sized = append(sized, sizedDisk{len(uki), disk, vars})
	}
	isoVars := func(name string) qemu.Option {
		vars := filepath.Join(work, name+".vars.fd")
		copyFile(t, enrolled, vars)
		return qemu.WithUEFIVars(ovmfCode, vars)
	}
	bareDirect := func(name string, opts ...qemu.Option) *qemu.VM {
		return start(t, context.Background(), img, name, img.cmdline, append([]qemu.Option{withConfig(t),
			qemu.WithKernel(img.vmlinuz, bareInitrd, img.cmdline)}, opts...)...)
	}
	paths := []bootPath{
		{name: "direct boot, diskless",
			kiln: func(t *testing.T) *qemu.VM {
				return start(t, context.Background(), img, "ratio-direct", img.cmdline, withConfig(t))
			},
			bare: func(t *testing.T) *qemu.VM { return bareDirect("ratio-direct-bare") }},
		{name: "direct boot, disk + swtpm (STATE plain)", cleanOff: true,
			kiln: func(t *testing.T) *qemu.VM {
				return start(t, context.Background(), img, "ratio-direct-disk", img.cmdline, withConfig(t),
					qemu.WithDisk(directDisk), qemu.WithTPM(directTPM))
			},
			bare: func(t *testing.T) *qemu.VM {
				return bareDirect("ratio-direct-disk-bare", qemu.WithDisk(directDisk), qemu.WithTPM(filepath.Join(work, "bare-tpm")))
			}},
		{name: "UEFI Secure Boot, ISO",
			kiln: func(t *testing.T) *qemu.VM {
				return startUEFI(t, img, "ratio-iso", isoVars("iso"), qemu.WithCDROM(artifact(t, img, "iso")))
			},
			bare: func(t *testing.T) *qemu.VM {
				return startUEFI(t, img, "ratio-iso-bare", isoVars("bare-iso"), qemu.WithCDROM(bareISO))
			}},
		{name: "UEFI Secure Boot, disk (sealed STATE, swtpm)", cleanOff: true,
			kiln: func(t *testing.T) *qemu.VM { return startUEFI(t, img, "ratio-uefi-disk", uefiOpts...) },
			bare: func(t *testing.T) *qemu.VM {
				return startUEFI(t, img, "ratio-uefi-disk-bare", qemu.WithUEFIVars(ovmfCode, bareDiskVars),
					qemu.WithDisk(bareDisk), qemu.WithTPM(filepath.Join(work, "bare-uefi-tpm")))
			}},
	}

	type result struct {
		Name    string     `json:"name"`
		Bare    []sideRun  `json:"bare"`
		Kiln    []sideRun  `json:"kiln"`
		Summary ratioTable `json:"summary"`
	}
	results := make([]result, len(paths))
	bySize := make([][]sideRun, len(sized))
	// Round -1 warms up and is not counted: it reads each medium into the host's page cache
	// and lets swtpm make each TPM, on both sides alike.
	for run := -1; run < ratioRuns; run++ {
		keep := func(runs []sideRun, r sideRun) []sideRun {
			if run < 0 {
				return runs
			}
			return append(runs, r)
		}
		for i, p := range paths {
			results[i].Name = p.name
			results[i].Bare = keep(results[i].Bare, bootOnce(t, p.bare, "bare", false))
			results[i].Kiln = keep(results[i].Kiln, bootOnce(t, p.kiln, "machined", p.cleanOff))
		}
		for i, d := range sized {
			bySize[i] = keep(bySize[i], bootOnce(t, func(t *testing.T) *qemu.VM {
				return startUEFI(t, img, fmt.Sprintf("ratio-uki-size-%d", i), qemu.WithUEFIVars(ovmfCode, d.vars), qemu.WithDisk(d.disk))
			}, "bare", false))
		}
	}
	type sizeRow struct {
		Bytes         int    `json:"bytes"`
		BeforeKernel  spread `json:"beforeKernelSeconds"`
		QEMUToBareEnd spread `json:"qemuStartToReadySeconds"`
	}
	var sizes []sizeRow
	for i, d := range sized {
		var before, total []float64
		for _, r := range bySize[i] {
			before, total = append(before, r.Total-r.Kernel), append(total, r.Total)
		}
		sizes = append(sizes, sizeRow{d.bytes, spreadOf(before), spreadOf(total)})
	}
	// Seconds per MB before the kernel: a least-squares line through the medians.
	var n, sx, sy, sxx, sxy float64
	for _, r := range sizes {
		x, y := float64(r.Bytes)/1e6, r.BeforeKernel.Median
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	t.Logf("before the kernel: %.3f s per MB of UKI (%+v)", slope, sizes)
	for i := range results {
		r := &results[i]
		r.Summary = summarize(r.Bare, r.Kiln)
		t.Logf("%s: bare %.2f s, Kiln %.2f s, ratio %.2f", r.Name, r.Summary.Bare.Median, r.Summary.Kiln.Median, r.Summary.Ratio)
	}
	data, _ := json.MarshalIndent(map[string]any{
		"runs": ratioRuns, "kilnUKIBytes": len(kilnUKI), "bareUKIBytes": len(bareUKI), "paths": results,
		"ukiSize": sizes, "secondsPerMBBeforeKernel": slope,
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(img.out, "qemu-logs", "boot-ratio.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// prepare waits for a first boot's ready and powers it off cleanly.
func prepare(t *testing.T, vm *qemu.VM) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
	defer cancel()
	waitReadyEvent(t, ctx, vm)
	powerOff(t, ctx, vm)
}

// bootOnce times one boot, from QEMU's start to the ready event of who ("machined" or
// "bare"), and reads the guest's own split from the events.
func bootOnce(t *testing.T, boot func(*testing.T) *qemu.VM, who string, cleanOff bool) sideRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
	defer cancel()
	started := time.Now()
	vm := boot(t)
	e, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeBoot, who, events.StateReady), qemu.Match(events.TypeBoot, who, events.StateFailed)))
	total := time.Since(started).Seconds()
	if err != nil {
		t.Fatalf("%s: no ready: %v (serial %s)", who, err, vm.LogPath())
	}
	if e.State != events.StateReady {
		t.Fatalf("%s: boot failed: %s (serial %s)", who, e.Error, vm.LogPath())
	}
	uptime, err := strconv.ParseFloat(e.Fields["uptime"], 64)
	if err != nil {
		t.Fatalf("%s: ready uptime %q: %v", who, e.Fields["uptime"], err)
	}
	r := sideRun{Total: total, Kernel: uptime, Pieces: []piece{{"before the kernel", total - uptime}}}
	if who == "machined" {
		r.Pieces = append(r.Pieces, kilnPieces(vm.Events())...)
	} else {
		r.Pieces = append(r.Pieces, piece{"kernel → init", uptime})
	}
	if cleanOff {
		powerOff(t, ctx, vm)
	} else {
		vm.Kill()
	}
	return r
}

// kilnPieces splits a Kiln boot from its events: kernel → stage 1, stage 1 → machined,
// each phase, and each task of extraTaskThreshold or more (tasks run inside phases).
func kilnPieces(evs []events.Event) []piece {
	var pieces []piece
	for _, e := range evs {
		switch {
		case e.Type == events.TypeBoot && e.Name == "machined" && e.State == events.StateStarted:
			stage1, err1 := strconv.ParseFloat(e.Fields["stage1Uptime"], 64)
			machined, err2 := strconv.ParseFloat(e.Fields["machinedUptime"], 64)
			if err1 == nil && err2 == nil {
				pieces = append(pieces, piece{"kernel → init", stage1}, piece{"stage 1 → machined", machined - stage1})
			}
		case (e.Type == events.TypePhase || e.Type == events.TypeTask) && e.State == events.StateDone:
			d, err := time.ParseDuration(e.Fields["duration"])
			if err != nil || (e.Type == events.TypeTask && d < extraTaskThreshold) {
				continue
			}
			pieces = append(pieces, piece{e.Type + " " + e.Name, d.Seconds()})
		}
	}
	return pieces
}

// spread is a median with the range it came from.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return spread{Median: s[len(s)/2], Min: s[0], Max: s[len(s)-1]}
}

// ratioTable is one path's summary: QEMU start → ready on each side, their ratio, and the
// median of each piece of each side's boot, in boot order (a piece missing from a run
// counts as 0 there).
type ratioTable struct {
	Bare       spread        `json:"bare"`
	Kiln       spread        `json:"kiln"`
	Ratio      float64       `json:"ratio"`
	KilnPieces []pieceSpread `json:"kilnPieces"`
	BarePieces []pieceSpread `json:"barePieces"`
}

type pieceSpread struct {
	Name string `json:"name"`
	spread
}

func summarize(bare, kiln []sideRun) ratioTable {
	totals := func(runs []sideRun) []float64 {
		var v []float64
		for _, r := range runs {
			v = append(v, r.Total)
		}
		return v
	}
	pieces := func(runs []sideRun) []pieceSpread {
		var order []string
		all := map[string][]float64{}
		for _, r := range runs {
			for _, p := range r.Pieces {
				if _, seen := all[p.Name]; !seen {
					order = append(order, p.Name)
				}
				all[p.Name] = append(all[p.Name], p.Seconds)
			}
		}
		var out []pieceSpread
		for _, name := range order {
			v := all[name]
			for len(v) < len(runs) {
				v = append(v, 0)
			}
			out = append(out, pieceSpread{name, spreadOf(v)})
		}
		return out
	}
	s := ratioTable{Bare: spreadOf(totals(bare)), Kiln: spreadOf(totals(kiln)), KilnPieces: pieces(kiln), BarePieces: pieces(bare)}
	if s.Bare.Median > 0 {
		s.Ratio = s.Kiln.Median / s.Bare.Median
	}
	return s
}

// buildBareInit builds testdata/bareinit, static, as the bare path's /init.
func buildBareInit(t *testing.T, work string) string {
	t.Helper()
	return buildTestProgram(t, work, "bareinit")
}

// buildTestProgram builds the program in testdata/NAME, static for linux/amd64, into
// work/NAME.
func buildTestProgram(t *testing.T, work, name string) string {
	t.Helper()
	bin := filepath.Join(work, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", bin, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/%s: %v\n%s", name, err, out)
	}
	return bin
}

// sameSizeBareUKI is Kiln's UKI with the bare initramfs for .initrd, padded with zeros to
// the size of Kiln's: the firmware reads, hashes and measures as many bytes, and the
// kernel's initramfs unpacker skips zeros between archives (Documentation/driver-api/
// early-userspace/buffer-format.rst allows padding). Signed with the image's db key.
func sameSizeBareUKI(t *testing.T, img image, kiln []byte, bareInitrd string) []byte {
	t.Helper()
	return paddedBareUKI(t, img, kiln, bareInitrd, len(kiln))
}

// paddedBareUKI is the bare UKI padded to about size bytes (section alignment rounds); a
// size below the unpadded UKI's gives the unpadded one.
func paddedBareUKI(t *testing.T, img image, kiln []byte, bareInitrd string, size int) []byte {
	t.Helper()
	initrd, err := os.ReadFile(bareInitrd)
	if err != nil {
		t.Fatal(err)
	}
	build := func(pad int) []byte {
		return reassembleUKI(t, img, kiln, func(name string, data []byte) []byte {
			if name == ".initrd" {
				return append(slices.Clone(initrd), make([]byte, pad)...)
			}
			return data
		})
	}
	unpadded := build(0)
	if len(unpadded) >= size {
		return unpadded
	}
	return build(size - len(unpadded))
}

// replaceISOUKI puts the UKI at efi in place of the one in the ISO's El Torito EFI boot
// image (a FAT image), found through the boot catalog: the Boot Record at sector 17 points
// to the catalog, whose first boot entry gives the image's start in 2048-byte sectors (El
// Torito 1.0, sections 2.0 and 2.2).
func replaceISOUKI(t *testing.T, iso, efi string) {
	t.Helper()
	data, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	const sector = 2048
	brvd := data[17*sector : 18*sector]
	if brvd[0] != 0 || !bytes.Equal(brvd[7:30], []byte("EL TORITO SPECIFICATION")) {
		t.Fatalf("%s: no El Torito boot record at sector 17", iso)
	}
	catalog := int(binary.LittleEndian.Uint32(brvd[0x47:]))
	var start int
	for off := catalog*sector + 32; off < (catalog+1)*sector; off += 32 {
		if data[off] == 0x88 { // a bootable entry
			start = int(binary.LittleEndian.Uint32(data[off+8:])) * sector
			break
		}
	}
	if start == 0 {
		t.Fatalf("%s: no bootable entry in the El Torito catalog", iso)
	}
	image := fmt.Sprintf("%s@@%d", iso, start)
	var uki string
	for _, line := range strings.Fields(mtools(t, "mdir", "-b", "-i", image, "::/EFI/Linux")) {
		if strings.HasSuffix(line, ".efi") {
			uki = line
		}
	}
	if uki == "" {
		t.Fatalf("%s: no UKI in EFI/Linux of its boot image", iso)
	}
	mtools(t, "mcopy", "-o", "-i", image, efi, uki)
}
