//! BlueStore device label decoding (`bluestore::decode`).
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/bluestore/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::bluestore(data));
