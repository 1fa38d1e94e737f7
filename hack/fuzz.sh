#!/usr/bin/env bash
# Runs every fuzz target of the main module for FUZZTIME each.
#
# Go 1.26's fuzz coordinator can report "context deadline exceeded" when -fuzztime expires
# while a starved worker is mid-call (go.dev/issue/75804, fixed in Go 1.27). That failure
# names no input and writes no reproducer, so it is retried once; any other failure, or a
# run that writes a reproducer to testdata/fuzz, fails at once.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
root=$(pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# is_deadline_flake LOG: the run failed only with the coordinator's deadline error: no
# reproducer, and no line but progress, log lines of the target, and the failure footer.
is_deadline_flake() {
	grep -qx $'\tcontext deadline exceeded\|    context deadline exceeded' "$1" &&
		! grep -q 'Failing input written to' "$1" &&
		! grep -vE '^(fuzz: elapsed|--- FAIL: Fuzz[A-Za-z0-9_]+ \(|\s+context deadline exceeded$|FAIL$|FAIL\s|exit status 1$|[IWE][0-9]{4} )' "$1" | grep -q .
}

for dir in $($GO list -f '{{.Dir}}' ./...); do
	for f in $(grep -h '^func Fuzz' "$dir"/*_test.go 2>/dev/null | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
		for attempt in 1 2; do
			echo "fuzz ${dir#"$root"/} $f ($FUZZTIME)"
			if $GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$dir" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
				break
			fi
			if [ "$attempt" -eq 1 ] && is_deadline_flake "$log"; then
				echo "fuzz $f: the coordinator's deadline race (go.dev/issue/75804), no input failed: once more"
				continue
			fi
			exit 1
		done
	done
done
