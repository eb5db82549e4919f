#!/usr/bin/env bash
# make repro: build the committed HEAD twice, from two clones at different absolute paths,
# each with an empty cache except the kernel (shared, since a cold kernel build takes many
# minutes and has its own check, make kernel-repro), then compare every artifact's SHA-256
# in the two manifests. Both builds sign with this checkout's _keys (made if missing):
# signing is deterministic, keys are not.
#
# The container runtime (containerd/, step runtime) is rebuilt in both: its cache entry is in
# each build's own KILN_CACHE, and containerd, the shim and runc are artifacts compared
# below. Go's build cache is shared, as for machined; KILN_REPRO_COLD_GO=1 gives each build
# an empty GOCACHE too, so that every package is compiled twice (slow: containerd and its
# dependencies are about a thousand packages).
set -euo pipefail
cd "$(dirname "$0")/.."
KILN_CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
work=$(mktemp -d /tmp/kiln-repro.XXXXXX)
keys="$PWD/_keys"
[ -f "$keys/db.crt" ] || go run ./cmd/kiln keys generate --dir "$keys"
trap 'rm -rf "$work"' EXIT

for n in a b; do
	git clone -q . "$work/src-$n-$RANDOM"
done
i=0
for src in "$work"/src-*; do
	i=$((i + 1))
	cache="$work/cache-$i"
	mkdir -p "$cache"
	[ -d "$KILN_CACHE/kernel" ] && ln -s "$KILN_CACHE/kernel" "$cache/kernel"
	gocache=$(go env GOCACHE)
	if [ "${KILN_REPRO_COLD_GO:-}" = 1 ]; then
		gocache="$work/gocache-$i"
	fi
	echo "repro: build $i in $src"
	(cd "$src" && GOCACHE="$gocache" KILN_CACHE="$cache" go run ./cmd/kiln build -f kiln.yaml --keys "$keys")
	jq -r '.artifacts | to_entries[] | "\(.key) \(.value.sha256)"' "$src/_out/manifest.json" | sort > "$work/sums-$i"
done
if ! diff -u "$work/sums-1" "$work/sums-2"; then
	echo "repro: FAIL: the two builds differ (above)" >&2
	exit 1
fi
echo "repro: OK: $(wc -l < "$work/sums-1") artifacts identical across two directories"
