//! k3os mapper: any config.yaml or `k3os.*` command line either maps or is refused with an
//! error, never a panic; every leaf of the mapped layer is attributed to its source.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/k3os/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::k3os(data));
