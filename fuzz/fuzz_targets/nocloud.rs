//! NoCloud drive mapper: any meta-data, user-data and network-config (the input split at NUL
//! bytes) never panics; every leaf it sets is attributed; the agent settings it produces
//! deserialize; the network links it maps render to networkd or are refused with an error.
#![no_main]

use kateskit::agent::{effective, network, nocloud, tree};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let (meta, user, net) = (parts.next(), parts.next(), parts.next());
    let drive = nocloud::Drive {
        desc: "fuzz",
        meta_data: meta,
        user_data: user,
        network_config: net,
    };
    let Ok((Some(layer), _warnings)) = nocloud::map(&drive) else {
        return;
    };
    for p in tree::leaf_paths(&layer.tree) {
        assert!(layer.origin.keys().any(|o| p.starts_with(o.as_str())), "leaf {p} has no origin");
    }
    let agent = layer.tree.get("agent").cloned().unwrap_or_default();
    if !agent.is_null() {
        let s: effective::AgentSettings =
            serde_json::from_value(agent).expect("mapped agent settings deserialize");
        let _ = nocloud::networkd::render(&s.network_config, &[], "fuzz");
    }
    let _ = network::partial_links(&layer.tree);
});
