//! Kernel command line parser: never panics; every `kateskit.*` leaf it produces is attributed.
#![no_main]

use kateskit::agent::{cmdline, tree};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(args) = cmdline::split(line, "fuzz") else {
        return;
    };
    if let Ok(mut layer) = cmdline::layer(&args, "fuzz") {
        for p in tree::leaf_paths(&layer.tree) {
            assert!(layer.origin.contains_key(&p), "leaf {p} has no origin");
        }
        cmdline::coerce(
            &mut layer.tree,
            Some(&kateskit::agent::effective::agent_shape()),
        );
    }
});
