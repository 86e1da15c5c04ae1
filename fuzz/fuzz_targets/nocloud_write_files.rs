//! cloud-init write_files decoding: any YAML list never panics, and every entry it accepts
//! carries content and a mode the host phase can use.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays its regressions.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::nocloud_write_files(data));
