#!/usr/bin/env bash
# make kube-bench: what Kubernetes costs, written with date and commit into
# docs/benchmarks.md between the "make kube-bench" markers (nothing else changes):
#   1. the kubernetes step built cold (empty KILN_CACHE but the kernel, empty GOCACHE): its
#      time and the build's peak memory (the largest process: the link of the kube binary);
#   2. the payload: its size, and the size of each program in it;
#   3. one controlplane in QEMU (qemu/e2e TestKubernetes): boot to ready, bootstrap to
#      node Ready, boot to node Ready.
set -euo pipefail
. "$(dirname "$0")/docblock.sh"
cd "$(dirname "$0")/.."
KILN_CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
doc=docs/benchmarks.md
begin='<!-- BEGIN make kube-bench: ci/kube-bench.sh writes this part; do not edit it by hand -->'
end='<!-- END make kube-bench -->'
grep -qxF "$begin" "$doc" && grep -qxF "$end" "$doc" || { echo "kube-bench: $doc lacks the make kube-bench markers" >&2; exit 1; }
work=$(mktemp -d /tmp/kiln-kube-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
repo=$PWD
[ -f "$repo/_keys/db.crt" ] || go run ./cmd/kiln keys generate --dir "$repo/_keys"
commit=$(git rev-parse --short=12 HEAD)
git diff --quiet HEAD || commit="$commit+uncommitted changes"

# 1. Cold: a clone, an empty step cache (the kernel shared: it has its own numbers) and an
# empty Go build cache. The module cache stays: it is downloads.
git clone -q . "$work/src"
mkdir -p "$work/cache" && ln -s "$KILN_CACHE/kernel" "$work/cache/kernel"
go build -o "$work/kiln" ./cmd/kiln
(cd "$work/src" && GOCACHE="$work/gocache" KILN_CACHE="$work/cache" \
	/usr/bin/time -f "%e %M" -o "$work/time" "$work/kiln" build -f kiln.yaml --keys "$repo/_keys" >"$work/log" 2>&1)
read -r total peak_kib <"$work/time"
kube_step=$(grep -o 'step=kubernetes took=[0-9.a-zµ]*' "$work/log" | cut -d= -f3)
payload_step=$(grep -o 'step=kube-payload took=[0-9.a-zµ]*' "$work/log" | cut -d= -f3)
manifest="$work/src/_out/manifest.json"
payload="$work/src/_out/$(jq -r '.artifacts["kubernetes-payload"].path' "$manifest")"
payload_bytes=$(stat -c %s "$payload")
uki_bytes=$(jq -r '.artifacts.uki.size' "$manifest")
unsquashfs -q -d "$work/payload" "$payload" >/dev/null

# 3. One controlplane, from this checkout's image.
make image >/dev/null
KILN_E2E=1 go test -count=1 -timeout 60m -run '^TestKubernetes$' ./qemu/e2e/ >"$work/e2e.log" 2>&1 || { tail -50 "$work/e2e.log"; exit 1; }
timings=_out/qemu-logs/kubernetes.json

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
{
	echo "$begin"
	echo "## Latest \`make kube-bench\`"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) cores, $(go env GOVERSION)."
	echo
	echo "| what | value |"
	echo "|---|---|"
	echo "| kubernetes step, cold (empty Go build cache) | $kube_step |"
	echo "| kube-payload step (squashfs, zstd) | $payload_step |"
	echo "| whole build, cold but the kernel | ${total} s |"
	echo "| peak memory of one build process (the kube link) | $(awk -v k="$peak_kib" 'BEGIN { printf "%.2f GB", k * 1024 / 1e9 }') |"
	echo "| payload (squashfs) | $(mb "$payload_bytes") MB |"
	echo "| UKI beside it | $(mb "$uki_bytes") MB |"
	for f in bin/kube bin/containerd cni/bin/bridge cni/bin/host-local cni/bin/loopback images/sandbox.tar; do
		echo "| payload: $f (uncompressed) | $(mb "$(stat -c %s "$work/payload/$f")") MB |"
	done
	echo "| payload: lib/nft (Debian's nft and its libraries) | $(mb "$(du -sb "$work/payload/lib/nft" | cut -f1)") MB |"
	jq -r '"| QEMU (TCG), one controlplane: boot to ready | \(.bootToReady*10|floor/10) s |",
		"| bootstrap to node Ready | \(.bootstrapToNodeReady*10|floor/10) s |",
		"| boot to node Ready | \(.bootToNodeReady*10|floor/10) s |"' "$timings"
	echo "$end"
} >"$work/block"
replace_block "$doc" "$begin" "$end" "$work/block"
echo "kube-bench: wrote $doc"
