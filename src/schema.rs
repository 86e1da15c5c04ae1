//! JSON Schemas generated from the Rust types; committed under `docs/schema/` and checked for
//! drift by a test.

use crate::agent::ladder::effective::AgentSettings;
use crate::nodecfg::NodeConfig;
use crate::spec::ClusterSpec;
use crate::upgrade::Report as UpgradeReport;

/// (file name under docs/schema, pretty JSON with trailing newline)
pub fn all() -> Vec<(&'static str, String)> {
    let render = |s: schemars::schema::RootSchema| {
        let mut t = serde_json::to_string_pretty(&s).expect("schema serializes");
        t.push('\n');
        t
    };
    vec![
        (
            "cluster.schema.json",
            render(schemars::schema_for!(ClusterSpec)),
        ),
        (
            "nodeconfig.schema.json",
            render(schemars::schema_for!(NodeConfig)),
        ),
        (
            "agent.schema.json",
            render(schemars::schema_for!(AgentSettings)),
        ),
        (
            "upgrade-report.schema.json",
            render(schemars::schema_for!(UpgradeReport)),
        ),
    ]
}
