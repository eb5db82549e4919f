# Sourced by ci/bench.sh and ci/powercut-report.sh: the one way a measured block enters a
# document. replace_block DOC BEGIN END BLOCK replaces the lines from BEGIN to END (both
# lines, as written in BLOCK) with the file BLOCK; nothing else in DOC changes. DOC is
# rewritten in place (its own file, so permissions and links stay).
replace_block() {
	local doc=$1 begin=$2 end=$3 block=$4 tmp
	tmp=$(mktemp)
	awk -v begin="$begin" -v end="$end" -v block="$block" '
		$0 == begin { while ((getline line < block) > 0) print line; skip = 1; next }
		$0 == end { skip = 0; next }
		!skip { print }
	' "$doc" >"$tmp"
	cat "$tmp" >"$doc"
	rm -f "$tmp"
}
