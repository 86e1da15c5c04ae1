//! Zero maps `kateskit install --image-zeros` downloads: parsing never panics; accepted maps render
//! back to themselves and never count a byte outside a run as zeros.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/zero_map/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::zero_map(data));
