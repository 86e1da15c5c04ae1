//! `embed::read_area` on full-size areas, with checksums optionally made valid.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/embed/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::embed_area(data));
