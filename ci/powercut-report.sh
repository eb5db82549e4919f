#!/usr/bin/env bash
# make powercut (after TestPowerCut): renders _out/qemu-logs/powercut.json into
# docs/benchmarks.md between the "make powercut" markers, with date and commit (nothing
# else in the file changes). Refuses a doc without the markers, and a report without
# trials. Usage: ci/powercut-report.sh [powercut.json]
set -euo pipefail
. "$(dirname "$0")/docblock.sh"
cd "$(dirname "$0")/.."
report=${1:-_out/qemu-logs/powercut.json}
doc=docs/benchmarks.md
begin='<!-- BEGIN make powercut: ci/powercut-report.sh writes this part; do not edit it by hand -->'
end='<!-- END make powercut -->'
grep -qxF "$begin" "$doc" && grep -qxF "$end" "$doc" || { echo "powercut: $doc lacks the make powercut markers" >&2; exit 1; }
[ -f "$report" ] || { echo "powercut: $report missing (run KILN_E2E=1 go test -run TestPowerCut ./qemu/e2e/)" >&2; exit 1; }
[ "$(jq '.results | length' "$report")" -gt 0 ] || { echo "powercut: $report has no trials" >&2; exit 1; }

# The commit the trials ran at: make powercut passes it in (POWERCUT_COMMIT), because the
# tree may move on while the trials run.
if [ -n "${POWERCUT_COMMIT:-}" ]; then
	commit=$POWERCUT_COMMIT
else
	commit=$(git rev-parse --short=12 HEAD)
	git diff --quiet HEAD || commit="$commit+uncommitted changes"
fi
work=$(mktemp -d /tmp/kiln-powercut.XXXXXX)
trap 'rm -rf "$work"' EXIT

{
	echo "$begin"
	echo
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$commit\` on $(nproc) cores, QEMU accelerator: $(jq -r .accel "$report")."
	# The seed is a 64-bit integer: jq's numbers are doubles, so it comes from the text.
	seed=$(grep -o '"seed": *[0-9-]*' "$report" | grep -o '[0-9-]*$')
	jq -r --arg seed "$seed" '"\(.results | length) of \(.trials) trials, upgrade \(.base) → \(.upgrade) (UKI \(.ukiBytes / 1048576 * 10 | floor / 10) MiB), seed \($seed); kill instants uniform in [0, \(.windowMs)] ms after `kilnctl upgrade` started (the calibration run'"'"'s start of the new kernel + 1 s)."' "$report"
	echo
	echo "Uncut upgrade (calibration run): the node's own durations from its \`upgrade\` event, and host times after \`kilnctl upgrade\` started."
	echo
	echo "| receive, s | verify, s | write, s | installed, ms | reboot, ms | new kernel, ms | ready, ms | downtime reboot → ready, s |"
	echo "|---|---|---|---|---|---|---|---|"
	jq -r '.calibration | "| \(.receiveSeconds) | \(.verifySeconds) | \(.writeSeconds) | \(.installedMs) | \(.rebootMs) | \(.newKernelMs) | \(.readyMs) | \(.downtimeSeconds) |"' "$report"
	echo
	echo "Outcomes and kill phases:"
	echo
	jq -r '"- came back on: " + ([.results[].outcome] | group_by(.) | map("\(.[0]) × \(length)") | join(", "))' "$report"
	jq -r '"- killed during: " + ([.results[].phase] | group_by(.) | map("\(.[0]) × \(length)") | join(", "))' "$report"
	jq -r '[.results[].killMs] | sort | "- kill time, ms: min \(.[0]), median \(.[length / 2 | floor]), max \(.[-1])"' "$report"
	jq -r '"- trials with problems: \([.results[] | select((.problems // []) | length > 0)] | length)"' "$report"
	echo
	echo "| trial | kill, ms | phase | came back on | failed boots | clean-up at boot | fsck after the cut | fsck after the boot | problems |"
	echo "|---|---|---|---|---|---|---|---|---|"
	jq -r '
		def cell: gsub("\n"; " ") | gsub("\\|"; "/");
		def fsck: if .exit == 0 then "clean" else "exit \(.exit): " + (((.harmless // []) + (.harmful // [])) | join("; ") | cell) end;
		.results[] | "| \(.trial) | \(.killMs) | \(.phase) (\(.phaseFrom)) | \(.outcome) | \(.failedBoots) | \(if .cleanup == "" then "–" else .cleanup end) | \(.fsckAfterCut | fsck) | \(.fsckAfterBoot | fsck) | \((.problems // []) | join("; ") | cell | if . == "" then "–" else . end) |"
	' "$report"
	echo
	echo "$end"
} >"$work/block.md"

replace_block "$doc" "$begin" "$end" "$work/block.md"
echo "powercut: wrote $doc (commit $commit)"
