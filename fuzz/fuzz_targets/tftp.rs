//! TFTP datagrams on port 69: reading never panics; options stay in their RFC ranges; accepted names are
//! plain relative paths.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/tftp/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::tftp(data));
