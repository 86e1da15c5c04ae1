//! Test-only launcher of the netboot TFTP and artifact servers, for tests/bench/netboot until
//! `kateskit netboot serve` wires them. Not part of the product.
//!
//!   netboot_serve [--tftp ADDR --tftp-root DIR] [--http ADDR --artifacts DIR]
//!                 [--slots N] [--max-wait-ms MS] [--stall-ms MS] [--max-windowsize N]
//!
//! Prints `ready tftp=ADDR http=ADDR` once both listen (port 0 picks a free port), then serves
//! until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use kateskit::netboot::{http, tftp};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut tftp_addr, mut tftp_root, mut http_addr, mut artifacts) = (None, None, None, None);
    let mut acfg = http::ArtifactConfig::default();
    let mut tcfg = tftp::TftpConfig::default();
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--tftp" => tftp_addr = Some(val()?.parse::<SocketAddr>()?),
            "--tftp-root" => tftp_root = Some(PathBuf::from(val()?)),
            "--http" => http_addr = Some(val()?.parse::<SocketAddr>()?),
            "--artifacts" => artifacts = Some(PathBuf::from(val()?)),
            "--slots" => acfg.slots = val()?.parse()?,
            "--max-wait-ms" => acfg.max_wait = Duration::from_millis(val()?.parse()?),
            "--stall-ms" => acfg.stall_timeout = Duration::from_millis(val()?.parse()?),
            "--max-windowsize" => tcfg.max_windowsize = val()?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let mut ready = String::from("ready");
    let mut tasks = tokio::task::JoinSet::new();
    if let (Some(addr), Some(root)) = (tftp_addr, tftp_root) {
        let sock = tokio::net::UdpSocket::bind(addr).await?;
        ready.push_str(&format!(" tftp={}", sock.local_addr()?));
        let root = http::Root::open(&root)?;
        tasks.spawn(async move {
            tftp::serve(sock, root, tcfg, None)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    if let (Some(addr), Some(dir)) = (http_addr, artifacts) {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        ready.push_str(&format!(" http={}", listener.local_addr()?));
        let state = http::ArtifactState::new(http::Root::open(&dir)?, &acfg, None);
        let router = http::artifact_router(state);
        tasks.spawn(async move {
            http::serve(listener, router)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    println!("{ready}");
    if let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}
