#!/usr/bin/env bash
# make kernel-repro: two cold kernel builds in two fresh caches at different paths must give
# a byte-identical vmlinuz. Takes two full kernel builds (about 20 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/kiln-kernel-repro.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/kiln" ./cmd/kiln
for n in 1 2; do
	mkdir -p "$work/cache-$n-$RANDOM$RANDOM"
done
sums=()
for cache in "$work"/cache-*; do
	echo "kernel-repro: cold build in $cache"
	KILN_CACHE="$cache" "$work/kiln" kernel build -f kiln.yaml | tee "$work/out"
	vmlinuz=$(awk '$1 == "vmlinuz" {print $2}' "$work/out")
	sums+=("$(sha256sum "$vmlinuz" | cut -d' ' -f1)")
done
echo "kernel-repro: ${sums[*]}"
[ "${sums[0]}" = "${sums[1]}" ] || { echo "kernel-repro: FAIL: vmlinuz differs" >&2; exit 1; }
echo "kernel-repro: OK: vmlinuz identical"
