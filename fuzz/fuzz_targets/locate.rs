//! `image::locate` over in-memory ISO9660/GPT/cpio images described sparsely (any size).
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/locate/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::locate(data));
