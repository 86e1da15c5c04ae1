//! What may ride in a netboot carrier. A carrier (a newc cpio loaded after the generic initrd)
//! is fetched by firmware or iPXE over TFTP or plain HTTP, so anyone on the segment can read
//! it. A server's config holds the server token, and the first server's every CA key: whoever
//! reads it owns the cluster. `kateskit netboot serve` hands configs over HTTPS pinned by the
//! kernel arguments instead, a server's once per approval.

use crate::nodecfg::NodeConfig;
use crate::spec::Role;

/// Why `cfg` must not travel in a carrier, or `None` when it may (with [`agent_warning`]).
pub fn refusal(cfg: &NodeConfig) -> Option<String> {
    let secrets = cfg.secrets.as_ref()?;
    if cfg.node.role != Role::Server {
        return None;
    }
    let what = if secrets.ca_files.is_empty() {
        "the server token"
    } else {
        "the server token and every CA key of the cluster"
    };
    Some(format!(
        "node {} is a server: its config holds {what}, and a netboot carrier is fetched over \
         TFTP or plain HTTP, where anyone on the segment reads it. Serve it with `kateskit \
         netboot serve` (pinned HTTPS, once per approval), stamp a USB stick or ISO instead, \
         or pass --allow-server-secrets if this carrier never crosses a network others can read",
        cfg.node.name
    ))
}

/// The warning for an agent's carrier: its token lets a reader join machines as agents.
pub fn agent_warning(cfg: &NodeConfig) -> Option<String> {
    cfg.secrets.as_ref()?;
    (cfg.node.role != Role::Server).then(|| {
        format!(
            "the carrier holds node {}'s agent token, readable by anyone on the network it is \
             served over; `kateskit netboot serve` hands it over pinned HTTPS instead",
            cfg.node.name
        )
    })
}
