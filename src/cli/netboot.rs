//! `kateskit netboot`: approve machines and show the fleet the netboot server keeps
//! (docs/netboot.md). One file per subcommand.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum NetbootCmd {
    /// Release a machine held pending (or re-release a server): its next config poll gets
    /// the config of the node it is approved as.
    Approve(super::netboot_approve::ApproveArgs),
    /// The machines the netboot server has seen: node, MAC, IP, phase, last seen, failure,
    /// and one machine's boot timeline.
    Status(super::netboot_status::StatusArgs),
    /// Serve a rack: DHCP (proxy or full), TFTP for iPXE, HTTP for scripts and artifacts,
    /// HTTPS for per-node configs and status.
    Serve(super::netboot_serve::ServeArgs),
    /// Before serving: find DHCP servers and ProxyDHCPs on the segment, check the local
    /// ports, and print what to set on the site DHCP server. Exit 1 on a conflict.
    Doctor(super::netboot_doctor::DoctorArgs),
}

impl NetbootCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            NetbootCmd::Approve(a) => a.run(),
            NetbootCmd::Status(a) => a.run(),
            NetbootCmd::Serve(a) => a.run(),
            NetbootCmd::Doctor(a) => a.run(),
        }
    }
}
