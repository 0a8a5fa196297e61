#!/usr/bin/env bash
# The style guide, enforced:
#   1. a clang build of slipwayd and slipway with -Wthread-safety -Werror, so every
#      ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotation is checked;
#   2. clang-format (the repository's .clang-format) on the C++ files changed since BASE;
#   3. clang-tidy with the checks .clang-tidy names on the sources changed since BASE.
#   scripts/check_style.sh [BASE]
# BASE defaults to $SLIPWAY_LINT_BASE, else the commit before HEAD. Needs clang++,
# clang-format and clang-tidy (scripts/install-deps.sh installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
base=${1:-${SLIPWAY_LINT_BASE:-}}
if [ -z "$base" ]; then
  if git rev-parse -q --verify HEAD~1 >/dev/null; then base=HEAD~1; else base=$(git rev-list --max-parents=0 HEAD); fi
fi

echo "== clang build (-Wthread-safety -Werror)"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$root/build-clang" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
  -DSLIPWAY_WERROR=ON -DSLIPWAY_THREAD_SAFETY=ON -DSLIPWAY_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build-clang" -j "$(nproc)" --target slipwayd slipway

mapfile -t changed < <(git diff --name-only --diff-filter=ACMR "$base" -- '*.cc' '*.h' |
                       grep -v '^build' || true)
echo "== clang-format (${#changed[@]} changed files since $base)"
if [ ${#changed[@]} -gt 0 ]; then
  clang-format --dry-run --Werror "${changed[@]}"
fi

mapfile -t sources < <(printf '%s\n' "${changed[@]}" | grep '\.cc$' |
                       grep -v -e '^tests/' -e '^bench/' -e '^fuzz/' || true)
echo "== clang-tidy (${#sources[@]} changed sources)"
if [ ${#sources[@]} -gt 0 ]; then
  printf '%s\n' "${sources[@]}" |
    xargs -P "$(nproc)" -n 4 clang-tidy -p "$root/build-clang" --quiet --warnings-as-errors='*'

fi
echo "style: OK"
