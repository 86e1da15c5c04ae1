//! Config merge: every leaf of the result has exactly one source; resolving never panics.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/merge/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::merge(data));
