//! Flat-file config codec: file names, value text and KATESKIT_VALUE_* names round-trip.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/flat/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::flat(data));
