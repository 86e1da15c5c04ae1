//! The newc cpio walk that finds the netboot carrier's embed member.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/cpio/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::cpio(data));
