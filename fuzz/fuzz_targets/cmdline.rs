//! Kernel command line parser: never panics, refuses only lines with `kateskit.*`; every `kateskit.*` leaf it produces is attributed.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/cmdline/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::cmdline(data));
