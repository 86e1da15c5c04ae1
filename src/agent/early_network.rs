//! `kateskit agent network --local`: the static network of the local config sources (image
//! defaults, embed area, config drive, kernel command line), written as systemd-networkd files
//! by an early unit ordered before `network-pre.target`. networkd then starts with the
//! declared address, `network-online.target` means that address, and a `config_url` (fetched
//! later by `agent run`) is reached through it.
//!
//! Without a local static address nothing is written: the image's default DHCP network, or
//! whatever the last full run chose (perhaps from `config_url`), stays until `agent run`
//! decides, so a boot never flaps between the two.

use super::{ladder, network, AgentEnv, AgentError};

/// What the early network step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EarlyNetwork {
    /// No local source declares a static network; the files were left alone.
    NotDeclared,
    /// The files were already as declared: networkd was not touched.
    Unchanged { files: Vec<String>, source: String },
    /// The files were (re)written and networkd asked to reload if it was running.
    Written { files: Vec<String>, source: String },
}

impl EarlyNetwork {
    /// One line for the journal.
    pub fn summary(&self) -> String {
        match self {
            EarlyNetwork::NotDeclared => {
                "network: no static address in the local config sources; networkd files left as they are".into()
            }
            EarlyNetwork::Unchanged { files, source } => format!(
                "network: {} from {source} unchanged; networkd not reloaded",
                files.join(", ")
            ),
            EarlyNetwork::Written { files, source } => format!(
                "network: wrote {} from {source}; networkd reloaded if running",
                files.join(", ")
            ),
        }
    }
}

/// Reads the local rungs and applies their static network (or NoCloud links).
pub fn apply_local(env: &AgentEnv) -> Result<EarlyNetwork, AgentError> {
    let l = ladder::local(env).map_err(AgentError::Config)?;
    apply_partial(env, &l)
}

/// Applies the static network (or NoCloud links) a partial ladder declares; also used by
/// discover before the config_url fetch. The files name their source exactly as the network
/// phase names it, so the three writers agree byte for byte and an unchanged network never
/// makes networkd reload.
pub fn apply_partial(env: &AgentEnv, l: &ladder::Ladder) -> Result<EarlyNetwork, AgentError> {
    let (net, macs) = network::partial(&l.merged.tree);
    let links = network::partial_links(&l.merged.tree);
    if net.is_none() && links.is_empty() {
        return Ok(EarlyNetwork::NotDeclared);
    }
    let src = network::source(l.merged.source_of("node.network"));
    let nc_src = network::nocloud_source(l.merged.source_of("agent.network_config"));
    let files = network::render_with_links(env, net.as_ref(), &links, &macs, &src, &nc_src)
        .map_err(AgentError::Network)?;
    let source = if net.is_some() { src } else { nc_src };
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    if !network::apply(env, &files)? {
        return Ok(EarlyNetwork::Unchanged {
            files: names,
            source,
        });
    }
    // Before network-pre.target networkd is not running yet and this does nothing; later
    // (discover, or by hand) it makes networkd read the new files.
    systemctl(env, &["try-reload-or-restart", "systemd-networkd.service"])
        .map_err(AgentError::Network)?;
    Ok(EarlyNetwork::Written {
        files: names,
        source,
    })
}

fn systemctl(env: &AgentEnv, args: &[&str]) -> Result<(), String> {
    let (cmd, pre) = env
        .systemctl
        .split_first()
        .ok_or("KATESKIT_SYSTEMCTL is empty")?;
    let out = std::process::Command::new(cmd)
        .args(pre)
        .args(args)
        .output()
        .map_err(|e| format!("running {cmd} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}
