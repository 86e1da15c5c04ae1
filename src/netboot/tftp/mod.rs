//! Read-only TFTP for chainloading iPXE (docs/netboot.md, "TFTP").
//!
//! Serves regular files from one directory (the iPXE builds), octet mode only; write requests
//! get an error. Each transfer runs on its own ephemeral port (RFC 1350's transfer IDs) and is
//! bounded: retransmissions, an overall deadline, and caps on concurrent transfers in total and
//! per client address. A request over a cap is dropped, so the firmware retransmits it later,
//! rather than answered with an error that would end its boot. Every transfer reports to an
//! optional event channel for the boot timeline (TFTP knows the client's IP, not its MAC).

pub mod packet;
mod transfer;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::netboot::http::confine::Root;
use packet::{ErrorCode, Packet};

/// Limits and defaults of one TFTP server.
#[derive(Debug, Clone)]
pub struct TftpConfig {
    /// Largest block size granted: 1468 keeps a DATA packet (1468 + 4 + 8 UDP + 20 IP) within
    /// a 1500-byte Ethernet MTU, so nothing is fragmented.
    pub max_blksize: u16,
    /// Largest window granted (RFC 7440); a client asks for what it can take.
    pub max_windowsize: u16,
    /// Retransmission timeout when the client does not ask for one.
    pub timeout: Duration,
    /// Retransmissions of one window (or OACK) before the transfer fails.
    pub max_retries: u32,
    /// Wall-clock bound of one transfer, however slowly a client acknowledges.
    pub max_transfer_time: Duration,
    /// Transfers running at once, in total and per client IP.
    pub max_transfers: usize,
    pub max_per_client: usize,
    /// Largest file served (TFTP only carries iPXE, well under 2 MiB).
    pub max_file_size: u64,
}

impl Default for TftpConfig {
    fn default() -> Self {
        TftpConfig {
            max_blksize: 1468,
            max_windowsize: 16,
            timeout: Duration::from_secs(1),
            max_retries: 5,
            max_transfer_time: Duration::from_secs(120),
            max_transfers: 64,
            max_per_client: 2,
            max_file_size: 32 << 20,
        }
    }
}

/// What happened to one request, for the boot timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpEvent {
    pub client: SocketAddr,
    pub file: String,
    pub kind: TftpEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TftpEventKind {
    /// Sending began with the negotiated block and window size.
    Started { blksize: u16, windowsize: u16 },
    /// The last block was acknowledged.
    Done { bytes: u64 },
    /// The transfer ended early; `bytes` were acknowledged.
    Failed { bytes: u64, reason: String },
    /// Refused before sending (not found, outside the root, write request, bad mode).
    Refused { reason: String },
    /// Dropped because a cap was reached; the client will retransmit its request.
    Busy,
}

/// Errors that end the server (not a transfer).
#[derive(Debug, thiserror::Error)]
pub enum TftpError {
    #[error("TFTP socket: {0}")]
    Socket(#[source] std::io::Error),
}

/// What to do with a read request.
enum Admit {
    Start,
    /// A retransmission of a request whose transfer is running.
    Running,
    /// A cap is reached.
    Busy,
}

/// Shared state of the running server.
struct Shared {
    root: Root,
    cfg: TftpConfig,
    events: Option<mpsc::Sender<TftpEvent>>,
    /// Running transfers by client address (a retransmitted request is not a new transfer).
    active: Mutex<HashSet<SocketAddr>>,
}

impl Shared {
    fn emit(&self, client: SocketAddr, file: &str, kind: TftpEventKind) {
        if let Some(tx) = &self.events {
            // A full channel drops the event rather than stall transfers.
            let _ = tx.try_send(TftpEvent {
                client,
                file: file.to_string(),
                kind,
            });
        }
    }

    /// Reserves a slot for `client`, or says why not.
    fn admit(&self, client: SocketAddr) -> Admit {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if active.contains(&client) {
            return Admit::Running;
        }
        let same_ip = active.iter().filter(|a| a.ip() == client.ip()).count();
        if active.len() >= self.cfg.max_transfers || same_ip >= self.cfg.max_per_client {
            return Admit::Busy;
        }
        active.insert(client);
        Admit::Start
    }

    fn release(&self, client: SocketAddr) {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        active.remove(&client);
    }
}

/// Serves read requests arriving on `socket` (usually port 69) from files in `root` until the
/// task is dropped or the socket fails. Transfers bind ephemeral ports on the socket's address.
pub async fn serve(
    socket: UdpSocket,
    root: Root,
    cfg: TftpConfig,
    events: Option<mpsc::Sender<TftpEvent>>,
) -> Result<(), TftpError> {
    let local_ip: IpAddr = socket.local_addr().map_err(TftpError::Socket)?.ip();
    let shared = Arc::new(Shared {
        root,
        cfg,
        events,
        active: Mutex::new(HashSet::new()),
    });
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, client) = socket
            .recv_from(&mut buf)
            .await
            .map_err(TftpError::Socket)?;
        match packet::parse(&buf[..n]) {
            Ok(Packet::Read {
                file,
                mode,
                options,
            }) => {
                if !mode.eq_ignore_ascii_case("octet") {
                    let why = format!("mode {mode:?} is not served; use octet (binary) mode");
                    refuse(
                        &socket,
                        &shared,
                        client,
                        &file,
                        ErrorCode::IllegalOperation,
                        &why,
                    )
                    .await;
                    continue;
                }
                match shared.admit(client) {
                    Admit::Running => continue,
                    Admit::Busy => {
                        shared.emit(client, &file, TftpEventKind::Busy);
                        continue;
                    }
                    Admit::Start => {}
                }
                let shared = shared.clone();
                tokio::spawn(async move {
                    transfer::run(&shared, local_ip, client, &file, options).await;
                    shared.release(client);
                });
            }
            Ok(Packet::Write) => {
                let why = "this TFTP server is read-only";
                refuse(
                    &socket,
                    &shared,
                    client,
                    "",
                    ErrorCode::AccessViolation,
                    why,
                )
                .await;
            }
            // ACKs and errors belong to a transfer's own port; garbage is answered once.
            Ok(Packet::Ack(_)) | Ok(Packet::Error(..)) => {}
            Ok(Packet::Other(op)) => {
                let why = format!("opcode {op} is not a request");
                refuse(
                    &socket,
                    &shared,
                    client,
                    "",
                    ErrorCode::IllegalOperation,
                    &why,
                )
                .await;
            }
            Err(e) => {
                let why = format!("malformed request: {e}");
                refuse(
                    &socket,
                    &shared,
                    client,
                    "",
                    ErrorCode::IllegalOperation,
                    &why,
                )
                .await;
            }
        }
    }
}

async fn refuse(
    socket: &UdpSocket,
    shared: &Shared,
    client: SocketAddr,
    file: &str,
    code: ErrorCode,
    why: &str,
) {
    let _ = socket.send_to(&packet::error(code, why), client).await;
    shared.emit(
        client,
        file,
        TftpEventKind::Refused {
            reason: why.to_string(),
        },
    );
}
