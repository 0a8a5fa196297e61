#!/usr/bin/env bash
# End-to-end: the CLI's conventions. Every kind of usage error exits 2 and says what was wrong
# (an unknown command with the nearest one), colours follow the terminal, NO_COLOR and
# --no-color, `get` lists every resource kind, every command's help has an example, and the
# generated bash completion completes commands and flags.
#   cli_conventions_test.sh SLIPWAYD SLIPWAY SOURCE_DIR HELLO_SERVER_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
SRC=$3
export PATH="$(cd "$4" && pwd):$PATH"
source "$(dirname "$0")/lib.sh"

# Usage errors: exit 2, nothing sent (no daemon is running yet, so a connection attempt would
# exit 1 with "is slipwayd running").
usage() {  # description expected-text args...
  local what=$1 want=$2; shift 2
  local out rc
  out=$("$SLIPWAY" --data-dir "$DATA" --token "slw_$(printf '0%.0s' $(seq 64))" "$@" 2>&1); rc=$?
  check "$what exits 2" test "$rc" = 2
  check "$what says: $want" grep -qF -- "$want" <<<"$out"
}
usage "an unknown command" 'unknown command "bogus" for "slipway"' bogus
usage "a mistyped command" 'did you mean "rollback"?' rollbak shop/prod
usage "a mistyped subcommand" 'unknown command "pipelnes" for "slipway get" (did you mean "pipelines"?)' get pipelnes
usage "an unknown flag" "--frobnicate" get pipelines --frobnicate
usage "a missing argument" "target is required" rollback
usage "a bad output format" "--output" get pipelines -o xml
usage "PIPELINE/STAGE without a slash" "expected PIPELINE/STAGE" rollback shop
usage "a run target without a slash" "expected PIPELINE/STAGE" run shop
usage "--arg without =" "expected name=value" run shop/dev --arg version
usage "an unknown scope" "--scope" token create --scope root
usage "release get with a non-number" "expected get PIPELINE/STAGE NUMBER" release get shop/dev x
usage "diff with non-numbers" "release numbers" diff shop/dev a b
usage "a preview verb with too few words" "usage: slipway preview extend NAME DURATION" preview extend p1
usage "a delivery verb it does not have" "expected get ID or redeliver ID" delivery fetch d-1
usage "too many arguments" "were not expected" runs a b c
usage "a completion shell it does not have" "shell" completion tcsh
out=$("$SLIPWAY" --data-dir "$DATA" --token "slw_$(printf '0%.0s' $(seq 64))" get pipelines 2>&1); rc=$?
check "an unreachable daemon is not a usage error: exit 1" test "$rc" = 1
check "help exits 0" "$SLIPWAY" --help
check "--version names the version" bash -c "'$SLIPWAY' --version | grep -q '^slipway [0-9]'"

# Every command's help has an example (the man page is generated from the same help).
"$SLIPWAY" man >"$WORK/slipway.1"
check "the man page names every command" test "$(grep -c '^\.SS ' "$WORK/slipway.1")" -ge 30
missing=$(python3 - "$WORK/slipway.1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sections = re.split(r'^\.SS ', text, flags=re.M)[1:]
print(" | ".join(s.splitlines()[0] for s in sections if "Example" not in s))
PY
)
check "every command's help has an example (missing: ${missing:-none})" test -z "$missing"
check "slipwayd's man page renders" bash -c "'$SLIPWAYD' --man | grep -q '^\.SH OPTIONS'"
if command -v man >/dev/null; then
  check "man renders slipway.1" bash -c "man -l '$WORK/slipway.1' 2>/dev/null | grep -q 'rollback'"
fi

# bash completion, run as bash runs it.
"$SLIPWAY" completion bash >"$WORK/slipway.bash"
complete_words() {  # words...: what completing the last word offers
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _slipway; echo "${COMPREPLY[*]}"' _ "$WORK/slipway.bash" "$@"
}
check "bash completes commands" bash -c "[ \"\$($(declare -f complete_words); WORK=$WORK complete_words slipway roll)\" = rollback ]"
check "bash completes get's kinds" bash -c "$(declare -f complete_words); WORK=$WORK; complete_words slipway get ru | grep -qx runs"
check "bash completes a command's flags" bash -c "$(declare -f complete_words); WORK=$WORK; complete_words slipway rollback --dr | grep -qx -- --dry-run"
check "bash completes global flags after a command" bash -c "$(declare -f complete_words); WORK=$WORK; complete_words slipway get pipelines --no-c | grep -qx -- --no-color"
for shell in zsh fish; do
  "$SLIPWAY" completion "$shell" >"$WORK/slipway.$shell"
  check "the $shell completion names the commands" grep -q "service-logs" "$WORK/slipway.$shell"
  if command -v "$shell" >/dev/null; then
    if [ "$shell" = zsh ]; then check "zsh parses its completion" zsh -n "$WORK/slipway.zsh"; fi
    if [ "$shell" = fish ]; then
      check "fish parses its completion" fish --no-execute "$WORK/slipway.fish"
      check "fish completes get's kinds" bash -c "fish -c \"source '$WORK/slipway.fish'; complete -C 'slipway get ru'\" | grep -qx runs"
      check "fish completes a command's flags" bash -c "fish -c \"source '$WORK/slipway.fish'; complete -C 'slipway rollback --dr'\" | grep -qx -- --dry-run"
    fi
  fi
done

# `get` for each kind, against a daemon.
start_daemon
cli apply -f "$SRC/examples/shop/pipeline.yaml" >/dev/null
run_id=$(cli run shop/dev --arg version=1.0.0 -o json | json "d['id']")
for kind in pipelines "stages shop" "runs shop" "releases shop/dev" previews deliveries tokens; do
  # shellcheck disable=SC2086
  out=$(cli get $kind 2>&1); rc=$?
  check "get $kind exits 0" test "$rc" = 0
done
check "get runs lists the run" bash -c "'$SLIPWAY' --data-dir '$DATA' get runs shop | grep -q '$run_id'"
check "get stages lists the stages in order" bash -c "[ \"\$('$SLIPWAY' --data-dir '$DATA' get stages shop | awk 'NR>1{print \$1}' | tr '\n' ' ')\" = 'dev staging prod ' ]"
check "get stages -o json is a JSON array of stages" bash -c "'$SLIPWAY' --data-dir '$DATA' get stages shop -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [s[\"spec\"][\"name\"] for s in d]==[\"dev\",\"staging\",\"prod\"]'"
check "get tokens lists the bootstrap token" bash -c "'$SLIPWAY' --data-dir '$DATA' get tokens | grep -q 'bootstrap admin token'"
finished() { [ "$(cli run get "$run_id" -o json | json "d.get('state','')")" = RUN_STATE_SUCCEEDED ]; }
wait_for 30 finished

# Colours: on a terminal, unless NO_COLOR or --no-color; never when piped.
on_tty() { script -qec "$*" /dev/null; }
esc=$'\033['
out=$(on_tty env -u NO_COLOR TERM=xterm "$SLIPWAY" --data-dir "$DATA" run shop/dev --arg version=1.0.1 --wait)
check "a terminal gets colours" grep -qF "$esc" <<<"$out"
out=$(on_tty env NO_COLOR=1 TERM=xterm "$SLIPWAY" --data-dir "$DATA" run shop/dev --arg version=1.0.2 --wait)
check "NO_COLOR turns them off" bash -c "! grep -qF '$esc' <<<\"\$1\" && grep -q succeeded <<<\"\$1\"" _ "$out"
out=$(on_tty env -u NO_COLOR TERM=xterm "$SLIPWAY" --data-dir "$DATA" --no-color run shop/dev --arg version=1.0.3 --wait)
check "--no-color turns them off" bash -c "! grep -qF '$esc' <<<\"\$1\" && grep -q succeeded <<<\"\$1\"" _ "$out"
out=$(env -u NO_COLOR TERM=xterm "$SLIPWAY" --data-dir "$DATA" run shop/dev --arg version=1.0.4 --wait)
check "a pipe gets none" bash -c "! grep -qF '$esc' <<<\"\$1\" && grep -q succeeded <<<\"\$1\"" _ "$out"
summary
