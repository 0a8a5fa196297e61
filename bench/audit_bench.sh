#!/usr/bin/env bash
# What the audit trail costs run throughput: run_bench with and without it, back to back, in
# alternating pairs (so drift on a shared machine hits both), then the median of each and their
# ratio.
#   bench/audit_bench.sh [BUILD_DIR] [PAIRS] [RUNS]
set -euo pipefail
build=${1:-build}
pairs=${2:-7}
runs=${3:-2000}
off=()
on=()
rate() { "$build/bench/run_bench" --runs "$runs" "$@" 2>/dev/null | tail -1 |
  python3 -c "import json,sys; print(json.load(sys.stdin)['runs_per_s'])"; }
for i in $(seq 1 "$pairs"); do
  if [ $((i % 2)) = 1 ]; then off+=("$(rate --no-audit)"); on+=("$(rate)");
  else on+=("$(rate)"); off+=("$(rate --no-audit)"); fi
done
python3 - "${off[*]}" "${on[*]}" <<'PY'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
m_off, m_on = statistics.median(off), statistics.median(on)
print(f"without audit trail: runs/s {sorted(off)} median {m_off:.0f}")
print(f"with audit trail:    runs/s {sorted(on)} median {m_on:.0f}")
print(f"with/without: {m_on / m_off:.3f} ({(1 - m_on / m_off) * 100:+.1f}% cost)")
PY
