#!/usr/bin/env bash
# Coverage-guided fuzzing, bounded: builds every cargo-fuzz target of fuzz/
# (nightly, AddressSanitizer, debug assertions on) and runs each one from
# its committed seed corpus for its share of FUZZ_SECONDS (default 60 in
# all). New corpus entries go to a temporary copy, never into the
# repository. Fails on any crash, leak, timeout or out-of-memory, printing
# the target and the input that caused it (kept under fuzz/artifacts/,
# git-ignored). fuzz/README.md says how to run longer and what to do with
# a crash.
#
#   scripts/fuzz.sh                    # every target, about a minute in all
#   FUZZ_SECONDS=600 scripts/fuzz.sh   # longer
#   scripts/fuzz.sh decode deframer    # some targets only
set -euo pipefail
cd "$(dirname "$0")/.."

total=${FUZZ_SECONDS:-60}
tools=$(./scripts/tools.sh cargo-fuzz)
export PATH="$tools:$PATH"
fuzz() { cargo +nightly fuzz "$@"; }

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(fuzz list --fuzz-dir fuzz)
fi
per=$(( total / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1

echo "==> cargo fuzz build (${#targets[@]} targets)"
fuzz build --fuzz-dir fuzz

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stamp="$work/.start"
touch "$stamp"
failed=()
for t in "${targets[@]}"; do
  echo "==> fuzz $t for ${per}s"
  mkdir -p "$work/corpus/$t"
  if [ -d "fuzz/corpus/$t" ]; then
    cp -R "fuzz/corpus/$t/." "$work/corpus/$t/"
  fi
  # -timeout: one input taking this long is a finding (a hang); the
  # engine's worst inputs take milliseconds. -rss_limit_mb: libFuzzer's
  # default, said out loud. -print_final_stats: runs and coverage, for the log.
  if ! fuzz run --fuzz-dir fuzz "$t" "$work/corpus/$t" -- \
      -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$work/$t.log" 2>&1; then
    # The panic (or sanitizer report) and libFuzzer's summary, not the
    # whole backtrace.
    grep -E -A2 "panicked at|^==[0-9]+==ERROR|^SUMMARY" "$work/$t.log" | head -n 30 || true
    tail -n 12 "$work/$t.log"
    failed+=("$t")
    echo "FAILED: fuzz target $t" >&2
    if [ -d "fuzz/artifacts/$t" ]; then
      find "fuzz/artifacts/$t" -type f -newer "$stamp" | while read -r input; do
        echo "  crashing input: $input" >&2
        echo "  reproduce: cargo +nightly fuzz run --fuzz-dir fuzz $t $input" >&2
      done
    fi
  else
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/$t.log" \
      | tr '\n' ' ' | sed "s/^/    $t: /"
    echo
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "error: fuzzing found failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, no failures"
