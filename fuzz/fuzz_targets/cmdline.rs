//! Kernel command line parser: never panics, refuses only lines with `kateskit.*`; every `kateskit.*` leaf it produces is attributed.
#![no_main]

use kateskit::agent::{cmdline, tree};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    // Linux accepts every line: only a broken `kateskit.*` argument may be refused.
    let args = match cmdline::split(line, "fuzz") {
        Ok(args) => args,
        Err(e) => {
            assert!(line.contains("kateskit."), "refused a line without kateskit.*: {e}");
            return;
        }
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
