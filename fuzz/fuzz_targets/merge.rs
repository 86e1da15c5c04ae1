//! Config merge: for any two JSON layers, every leaf of the result has exactly one source, and
//! resolving into the effective config returns an error instead of panicking.
#![no_main]

use kateskit::agent::{effective, tree};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut merged = tree::Merged::new();
    for (i, part) in text.split('\u{1}').enumerate().take(4) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(part) else {
            return;
        };
        if !v.is_object() {
            return;
        }
        merged.push(&tree::Layer::uniform(v, &format!("layer{i}")));
    }
    let leaves = tree::leaf_paths(&merged.tree);
    assert_eq!(
        leaves.len(),
        merged.origin.len(),
        "origins {:?} vs leaves {leaves:?}",
        merged.origin.keys()
    );
    for p in &leaves {
        assert!(merged.origin.contains_key(p), "leaf {p} has no origin");
    }
    let _ = effective::resolve(merged);
});
