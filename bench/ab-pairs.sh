#!/usr/bin/env bash
# ab-pairs.sh compares two builds of one Go benchmark on a noisy machine:
# it runs build A, then build B, PAIRS times, and prints the median of the
# per-pair ratios B/A of ns/op (and the quartiles). Neighbouring runs share
# the machine's state of the moment, so the ratio of a pair is steadier
# than either figure; with -cpu 1 a run's wall time is its CPU time.
#
#   go test -c -o /tmp/a.test ./shared/encode     # before the change
#   go test -c -o /tmp/b.test ./shared/encode     # after
#   bench/ab-pairs.sh /tmp/a.test /tmp/b.test 'LineWriters/parquet-rows' 30
set -euo pipefail
if [ $# -lt 3 ]; then
	echo "usage: $0 A.test B.test BENCH_PATTERN [PAIRS] [BENCHTIME]" >&2
	exit 2
fi
a=$1 b=$2 pattern=$3 pairs=${4:-30} benchtime=${5:-10x}
nsop() {
	"$1" -test.run '^$' -test.bench "$pattern" -test.cpu 1 -test.count 1 -test.benchtime "$benchtime" |
		awk '/^Benchmark/ { print $3; found = 1 } END { if (!found) exit 1 }'
}
runs=""
for _ in $(seq "$pairs"); do
	x=$(nsop "$a") || { echo "$a: no benchmark matches $pattern" >&2; exit 1; }
	y=$(nsop "$b") || { echo "$b: no benchmark matches $pattern" >&2; exit 1; }
	runs+="$x $y"$'\n'
done
printf '%s' "$runs" | awk '
	{ r[NR] = $2 / $1 }
	END {
		n = asorted(r, NR)
		printf "B/A median %.3f (quartiles %.3f, %.3f) over %d pairs\n", s[int((n + 1) / 2)], s[int((n + 3) / 4)], s[int((3 * n + 3) / 4)], n
	}
	function asorted(x, n,   i, j, t) {
		for (i = 1; i <= n; i++) s[i] = x[i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && s[j - 1] > s[j]; j--) { t = s[j]; s[j] = s[j - 1]; s[j - 1] = t }
		return n
	}'
