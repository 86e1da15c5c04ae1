//! `kateskit agent network --local`: the static network of the local config sources (image
//! defaults, embed area, config drive, kernel command line), written as systemd-networkd files
//! by an early unit ordered before `network-pre.target`. networkd then starts with the
//! declared address, `network-online.target` means that address, and a `config_url` (fetched
//! later by `agent run`) is reached through it.
//!
//! Without a local static address nothing is written: the image's default DHCP network, or
//! whatever the last full run chose (perhaps from `config_url`), stays until `agent run`
//! decides, so a boot never flaps between the two.

use crate::agent::{ladder, AgentEnv, AgentError};

/// What writing the local rungs' network did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalNetwork {
    /// No local source declares a static network; the files were left alone.
    NotDeclared,
    /// The files were already as declared: networkd was not touched.
    Unchanged { files: Vec<String>, source: String },
    /// The files were (re)written and networkd asked to reload if it was running.
    Written { files: Vec<String>, source: String },
}

impl LocalNetwork {
    /// One line for the journal.
    pub fn summary(&self) -> String {
        match self {
            LocalNetwork::NotDeclared => {
                "network: no static address in the local config sources; networkd files left as they are".into()
            }
            LocalNetwork::Unchanged { files, source } => format!(
                "network: {} from {source} unchanged; networkd not reloaded",
                files.join(", ")
            ),
            LocalNetwork::Written { files, source } => format!(
                "network: wrote {} from {source}; networkd reloaded if running",
                files.join(", ")
            ),
        }
    }
}

/// Reads only the local rungs (never config_url) and applies their static network.
pub fn apply(env: &AgentEnv) -> Result<LocalNetwork, AgentError> {
    let l = ladder::local(env).map_err(AgentError::Config)?;
    super::network::apply_local(env, &l.merged)
}
