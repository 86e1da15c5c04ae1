//! Config drive mappers: `kateskit.json`, NoCloud meta-data and cloud-config user-data.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/nocloud/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::nocloud(data));
