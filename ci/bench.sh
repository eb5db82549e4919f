#!/usr/bin/env bash
# make bench: measures this machine and writes the result, with date and commit, into
# docs/benchmarks.md between the "make bench" markers (nothing else in the file changes):
#   1. `kiln build` with an empty cache except the kernel ("cold, kernel cached")
#   2. `kiln build` again after a one-line Go change in machined
#   3. the kernel cache hit
#   4. artifact sizes from the manifest that `make image` wrote, and where the UKI's bytes go
#      (_out/uki-sizes.json); the build with an empty Go build cache too, and the runtime
#      step's time with a warm and an empty one
#   5. what machined is made of (`kiln size` on the same build with symbols kept)
#   6. boot timing under the accelerator the harness picks, from machined's events, and
#      network boot (PXE, HTTP Boot, ProxyDHCP) power-on to maintenance mode, and
#      installs (from the ISO, after a PXE boot): how long, and installed to ready; and
#      containerd's start (TestContainers): StartServices to healthy, and its make-up
#   7. PID 1 under a reader's abuse (qemu/e2e TestReaderAbuse): descriptors and heap
#   8. what PAGE_TABLE_CHECK and mitigations=auto,nosmt cost: direct boots differing in
#      one kernel parameter (qemu/e2e TestHardeningCost)
#   9. Kiln beside the bare path (the same kernel and firmware with an /init that only
#      says it runs), interleaved, on four paths: medians, spreads, ratios, and where
#      Kiln's time goes (qemu/e2e TestBootRatio)
#  10. memory: what a diskless node uses at ready (all of it, and machined's resident set),
#      and the smallest -m that still reaches ready (qemu/e2e TestMemoryFloor)
#  11. the kernel before /init: one boot with initcall_debug, the slowest initcalls
#      (qemu/e2e TestInitcalls)
#  12. with BENCH_BASE=<git revision>: the same direct boot of that revision, built and
#      booted in this run, beside this one (a before/after on the same loaded machine)
set -euo pipefail
. "$(dirname "$0")/docblock.sh"
cd "$(dirname "$0")/.."
KILN_CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
doc=docs/benchmarks.md
begin='<!-- BEGIN make bench: ci/bench.sh writes this part; do not edit it by hand -->'
end='<!-- END make bench -->'
work=$(mktemp -d /tmp/kiln-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
repo=$PWD
[ -f "$repo/_keys/db.crt" ] || go run ./cmd/kiln keys generate --dir "$repo/_keys"
grep -qxF "$begin" "$doc" && grep -qxF "$end" "$doc" || { echo "bench: $doc lacks the make bench markers" >&2; exit 1; }

commit=$(git rev-parse --short=12 HEAD)
git diff --quiet HEAD || commit="$commit+uncommitted changes"
git clone -q . "$work/src"
mkdir -p "$work/cache"
ln -s "$KILN_CACHE/kernel" "$work/cache/kernel"
go build -o "$work/kiln" ./cmd/kiln

timed() { /usr/bin/time -f "%e" -o "$work/t" "$@" >"$work/log" 2>&1; cat "$work/t"; }
cd "$work/src"
cold=$(KILN_CACHE="$work/cache" timed "$work/kiln" build -f kiln.yaml --keys "$repo/_keys")
sign=$(grep -o 'msg="UKI assembled and signed".*' "$work/log" | grep -o 'took=[0-9.a-zµ]*' | cut -d= -f2)
runtime_step=$(grep -o 'step=runtime took=[0-9.a-zµ]*' "$work/log" | cut -d= -f3)
# The same build with an empty Go build cache too: what a fresh machine (and a cold CI)
# pays for machined, containerd and runc (the module cache stays: it is downloads).
mkdir -p "$work/cache-cold" && ln -s "$KILN_CACHE/kernel" "$work/cache-cold/kernel"
coldgo=$(GOCACHE="$work/gocache" KILN_CACHE="$work/cache-cold" timed "$work/kiln" build -f kiln.yaml --keys "$repo/_keys")
runtime_coldgo=$(grep -o 'step=runtime took=[0-9.a-zµ]*' "$work/log" | cut -d= -f3)
rm -rf "$work/gocache" "$work/cache-cold"
echo 'var benchTouch = 1 // bench: a one-line change' >> cmd/machined/main.go
warm=$(KILN_CACHE="$work/cache" timed "$work/kiln" build -f kiln.yaml --keys "$repo/_keys")
hit=$(KILN_CACHE="$KILN_CACHE" timed "$work/kiln" kernel build -f kiln.yaml)
cd "$repo"

# machined as the pipeline builds it, but with its symbol table (no -s -w), for kiln size.
version=$(jq -r .version _out/manifest.json)
CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
	-ldflags "-buildid= -X github.com/kiln-os/kiln/internal/version.Version=$version" \
	-o "$work/machined.syms" ./cmd/machined
"$work/kiln" size --top 12 "$work/machined.syms" >"$work/size.md"

KILN_E2E=1 go test -count=1 -v -timeout 60m -run 'TestBootReadyAndPowerOff|TestUEFISecureBoot|TestNetboot|TestNetbootInstall|TestInstall|TestContainers' ./qemu/e2e/ >"$work/boot.log" 2>&1 ||
	{ tail -50 "$work/boot.log" >&2; echo "bench: boot tests failed (log above)" >&2; exit 1; }
cp _out/qemu-logs/boot-timing.json "$work/head-timing.json"
KILN_E2E=1 go test -count=1 -v -timeout 30m -run 'TestReaderAbuse' ./qemu/e2e/ >"$work/abuse.log" 2>&1 ||
	{ tail -50 "$work/abuse.log" >&2; echo "bench: reader abuse run failed (log above)" >&2; exit 1; }
KILN_E2E=1 KILN_BENCH_HARDENING=1 go test -count=1 -v -timeout 60m -run 'TestHardeningCost' ./qemu/e2e/ >"$work/hardening.log" 2>&1 ||
	{ tail -50 "$work/hardening.log" >&2; echo "bench: hardening cost boots failed (log above)" >&2; exit 1; }
KILN_E2E=1 KILN_BENCH_RATIO=1 go test -count=1 -v -timeout 120m -run 'TestBootRatio' ./qemu/e2e/ >"$work/ratio.log" 2>&1 ||
	{ tail -50 "$work/ratio.log" >&2; echo "bench: bare-path ratio boots failed (log above)" >&2; exit 1; }
KILN_E2E=1 KILN_BENCH_MEMORY=1 go test -count=1 -v -timeout 60m -run 'TestMemoryFloor' ./qemu/e2e/ >"$work/memory.log" 2>&1 ||
	{ tail -50 "$work/memory.log" >&2; echo "bench: memory floor boots failed (log above)" >&2; exit 1; }
KILN_E2E=1 KILN_BENCH_INITCALLS=1 go test -count=1 -v -timeout 20m -run 'TestInitcalls' ./qemu/e2e/ >"$work/initcalls.log" 2>&1 ||
	{ tail -50 "$work/initcalls.log" >&2; echo "bench: initcall_debug boot failed (log above)" >&2; exit 1; }
if [ -n "${BENCH_BASE:-}" ]; then
	base=$(git rev-parse --short=12 "$BENCH_BASE")
	git clone -q . "$work/base" && git -C "$work/base" checkout -q "$base"
	mkdir -p "$work/base-cache" && ln -s "$KILN_CACHE/kernel" "$work/base-cache/kernel"
	(cd "$work/base" && KILN_CACHE="$work/base-cache" go run ./cmd/kiln build -f kiln.yaml --keys "$repo/_keys" >"$work/base-build.log" 2>&1 &&
		KILN_E2E=1 go test -count=1 -run 'TestBootReadyAndPowerOff' ./qemu/e2e/ >"$work/base-boot.log" 2>&1) ||
		{ tail -30 "$work/base-build.log" "$work/base-boot.log" >&2; echo "bench: base $base failed (log above)" >&2; exit 1; }
	# And this revision's direct boot once more, right after, so that each side has a boot
	# at the same moment of the run.
	KILN_E2E=1 go test -count=1 -run 'TestBootReadyAndPowerOff' ./qemu/e2e/ >"$work/head-boot.log" 2>&1
	cp _out/qemu-logs/boot-timing.json "$work/head2-timing.json"
fi
accel=$(grep -om1 'accel[= ]*[a-z]*' "$work/boot.log" | awk '{print $NF}' | sed 's/.*=//')

size() { jq -r --arg k "$1" '.artifacts[$k].size' _out/manifest.json; }
{
	echo "$begin"
	echo
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$commit\` on $(nproc) cores,"
	echo "$(awk '/^MemTotal:/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GiB, QEMU accelerator: ${accel:-see qemu-logs}. Go build cache warm; \"empty cache\" means \`\$KILN_CACHE\`."
	echo
	echo "### Image build"
	echo
	echo "| what | value | command |"
	echo "|---|---|---|"
	echo "| build, empty cache except kernel | ${cold} s | \`kiln build\` (KILN_CACHE empty but kernel/) |"
	echo "| build after a one-line Go change | ${warm} s | \`kiln build\` after editing cmd/machined |"
	echo "| build, empty caches (Go build cache too) except kernel | ${coldgo} s | \`kiln build\` with an empty GOCACHE |"
	echo "| step runtime (containerd, runc), Go build cache warm | ${runtime_step} | \`kiln build\` log line |"
	echo "| step runtime, Go build cache empty | ${runtime_coldgo} | \`kiln build\` log line |"
	echo "| kernel cache hit | ${hit} s | \`kiln kernel build\` |"
	echo "| UKI assembly + Authenticode signing | ${sign} | \`kiln build\` log line |"
	echo
	echo "### Artifact sizes"
	echo
	echo "| artifact | bytes | from |"
	echo "|---|---:|---|"
	for k in machined containerd runc rootfs initramfs vmlinuz uki bootloader iso disk; do
		echo "| $k | $(size "$k") | manifest.json |"
	done
	echo "| disk.raw blocks in use | $(($(du -k _out/disk.raw | cut -f1) * 1024)) | \`du -k\` (sparse file) |"
	echo
	echo "### Where the UKI's bytes go"
	echo
	echo "\`_out/uki-sizes.json\` (the build writes it, and fails above the budget): the kernel,"
	echo "machined (the initramfs but its squashfs), each file of the root that takes a MB or more"
	echo "of the squashfs, the rest."
	echo
	echo "| part | bytes | share |"
	echo "|---|---:|---:|"
	jq -r '.uki as $u | .parts[] | "| \(.name) | \(.bytes) | \(.bytes*1000/$u|floor/10) % |"' _out/uki-sizes.json
	jq -r '"| **UKI** (budget \(.maxBytes), \(.maxBytes - .uki) to spare) | \(.uki) | 100 % |"' _out/uki-sizes.json
	echo
	echo "### What machined is made of"
	echo
	echo "\`kiln size\` on machined built as the pipeline builds it but keeping its symbol table"
	echo "(the shipped binary is linked with \`-s -w\`). Rows add up to the sections a stripped"
	echo "binary ships."
	echo
	cat "$work/size.md"
	echo
	echo "### Boot"
	echo
	echo "| what | seconds | test |"
	echo "|---|---:|---|"
	jq -r 'to_entries[] | "| direct boot, diskless: \(.key) | \(.value*1000|floor/1000) | TestBootReadyAndPowerOff |"' "$work/head-timing.json"
	jq -r 'to_entries[] | "| UEFI Secure Boot (ISO, keys enrolled): \(.key) | \(.value*1000|floor/1000) | TestUEFISecureBoot/ISOBootsUnderSecureBoot |"' _out/qemu-logs/uefi-iso-timing.json
	jq -r 'to_entries[] | "| network boot, PXE/TFTP (range DHCP): \(.key) | \(.value*1000|floor/1000) | TestNetboot/PXE |"' _out/qemu-logs/netboot-pxe-timing.json
	jq -r 'to_entries[] | "| network boot, UEFI HTTP Boot: \(.key) | \(.value*1000|floor/1000) | TestNetboot/HTTPBoot |"' _out/qemu-logs/netboot-http-timing.json
	jq -r 'to_entries[] | "| network boot, PXE/TFTP (ProxyDHCP beside dnsmasq): \(.key) | \(.value*1000|floor/1000) | TestNetboot/ProxyDHCPBesideDnsmasq |"' _out/qemu-logs/netboot-proxy-timing.json
	jq -r 'to_entries[] | "| install from the ISO (setup mode, swtpm): \(.key) | \(.value*1000|floor/1000) | TestInstall/FromISO |"' _out/qemu-logs/install-timing.json
	jq -r 'to_entries[] | "| install after a PXE boot (kilnctl install): \(.key) | \(.value*1000|floor/1000) | TestNetbootInstall |"' _out/qemu-logs/netboot-install-timing.json
	jq -r 'to_entries[] | "| containerd: \(.key) | \(.value*1000|floor/1000) | TestContainers |"' _out/qemu-logs/containerd
	echo
	echo "### Boot beside the bare path"
	echo
	echo "The bare path is the same kernel and firmware with an /init that writes one event and"
	echo "powers off (qemu/e2e/testdata/bareinit); under UEFI it is a UKI of the same size"
	echo "($(jq .bareUKIBytes _out/qemu-logs/boot-ratio.json) bytes against Kiln's $(jq .kilnUKIBytes _out/qemu-logs/boot-ratio.json)), signed with the same key, on a copy of the"
	echo "same medium. $(jq .runs _out/qemu-logs/boot-ratio.json) boots of each side per path, interleaved; QEMU start → ready (the bare"
	echo "init's event), median (min–max), seconds. Direct boot has no stub, so STATE stays plain"
	echo "there; the sealed STATE is the UEFI disk path's. Targets are issue 16's."
	echo
	echo "| path | bare, s | Kiln, s | ratio | target |"
	echo "|---|---:|---:|---:|---:|"
	jq -r 'def f: (.*100|round/100|tostring); def sp: "\(.median|f) (\(.min|f)–\(.max|f))";
		.paths[] | "| \(.name) | \(.summary.bare|sp) | \(.summary.kiln|sp) | \(.summary.ratio|f) | \({"direct boot, diskless": "≤ 1.25", "UEFI Secure Boot, disk (sealed STATE, swtpm)": "≤ 1.3"}[.name] // "—") |"' _out/qemu-logs/boot-ratio.json
	echo
	echo "Where Kiln's time goes, median seconds of the same runs (the bare path's in brackets):"
	echo "before the kernel is QEMU start → ready less the kernel's uptime at ready (QEMU, and"
	echo "firmware, systemd-boot and stub under UEFI); phases in boot order, tasks (inside the"
	echo "phases) of 100 ms or more."
	echo
	jq -r 'def f: (.*100|round/100|tostring);
		.paths as $p
		| (reduce ($p[].summary.kilnPieces[].name) as $n ([]; if any(.[]; . == $n) then . else . + [$n] end)) as $names
		| "| piece | " + ($p | map(.name) | join(" | ")) + " |",
		  "|---|" + ($p | map("---:") | join("|")) + "|",
		  ($names[] as $n | "| \($n) | " + ($p | map(
			((first(.summary.kilnPieces[] | select(.name == $n) | .median | f)) // "—")
			+ ((first(.summary.barePieces[] | select(.name == $n) | " (\(.median | f))")) // ""))
			| join(" | ")) + " |")' _out/qemu-logs/boot-ratio.json
	echo
	echo "How the time before the kernel (OVMF, systemd-boot, systemd-stub) grows with the UKI's size:"
	echo "the bare UKI padded to each size, booted from the same disk under Secure Boot, in the same"
	echo "rounds. A line through the medians: **$(jq -r '.secondsPerMBBeforeKernel*1000|floor/1000' _out/qemu-logs/boot-ratio.json) s per MB**."
	echo
	echo "| UKI bytes | before the kernel, s | QEMU start → bare ready, s |"
	echo "|---:|---:|---:|"
	jq -r 'def f: (.*100|round/100|tostring); def sp: "\(.median|f) (\(.min|f)–\(.max|f))";
		.ukiSize[] | "| \(.bytes) | \(.beforeKernelSeconds|sp) | \(.qemuStartToReadySeconds|sp) |"' _out/qemu-logs/boot-ratio.json
	echo
	echo "### The kernel before /init"
	echo
	echo "One direct boot with \`initcall_debug ignore_loglevel\` (qemu/e2e TestInitcalls): the kernel's clock"
	echo "when it runs /init was $(jq -r '.kernelClockAtInitSeconds' _out/qemu-logs/initcalls.json) s, of which $(jq -r '.initcalls' _out/qemu-logs/initcalls.json) initcalls took"
	echo "$(jq -r '.initcallsMillis/1000*100|floor/100' _out/qemu-logs/initcalls.json) s. The debug output itself slows this boot: these figures say where the time goes."
	echo
	echo "| initcall | ms |"
	echo "|---|---:|"
	jq -r '.slowest[] | "| \(.name) | \(.ms*10|floor/10) |"' _out/qemu-logs/initcalls.json
	echo
	echo "### Memory"
	echo
	echo "Diskless direct boots (\`/var\` is a tmpfs there), from machined's ready event: MemTotal less"
	echo "MemAvailable, and machined's resident set (\`/proc/self/statm\`). Sizes tried from 1024 MiB"
	echo "down until one does not reach ready (qemu/e2e TestMemoryFloor)."
	echo
	echo "| -m, MiB | ready | node memory used, MiB | machined RSS, MiB | why not |"
	echo "|---:|---|---:|---:|---|"
	jq -r '.attempts[] | "| \(.mib) | \(if .ready then "yes" else "no" end) | \(if .ready then (.memUsed/1048576*10|floor/10|tostring) else "—" end) | \(if .ready then (.machinedRSS/1048576*10|floor/10|tostring) else "—" end) | \(.error // "" | gsub("[|\n]"; " ") | .[0:120]) |"' _out/qemu-logs/memory.json
	echo
	echo "Smallest size that reached ready: **$(jq .smallestReadyMiB _out/qemu-logs/memory.json) MiB** (issue 16's target: ≤ 256 MiB)."
	echo
	echo "### PID 1 under a reader's abuse"
	echo
	echo "\`TestReaderAbuse\`: $(jq -r .oversizedApplies _out/qemu-logs/abuse.json) configs of $(jq -r '.applyBytes/1048576' _out/qemu-logs/abuse.json) MiB at the maintenance port, then reader"
	echo "certificates opening Dmesg, Logs and Events follow streams over several connections until"
	echo "refused ($(jq -r .streams _out/qemu-logs/abuse.json) streams held). PID 1's figures from \`runtime/ProcessStats\`; the bounds are the test's."
	echo
	echo "| reading | descriptors | Go heap in use, MiB | Go heap from the OS, MiB |"
	echo "|---|---:|---:|---:|"
	jq -r '["before","during","after"][] as $k | "| \($k) | \(.[$k].fds) | \(.[$k].heapAlloc/1048576*10|floor/10) | \(.[$k].heapSys/1048576*10|floor/10) |"' _out/qemu-logs/abuse.json
	jq -r '"| bound | baseline + \(.bounds.maxExtraFDs) (after: + \(.bounds.maxLeftFDs)) | \(.bounds.maxHeapAlloc/1048576) | — |"' _out/qemu-logs/abuse.json
	echo
	echo "### What hardening costs"
	echo
	echo "Direct boots of this build that differ in one kernel parameter, 3 each (hardeningCostRuns), interleaved:"
	echo "seconds from the kernel's start to machined's start (kernel and stage 1) and to \`ready\`, median"
	echo "of the runs. The SMT rows boot a CPU model the kernel counts as affected by SMT leaks"
	echo "(\`-cpu Skylake-Client\`, one core, two threads); without \`nosmt\` machined refuses the boot in"
	echo "EnforceKSPPRequirements, so that row has no ready time. TCG has no real SMT: those rows show what"
	echo "the kernel does, not the throughput a real sibling thread gives."
	echo
	echo "| variant | to machined, s | to ready, s | CPUs up | SMT disabled | test |"
	echo "|---|---:|---:|---:|---|---|"
	jq -r 'to_entries[] | "| \(.key) | \(.value.medianKernelToMachinedSeconds*100|floor/100) | \(if .value.refusedByKSPP then "refused (KSPP)" else (.value.medianKernelToReadySeconds*100|floor/100|tostring) end) | \(.value.cpusBroughtUp) | \(.value.smtDisabled) | TestHardeningCost |"' _out/qemu-logs/hardening-cost.json
	if [ -n "${BENCH_BASE:-}" ]; then
		echo
		echo "Direct boot beside \`$base\` (BENCH_BASE), both built and booted in this run:"
		echo
		echo "| what | $base, s | this commit (second boot), s |"
		echo "|---|---:|---:|"
		jq -rn --slurpfile a "$work/base/_out/qemu-logs/boot-timing.json" --slurpfile b "$work/head2-timing.json" \
			'$a[0] | keys[] as $k | "| \($k) | \($a[0][$k]*1000|floor/1000) | \($b[0][$k]*1000|floor/1000) |"'
	fi
	echo
	echo "$end"
} >"$work/block.md"

replace_block "$doc" "$begin" "$end" "$work/block.md"
# The ratios on the terminal too: Kiln beside the bare path, and where its time goes.
sed -n '/^### Boot beside the bare path$/,/^### The kernel before \/init$/p' "$work/block.md" | sed '$d'
echo "bench: wrote $doc (commit $commit)"
