#!/usr/bin/env bash
# make cluster-test: three VMs on a lab network form one Kubernetes cluster (qemu/e2e
# TestCluster: one controlplane, two workers, a workload across them, an upgrade of the
# controlplane that keeps the cluster). Its outcome and timings go, with date and commit,
# into docs/benchmarks.md between the "make cluster-test" markers (nothing else changes).
# By hand, not in CI: it takes about half an hour under TCG on two cores.
set -euo pipefail
. "$(dirname "$0")/docblock.sh"
cd "$(dirname "$0")/.."
doc=docs/benchmarks.md
begin='<!-- BEGIN make cluster-test: ci/cluster-test.sh writes this part; do not edit it by hand -->'
end='<!-- END make cluster-test -->'
grep -qxF "$begin" "$doc" && grep -qxF "$end" "$doc" || { echo "cluster-test: $doc lacks the make cluster-test markers" >&2; exit 1; }
commit=$(git rev-parse --short=12 HEAD)
git diff --quiet HEAD || commit="$commit+uncommitted changes"
log=_out/qemu-logs/cluster-test.log
timings=_out/qemu-logs/cluster.json
mkdir -p _out/qemu-logs
rm -f "$timings"
started=$(date +%s)
outcome=passed
KILN_E2E=1 KILN_CLUSTER=1 go test -count=1 -timeout 90m -v -run '^TestCluster$' ./qemu/e2e/ >"$log" 2>&1 || outcome=failed
elapsed=$(($(date +%s) - started))
work=$(mktemp)
trap 'rm -f "$work"' EXIT
{
	echo "$begin"
	echo "## Latest \`make cluster-test\`"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) cores: **$outcome** in ${elapsed} s"
	echo "(one controlplane: UEFI, 3 GiB, 2 vCPUs; two workers: 2 GiB, 1 vCPU; QEMU TCG)."
	echo
	if [ "$outcome" = failed ]; then
		echo "The failure, from $log:"
		echo
		echo '```'
		# The failing step says why in the last lines the test wrote, with the indented
		# output lines that belong to them (kilnctl's error).
		awk '/--- FAIL|_test.go:[0-9]+:/ { keep = !/timing /; if (keep) print; next }
			/^        / { if (keep) print; next } { keep = 0 }' "$log" | tail -8 | cut -c1-300
		echo '```'
	fi
	if [ -s "$timings" ]; then
		echo "| step | seconds |"
		echo "|---|---|"
		jq -r 'to_entries[] | "| \(.key) | \(.value*10|floor/10) |"' "$timings"
	fi
	echo "$end"
} >"$work"
replace_block "$doc" "$begin" "$end" "$work"
echo "cluster-test: $outcome; wrote $doc (log $log)"
[ "$outcome" = passed ]
