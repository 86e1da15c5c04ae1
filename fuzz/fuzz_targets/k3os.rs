//! k3os mapper: any config.yaml or `k3os.*` command line either maps or is refused with an
//! error, never a panic; every leaf of the mapped layer is attributed to its source.
#![no_main]

use kateskit::agent::{cmdline, tree};
use kateskit::k3os;
use libfuzzer_sys::fuzz_target;

fn attributed(m: &k3os::Mapped) {
    for p in tree::leaf_paths(&m.layer.tree) {
        assert!(
            m.layer.origin.keys().any(|o| p == *o || p.starts_with(&format!("{o}."))
                || p.starts_with(&format!("{o}["))),
            "leaf {p} has no origin"
        );
    }
    for u in &m.unmapped {
        assert!(!u.key.is_empty() && !u.source.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(cfg) = k3os::parse_yaml(data, "fuzz") {
        if let Ok(m) = k3os::map(&cfg, "fuzz") {
            attributed(&m);
        }
    }
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(args) = cmdline::split(line, "fuzz") {
        if let Ok(Some(m)) = k3os::cmdline::map(&args, "fuzz") {
            attributed(&m);
        }
    }
});
