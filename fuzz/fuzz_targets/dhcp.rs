//! DHCP packets on ports 67 and 4011: decoding never panics; replies encode and, from a proxy, carry no address.
//! The harness lives in `kateskit::fuzzing`, so `cargo test` replays fuzz/regressions/dhcp/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kateskit::fuzzing::dhcp(data));
