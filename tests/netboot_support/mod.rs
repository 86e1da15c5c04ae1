//! A TFTP server on 127.0.0.1 with a prepared root (a file, a subdirectory, a symlink out,
//! Debian's ipxe.efi when installed) and hand-made packets for the netboot TFTP tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kateskit::netboot::http::Root;
use kateskit::netboot::tftp::{self, TftpConfig, TftpEvent, TftpEventKind};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";

pub fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: {tool} is not installed (tests/debian-packages.txt lists it)");
    }
    ok
}

pub struct Server {
    pub addr: SocketAddr,
    pub events: mpsc::Receiver<TftpEvent>,
    pub dir: tempfile::TempDir,
    _task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The next event, within a bound.
    pub async fn event(&mut self) -> TftpEvent {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("an event within 10 s")
            .expect("server running")
    }

    /// Events until one that ends a request (done, failed, refused or busy).
    pub async fn outcome(&mut self) -> TftpEvent {
        loop {
            let e = self.event().await;
            if !matches!(e.kind, TftpEventKind::Started { .. }) {
                return e;
            }
        }
    }
}

pub async fn start(cfg: TftpConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(dir.path().join("secret"), b"outside the root").unwrap();
    std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
    std::fs::write(root.join("small"), b"hello tftp").unwrap();
    if Path::new(IPXE_EFI).exists() {
        std::fs::copy(IPXE_EFI, root.join("ipxe.efi")).unwrap();
    }
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let (tx, events) = mpsc::channel(256);
    let r = Root::open(&root).unwrap();
    let task = tokio::spawn(async move {
        tftp::serve(sock, r, cfg, Some(tx)).await.unwrap();
    });
    Server {
        addr,
        events,
        dir,
        _task: task,
    }
}

pub fn rrq(file: &str, mode: &str, opts: &[(&str, &str)]) -> Vec<u8> {
    let mut p = vec![0, 1];
    for s in [file, mode]
        .into_iter()
        .chain(opts.iter().flat_map(|(a, b)| [*a, *b]))
    {
        p.extend_from_slice(s.as_bytes());
        p.push(0);
    }
    p
}

/// The next packet within `wait`, with the port it came from.
pub async fn recv(sock: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 70000];
    let (n, from) = tokio::time::timeout(wait, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some((buf, from))
}

pub fn opcode(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[0], p[1]])
}
