#!/usr/bin/env bash
# Installs what Slipway needs, builds it with warnings as errors, and runs the whole test suite
# twice: once on the optimized build, once under AddressSanitizer + UndefinedBehaviorSanitizer.
# In between, the style checks run (clang -Wthread-safety build, clang-format and clang-tidy on
# the changed files), and the webhook parsers run briefly as libFuzzer targets.
#   scripts/test.sh            both builds
#   SLIPWAY_SKIP_ASAN=1 scripts/test.sh    the optimized build only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"

echo "== build (RelWithDebInfo, -Werror)"
"$root/scripts/build.sh" "$root/build" -DSLIPWAY_WERROR=ON
echo "== test"
ctest --test-dir "$root/build" --output-on-failure -j "$(nproc)" --timeout 300

# The style guide: a clang build with -Wthread-safety -Werror, clang-format and clang-tidy on
# what changed (scripts/check_style.sh).
if [ "${SLIPWAY_SKIP_STYLE:-0}" != 1 ]; then
  "$root/scripts/check_style.sh"
fi

# The provider parsers as libFuzzer targets, when clang is there to build them.
if command -v clang++ >/dev/null && [ "${SLIPWAY_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz (libFuzzer, ASan + UBSan)"
  mkdir -p "$root/build-fuzz"
  (cd "$root/build-fuzz" && "$root/scripts/fuzz.sh" "${SLIPWAY_FUZZ_SECONDS:-10}")
fi

if [ "${SLIPWAY_SKIP_ASAN:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  SLIPWAY_BUILD_TYPE=Debug "$root/scripts/build.sh" "$root/build-asan" \
    -DSLIPWAY_WERROR=ON -DSLIPWAY_SANITIZE=ON -DSLIPWAY_BUILD_BENCH=OFF
  echo "== test (ASan + UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$root/build-asan" --output-on-failure -j "$(nproc)" --timeout 600
fi

