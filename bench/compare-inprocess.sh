#!/usr/bin/env bash
# Alternates the in-process SQS comparison (tern-bench-inprocess) between REV's tree and this
# one: ROUNDS turns, the order of the two flipped every turn (A B, B A, ...), so drift and a
# noisy neighbour fall on both. Prints each turn's medians and, last, the median of each side
# and their ratio (this tree / REV) for the full stack and, as the control, the bare path.
#
#   bench/compare-inprocess.sh REV [ROUNDS]      (ROUNDS defaults to 8)
#
# REV's tree is exported with `git archive` to target/bench/previous/inprocess-REV; this
# program is added to it (REV may predate it) and built with REV's own lock file, in the target
# directory `make bench` uses for the previous release. Both sides use the project's .venv for
# moto (TERN_VENV).
set -euo pipefail

rev=${1:?usage: bench/compare-inprocess.sh REV [ROUNDS]}
rounds=${2:-8}
root=$(git rev-parse --show-toplevel)
cd "$root"
export TERN_VENV=${TERN_VENV:-$root/.venv}
previous=$root/target/bench/previous
tree=$previous/inprocess-$rev

rm -rf "$tree"
mkdir -p "$tree"
git archive "$rev" | tar -x -C "$tree"
cp bench/src/bin/inprocess.rs "$tree/bench/src/bin/inprocess.rs"
if ! grep -q '"tern-bench-inprocess"' "$tree/bench/Cargo.toml"; then
    printf '\n[[bin]]\nname = "tern-bench-inprocess"\npath = "src/bin/inprocess.rs"\n' \
        >>"$tree/bench/Cargo.toml"
fi
(cd "$tree" && cargo build --release --locked --package tern-bench \
    --bin tern-bench-inprocess --target-dir "$previous/target")
cp "$previous/target/release/tern-bench-inprocess" "$previous/tern-bench-inprocess-$rev"
cargo build --release --locked --package tern-bench --bin tern-bench-inprocess

old=$previous/tern-bench-inprocess-$rev
new=$root/target/release/tern-bench-inprocess
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for turn in $(seq 1 "$rounds"); do
    if ((turn % 2)); then order="old new"; else order="new old"; fi
    for side in $order; do
        program=$old
        [[ $side == new ]] && program=$new
        line=$("$program")
        echo "turn $turn $side $line" | tee -a "$results"
    done
done

python3 - "$results" "$rev" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def median(side, field):
    return statistics.median(float(r[r.index(field) + 1]) for r in rows if r[2] == side)
print(f"turns: {len(rows) // 2}, each side's median of the turns' medians (µs per 10-record batch)")
for field in ("sqs_full", "sqs_bare"):
    old, new = median("old", field), median("new", field)
    print(f"{field}: {sys.argv[2]} {old:.3f}, this tree {new:.3f}, ratio {new / old:.3f}x")
PY
