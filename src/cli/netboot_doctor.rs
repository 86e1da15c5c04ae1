//! `kateskit netboot doctor --interface IFACE`: probes the segment and the local ports, prints
//! the report (or `--json`), exits 1 when something conflicts with running `netboot serve`.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use kateskit::netboot::doctor::{self, DoctorOptions};
use kateskit::netboot::fleet;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The interface facing the machines to boot (what `netboot serve --interface` gets).
    #[arg(long, value_name = "IFACE")]
    pub interface: String,
    /// Seconds to collect DHCP replies.
    #[arg(long, value_name = "SECS", default_value_t = 4.0)]
    pub wait: f64,
    /// The HTTP port `netboot serve` will use (checked locally, named in the site snippets).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub http_port: u16,
    /// The HTTPS port `netboot serve` will use (checked locally).
    #[arg(long, value_name = "PORT", default_value_t = 8443)]
    pub https_port: u16,
    /// The netboot server's address for the site snippets (default: the interface's IPv4).
    #[arg(long, value_name = "IP")]
    pub server: Option<Ipv4Addr>,
    /// Probe with this MAC instead of a random locally administered one (e.g. a MAC
    /// cluster.toml knows, to see a `netboot serve --unknown ignore` answer).
    #[arg(long, value_name = "MAC")]
    pub mac: Option<String>,
    /// Print the report as one JSON document.
    #[arg(long)]
    pub json: bool,
}

impl DoctorArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if !(self.wait.is_finite() && (0.1..=600.0).contains(&self.wait)) {
            anyhow::bail!("--wait {}: give seconds between 0.1 and 600", self.wait);
        }
        let mac = match &self.mac {
            Some(m) => Some(
                fleet::parse_mac(m)?
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--mac {m}: {e}"))?,
            ),
            None => None,
        };
        let report = doctor::run(&DoctorOptions {
            iface: self.interface.clone(),
            wait: Duration::from_secs_f64(self.wait),
            http_port: self.http_port,
            https_port: self.https_port,
            server: self.server,
            mac,
        })
        .with_context(|| format!("netboot doctor on {}", self.interface))?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", doctor::text::render(&report));
        }
        Ok(if report.verdict.conflict {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}
