#!/usr/bin/env bash
# Builds the webhook provider parsers as libFuzzer targets with clang (ASan + UBSan) and runs
# each briefly on a corpus seeded with that provider's shared fixtures. Needs clang++ and a
# configured build/ (for the generated protobuf sources).
#   scripts/fuzz.sh [SECONDS_PER_PROVIDER]   (default 10)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
out="$root/build-fuzz"
fixtures="$root/../shared/fixtures/webhooks"
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -DSLIPWAY_LIBFUZZER
       -I"$root" -I"$root/build/proto")
libs=(-lsimdjson -lprotobuf -lcrypto -labsl_strings -labsl_status -labsl_statusor
      -labsl_str_format_internal -labsl_time -labsl_time_zone -labsl_int128 -labsl_cord
      -labsl_raw_logging_internal -labsl_throw_delegate)
common=("$root/trigger/providers.cc" "$root/common/random.cc" "$root/common/clock.cc" "$root/common/utf8.cc"
        "$root/build/proto/slipway/v1/delivery.pb.cc" "$root/build/proto/slipway/v1/pipeline.pb.cc"
        "$root/build/proto/slipway/v1/options.pb.cc")
objects=()
for src in "${common[@]}"; do
  obj="$out/$(basename "$src").o"
  clang++ "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" -c "$src" -o "$obj"
  objects+=("$obj")
done
n=0
for provider in github gitlab gitea bitbucket; do
  n=$((n + 1))
  bin="$out/${provider}_fuzz"
  clang++ "${flags[@]}" -DSLIPWAY_FUZZ_PROVIDER=$n "$root/fuzz/provider_fuzz.cc" "${objects[@]}" \
    "${libs[@]}" -o "$bin"
  corpus="$out/corpus-$provider"
  mkdir -p "$corpus"
  cp "$fixtures/$provider"/*.json "$corpus/"
  echo "== fuzz $provider for ${seconds}s"
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 "$corpus" 2>&1 |
    grep -E "^(Done|stat::number_of_executed_units|==.*ERROR)" || true
  # libFuzzer exits non-zero and leaves a crash-* file when it finds a crash.
  if ls crash-* >/dev/null 2>&1; then
    echo "fuzz $provider: crash found" >&2
    exit 1
  fi
done
