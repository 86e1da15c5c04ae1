//! `kateskit netboot serve` (docs/netboot.md "Serve"): one tokio process that wires DHCP,
//! TFTP, the HTTP script and artifact server and the HTTPS control plane over one fleet.
//! [`start`] binds everything (so a port in use or a missing file fails before anything is
//! served) and returns the running server; [`Running::run`] serves until a stop signal.

pub(crate) mod iface;
pub mod install_image;
mod options;
mod scripts;
mod timeline;
mod tls;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::netboot::dhcp::{self, MacAddr};
use crate::netboot::fleet::{Fleet, Unknown};
use crate::netboot::{api, http, tftp};

pub use options::{Ports, ServeError, ServeOptions};
pub use scripts::{INITRD, KERNEL};

/// The bound, not yet serving, server.
pub struct Running {
    pub ip: Ipv4Addr,
    pub tftp: SocketAddr,
    pub http: SocketAddr,
    pub https: SocketAddr,
    /// `kateskit.config_tls_sha256` of the HTTPS listener.
    pub spki_sha256: String,
    pub mode: &'static str,
    /// The install image the boot scripts name: file name, SHA-256 and its zero bytes.
    pub install_image: Option<(String, String, u64)>,
    tasks: JoinSet<Result<(), String>>,
}

/// Binds every listener and checks every input; nothing is served yet.
pub async fn start(o: ServeOptions) -> Result<Running, ServeError> {
    // The CLI restores SIGPIPE's default (so `| head` ends it quietly); a server must not die
    // when a client (a TLS peer rejecting the pin, firmware giving up) closes mid-write.
    // SAFETY: setting a signal's disposition to ignore has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    o.check()?;
    let iface_ip = dhcp::interface_ipv4(&o.interface)?;
    let ip = o.listen.unwrap_or(iface_ip);
    for f in [KERNEL, INITRD] {
        let p = o.artifacts.join(f);
        if !p.is_file() {
            return Err(ServeError::Artifacts {
                dir: o.artifacts.clone(),
                why: format!("no file `{f}`"),
            });
        }
    }
    let art_root = http::Root::open(&o.artifacts).map_err(|e| ServeError::Artifacts {
        dir: o.artifacts.clone(),
        why: e.to_string(),
    })?;
    // The iPXE builds may be symlinks out of the root (Debian links ipxe.efi to /boot).
    let tftp_root = http::Root::open(&o.tftp_root)
        .map_err(|e| ServeError::TftpRoot {
            dir: o.tftp_root.clone(),
            why: e.to_string(),
        })?
        .follow_links_of(
            dhcp::IpxeBuild::ALL
                .iter()
                .map(|b| b.default_file().to_string())
                .chain(["snponly.efi".to_string()]),
        );
    let cluster_err = |why: String| ServeError::Cluster {
        dir: o.cluster_dir.clone(),
        why,
    };
    let spec = crate::spec::load(&o.cluster_dir.join("cluster.toml"))
        .map_err(|e| cluster_err(e.to_string()))?
        .spec;
    let secrets = crate::pki::load(&o.cluster_dir).map_err(|e| cluster_err(e.to_string()))?;
    crate::fsutil::ensure_dir(&o.state, 0o700)?;
    let id = tls::identity(&o.state, IpAddr::V4(ip))?;
    let (art_dir, name, st) = (
        o.artifacts.clone(),
        o.install_image.clone(),
        o.state.clone(),
    );
    let install =
        tokio::task::spawn_blocking(move || install_image::resolve(&art_dir, name.as_deref(), &st))
            .await
            .map_err(|e| ServeError::InstallImage {
                path: o.artifacts.clone(),
                why: format!("hashing stopped: {e}"),
            })??;

    // Bound here, so a port in use stops the start; the bound address (port 0 picks one) is
    // what the scripts name.
    let bind_tcp = |what, port| {
        let addr = SocketAddr::new(IpAddr::V4(ip), port);
        let r = std::net::TcpListener::bind(addr).and_then(|l| {
            l.set_nonblocking(true)?;
            let bound = l.local_addr()?;
            Ok((TcpListener::from_std(l)?, bound))
        });
        r.map_err(|source| ServeError::Bind { what, addr, source })
    };
    let (http_l, http_a) = bind_tcp("HTTP (--listen) port", o.ports.http)?;
    let (https_l, https_a) = bind_tcp("HTTPS (--listen) port", o.ports.https)?;
    let tftp_addr = SocketAddr::new(IpAddr::V4(ip), o.ports.tftp);
    let tftp_s = std::net::UdpSocket::bind(tftp_addr)
        .and_then(|s| {
            s.set_nonblocking(true)?;
            UdpSocket::from_std(s)
        })
        .map_err(|source| ServeError::Bind {
            what: "TFTP port (--tftp-port)",
            addr: tftp_addr,
            source,
        })?;
    let dhcp_server = dhcp::Server::bind(&o.interface, o.ports.dhcp, o.ports.pxe)?;
    let http_base = format!("http://{ip}:{}", http_a.port());
    let https_base = format!("https://{ip}:{}", https_a.port());

    // Reservations and the machines DHCP answers: cluster.toml's MACs (and approvals, read
    // as they are written).
    let mut reservations = HashMap::new();
    let mut macs = HashSet::new();
    for n in &spec.nodes {
        let addr = n
            .network
            .as_ref()
            .and_then(|nw| nw.addresses.first())
            .and_then(|a| a.split('/').next()?.parse::<Ipv4Addr>().ok());
        for m in n.macs.iter().filter_map(|m| m.parse::<MacAddr>().ok()) {
            macs.insert(m);
            if let Some(a) = addr {
                reservations.insert(m, a);
            }
        }
    }
    let known = Arc::new(iface::Known::new(macs, &o.state));
    let fleet = Arc::new(Fleet::open(
        spec,
        secrets,
        &o.state,
        o.unknown,
        &https_base,
    )?);
    let mode = match o.full_range {
        None => dhcp::Mode::Proxy,
        Some((first, last)) => dhcp::Mode::Full(dhcp::FullConfig {
            first,
            last,
            netmask: iface::netmask(&o.interface).unwrap_or(Ipv4Addr::new(255, 255, 255, 0)),
            routers: o.routers.clone(),
            dns: o.dns.clone(),
            lease_secs: 3600,
            reservations,
            state_dir: o.state.clone(),
        }),
    };
    let mode_name = if o.full_range.is_some() {
        "full"
    } else {
        "proxy"
    };
    let responder = dhcp::Responder::new(dhcp::ResponderConfig {
        server_ip: ip,
        mode,
        unknown: match o.unknown {
            Unknown::Ignore => dhcp::UnknownPolicy::Ignore,
            Unknown::Pending => dhcp::UnknownPolicy::Pending,
        },
        boot: dhcp::BootTargets {
            tftp_server: ip,
            script_url: format!("{http_base}/boot.ipxe?mac={{mac}}&arch={{arch}}"),
            http_boot_url: format!("{http_base}/ipxe/{{file}}"),
            files: HashMap::new(),
        },
        ipxe_user_class: "kateskit".into(),
        known,
    })?;

    let mut tasks = JoinSet::new();
    let timeline = timeline::Timeline::start(fleet.clone());
    let (dtx, mut drx) = tokio::sync::mpsc::channel(1024);
    tasks.spawn(async move {
        dhcp_server
            .run(responder, dtx)
            .await
            .map_err(|e| format!("DHCP: {e}"))
    });
    let (ttx, mut trx) = tokio::sync::mpsc::channel(1024);
    let tcfg = tftp::TftpConfig::default();
    let ipxe_root = tftp_root.clone();
    tasks.spawn(async move {
        tftp::serve(tftp_s, tftp_root, tcfg, Some(ttx))
            .await
            .map_err(|e| format!("TFTP: {e}"))
    });
    let (htx, mut hrx) = tokio::sync::mpsc::channel(1024);
    let acfg = http::ArtifactConfig {
        slots: o.slots,
        ..http::ArtifactConfig::default()
    };
    // The install image travels by URL and hash, never inside the initrd.
    let kargs = Arc::new(
        o.kargs
            .iter()
            .cloned()
            .chain(install.iter().flat_map(|i| i.kargs(&http_base)))
            .collect(),
    );
    let app = scripts::router(scripts::Scripts {
        fleet: fleet.clone(),
        timeline: timeline.clone(),
        http_base,
        https_base,
        spki_sha256: id.spki_sha256.clone(),
        unknown: o.unknown,
        kargs,
    });
    // The zero map, over plain HTTP like the image: it needs no trust (the hash checks it).
    let app = match &install {
        Some(i) => {
            let text = i.zeros.render();
            app.route(
                &i.zeros_path(),
                axum::routing::get(move || std::future::ready(text.clone())),
            )
        }
        None => app,
    }
    .nest_service(
        "/artifacts",
        http::artifact_router(http::ArtifactState::new(art_root, &acfg, Some(htx))),
    )
    .nest_service(
        "/ipxe",
        http::artifact_router(http::ArtifactState::new(ipxe_root, &acfg, None)),
    );
    tasks.spawn(async move {
        http::serve(http_l, app)
            .await
            .map_err(|e| format!("HTTP: {e}"))
    });
    let config = id.config.clone();
    let api = api::router(fleet.clone());
    tasks.spawn(async move {
        tls::serve(https_l, config, api).await;
        Ok(())
    });
    tasks.spawn(async move {
        loop {
            tokio::select! {
                Some(e) = drx.recv() => timeline.dhcp(&e),
                Some(e) = trx.recv() => timeline.tftp(&e),
                Some(e) = hrx.recv() => timeline.http(&e),
                else => return Ok(()),
            }
        }
    });
    Ok(Running {
        ip,
        tftp: tftp_addr,
        http: http_a,
        https: https_a,
        spki_sha256: id.spki_sha256,
        mode: mode_name,
        install_image: install.map(|i| (i.name, i.sha256, i.zeros.zero_bytes())),
        tasks,
    })
}

impl Running {
    /// Serves until SIGINT/SIGTERM (then stops every listener) or a listener fails.
    pub async fn run(mut self) -> Result<(), String> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("installing the SIGTERM handler: {e}"))?;
        let r = tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = term.recv() => Ok(()),
            Some(r) = self.tasks.join_next() => match r {
                Ok(Ok(())) => Err("a listener stopped".to_string()),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(format!("a listener panicked: {e}")),
            },
        };
        self.tasks.shutdown().await;
        r
    }
}
