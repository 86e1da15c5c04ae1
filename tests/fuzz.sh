#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/, cargo-fuzz layout; one per parser of untrusted bytes, see
# src/fuzzing/mod.rs) for a bounded time each.
# Usage: tests/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, every target)
# FUZZ_RUNS=N instead runs N inputs per target from a fixed seed and a fresh corpus made of
# fuzz/seeds and fuzz/regressions only: the same inputs on every machine, so a smoke run in CI
# fails only on a real regression, never on a new find (tests/run uses it; long runs search).
# FUZZ_SANITIZER=address adds AddressSanitizer (slower build and runs; the parsers are safe
# Rust, so the default is none). FUZZ_PROFILE=dev builds unoptimised targets: a much shorter
# build, fewer executions per second (tests/run uses it for its smoke run). cargo fuzz needs
# nightly compiler features; RUSTC_BOOTSTRAP=1 enables them on stable. FUZZ_BUILD_ONLY=1 builds
# the targets and stops (tests/run builds them while its tests run).
# Inputs: fuzz/seeds/<target>/ (kept in git), fuzz/regressions/<target>/ (kept in git, replayed
# by `cargo test --test fuzz_inputs`), fuzz/corpus/<target>/ (grows locally, not kept).
# A crash leaves its input in fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/,
# fix the parser, and run again.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-none}
opts=(--fuzz-dir fuzz -s "$sanitizer")
[ "${FUZZ_PROFILE:-release}" = dev ] && opts+=(--dev)
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "tests/fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi
start=$(date +%s)
cargo fuzz build "${opts[@]}"
echo "tests/fuzz.sh: fuzz targets built in $(($(date +%s) - start)) s"
[ -n "${FUZZ_BUILD_ONLY:-}" ] && exit 0
status=0
for target in "${targets[@]}"; do
  if [ -n "${FUZZ_RUNS:-}" ]; then
    echo "== fuzz target $target: $FUZZ_RUNS inputs from seed 1"
  else
    echo "== fuzz target $target for ${secs}s"
  fi
  if [ -n "${FUZZ_RUNS:-}" ]; then
    corpus=$(mktemp -d)
    limit=(-runs="$FUZZ_RUNS" -seed=1)
  else
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus"
    limit=(-max_total_time="$secs")
  fi
  dirs=("$corpus")
  for d in "fuzz/seeds/$target" "fuzz/regressions/$target"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  # libFuzzer stops itself after max_total_time or runs; the outer timeout bounds a hung
  # input too.
  if ! timeout $((secs + 300)) cargo fuzz run "${opts[@]}" "$target" "${dirs[@]}" -- \
      "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1; then
    echo "tests/fuzz.sh: $target failed; a crashing input is in fuzz/artifacts/$target/" >&2
    status=1
  fi
  [ -n "${FUZZ_RUNS:-}" ] && rm -rf "$corpus"
done
exit $status
