//! `kateskit image inspect`: what the embed area holds, without ever printing secrets.

use std::path::PathBuf;
use std::process::ExitCode;

use kateskit::image::customize::{self, AreaState};
use kateskit::nodecfg;

use super::InspectArgs;

/// Summary printed by `inspect`: never the secrets, only what identifies the stamp.
#[derive(serde::Serialize)]
struct Summary {
    image: PathBuf,
    carrier: kateskit::image::Carrier,
    #[serde(flatten)]
    state: SummaryState,
}

#[derive(serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
enum SummaryState {
    Empty,
    Stamped {
        cluster: Option<String>,
        node: Option<String>,
        role: Option<String>,
        config_sha256: Option<String>,
        stored_bytes: usize,
        compressed: bool,
        kargs: Vec<String>,
    },
    Corrupt {
        error: String,
    },
}

pub fn run(a: InspectArgs) -> anyhow::Result<ExitCode> {
    use sha2::Digest;
    let (carrier, state) = customize::inspect(&a.image)?;
    let state = match state {
        AreaState::Empty => SummaryState::Empty,
        AreaState::Corrupt { error } => SummaryState::Corrupt {
            error: kateskit::redact::text(&error),
        },
        AreaState::Stamped(e) => {
            let cfg = e
                .node_config_json
                .as_deref()
                .map(nodecfg::NodeConfig::from_json);
            let cfg = cfg.and_then(Result::ok);
            // A partial config layer (e.g. from the guided install) still names its role.
            let layer_role = || {
                let v: serde_json::Value =
                    serde_json::from_str(e.node_config_json.as_deref()?).ok()?;
                Some(v.pointer("/node/role")?.as_str()?.to_string())
            };
            SummaryState::Stamped {
                cluster: cfg.as_ref().map(|c| c.cluster.name.clone()),
                node: cfg.as_ref().map(|c| c.node.name.clone()),
                role: cfg
                    .as_ref()
                    .map(|c| c.node.role.as_str().to_string())
                    .or_else(layer_role),
                config_sha256: e
                    .node_config_json
                    .as_ref()
                    .map(|j| hex::encode(sha2::Sha256::digest(j.as_bytes()))),
                stored_bytes: e.stored_len,
                compressed: e.compressed,
                // Secret kernel arguments (`kateskit.token=`) and URL credentials masked.
                kargs: kateskit::redact::kargs(&e.kargs),
            }
        }
    };
    let corrupt = matches!(state, SummaryState::Corrupt { .. });
    let s = Summary {
        image: a.image,
        carrier,
        state,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "{}: {} at byte {} ({} bytes)",
            s.image.display(),
            s.carrier.kind,
            s.carrier.extent.offset,
            s.carrier.extent.len
        );
        match &s.state {
            SummaryState::Empty => println!("empty (pristine zeros)"),
            SummaryState::Corrupt { error } => println!("corrupt: {error}"),
            SummaryState::Stamped {
                cluster,
                node,
                role,
                config_sha256,
                stored_bytes,
                compressed,
                kargs,
            } => {
                match (cluster, node, role) {
                    (Some(c), Some(n), Some(r)) => {
                        println!("stamped: node {n} ({r}) of cluster {c}")
                    }
                    (None, None, Some(r)) => {
                        println!("stamped: partial config layer ({r}), completed by the node")
                    }
                    _ if config_sha256.is_some() => {
                        println!("stamped: config does not parse as a NodeConfig of this version")
                    }
                    _ => println!("stamped: kernel arguments only"),
                }
                if let Some(h) = config_sha256 {
                    println!(
                        "config: {stored_bytes} bytes stored{}, sha256 {h}",
                        if *compressed { " (zstd)" } else { "" }
                    );
                }
                println!(
                    "kargs: {}",
                    if kargs.is_empty() {
                        "(none)".to_string()
                    } else {
                        kargs.join(" ")
                    }
                );
            }
        }
    }
    Ok(if corrupt {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
