//! `kateskit netboot serve`: parses the flags, starts the server (src/netboot/serve/) and
//! prints where it listens and the key pin the boot scripts carry.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use kateskit::netboot::dhcp::parse_range;
use kateskit::netboot::fleet::Unknown;
use kateskit::netboot::serve::{self, Ports, ServeOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DhcpMode {
    /// ProxyDHCP beside the site's DHCP server: answers only PXE clients.
    Proxy,
    /// A DHCP server for an isolated rack network (needs --range).
    Full,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UnknownArg {
    /// No answer to machines cluster.toml and approvals do not name.
    Ignore,
    /// Boot them into the agent's `unconfigured` state until approved.
    Pending,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Cluster directory (cluster.toml and its secrets).
    #[arg(long, value_name = "DIR")]
    pub cluster: PathBuf,
    /// Directory with `vmlinuz` and `initrd.img` (and raw images).
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    /// The rack-facing interface DHCP answers on.
    #[arg(long, value_name = "IFACE")]
    pub interface: String,
    /// ProxyDHCP beside the site's server, or a full DHCP server.
    #[arg(long, value_enum, default_value = "proxy")]
    pub dhcp: DhcpMode,
    /// Addresses `--dhcp full` hands out, FIRST,LAST.
    #[arg(long, value_name = "FIRST,LAST")]
    pub range: Option<String>,
    /// Address of the HTTP(S) listeners (default: the interface's IPv4 address).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<Ipv4Addr>,
    /// Port of the iPXE scripts and artifacts (plain HTTP: they hold no secret).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub http_port: u16,
    /// Port of the per-node configs and status (HTTPS, pinned by the boot kargs).
    #[arg(long, value_name = "PORT", default_value_t = 8443)]
    pub https_port: u16,
    /// Port of the TFTP server that carries iPXE (firmware asks on 69).
    #[arg(long, value_name = "PORT", default_value_t = 69)]
    pub tftp_port: u16,
    /// Artifact bodies sent at once; further GETs wait in arrival order (at least 1).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub slots: usize,
    /// Router (DHCP option 3) `--dhcp full` hands out (repeatable, in order).
    #[arg(long = "router", value_name = "IP")]
    pub routers: Vec<Ipv4Addr>,
    /// DNS server (DHCP option 6) `--dhcp full` hands out (repeatable, in order).
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<Ipv4Addr>,
    /// What machines cluster.toml and approvals do not name get.
    #[arg(long, value_enum, default_value = "ignore")]
    pub unknown: UnknownArg,
    /// State directory: fleet timeline, approvals, leases, the TLS certificate.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/kateskit-netboot")]
    pub state: PathBuf,
    /// The iPXE builds served over TFTP (Debian's `ipxe` package).
    #[arg(long, value_name = "DIR", default_value = "/usr/lib/ipxe")]
    pub tftp_root: PathBuf,
    /// A kernel argument for every boot script (repeatable), e.g. console=ttyS0.
    #[arg(long = "karg", value_name = "ARG")]
    pub kargs: Vec<String>,
    /// Raw image inside --artifacts that netbooted machines install (`kateskit install`
    /// streams it, verified by the SHA-256 the boot script carries); default `install.img`
    /// when present.
    #[arg(long, value_name = "NAME")]
    pub install_image: Option<String>,
}

impl ServeArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let full_range = match (self.dhcp, &self.range) {
            (DhcpMode::Full, Some(r)) => Some(parse_range(r)?),
            (DhcpMode::Full, None) => {
                return Err(serve::ServeError::NoRange {
                    iface: self.interface,
                }
                .into())
            }
            (DhcpMode::Proxy, Some(_)) => {
                anyhow::bail!(
                    "--range is only used with --dhcp full (proxy mode hands out no addresses)"
                )
            }
            (DhcpMode::Proxy, None) => None,
        };
        let opts = ServeOptions {
            cluster_dir: self.cluster,
            artifacts: self.artifacts,
            interface: self.interface,
            full_range,
            routers: self.routers,
            dns: self.dns,
            slots: self.slots,
            listen: self.listen,
            unknown: match self.unknown {
                UnknownArg::Ignore => Unknown::Ignore,
                UnknownArg::Pending => Unknown::Pending,
            },
            state: self.state,
            tftp_root: self.tftp_root,
            ports: Ports {
                http: self.http_port,
                https: self.https_port,
                tftp: self.tftp_port,
                ..Ports::default()
            },
            kargs: self.kargs,
            install_image: self.install_image,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let running = serve::start(opts).await?;
            let install = match &running.install_image {
                Some((name, sha, zeros)) => {
                    format!(" install_image={name} install_sha256={sha} install_zero_bytes={zeros}")
                }
                None => String::new(),
            };
            println!(
                "serving dhcp={} tftp={} http={} https={} config_tls_sha256={}{install}",
                running.mode, running.tftp, running.http, running.https, running.spki_sha256
            );
            running.run().await.map_err(anyhow::Error::msg)?;
            eprintln!("netboot serve: stopped");
            Ok(ExitCode::SUCCESS)
        })
    }
}
