#!/usr/bin/env bash
# Runs each agent fuzz target (fuzz/, cargo-fuzz layout) for a bounded time.
# Usage: tests/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# cargo fuzz needs nightly compiler features; RUSTC_BOOTSTRAP=1 enables them on stable.
# A crash leaves its input in fuzz/artifacts/<target>/; add it as a regression unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "tests/fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
status=0
for target in cmdline merge nocloud nocloud_write_files; do
  echo "== fuzz target $target for ${secs}s"
  mkdir -p "fuzz/corpus/$target"
  if ! cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- -max_total_time="$secs" -rss_limit_mb=2048; then
    echo "tests/fuzz.sh: $target found a crash; see fuzz/artifacts/$target/" >&2
    status=1
  fi
done
exit $status
