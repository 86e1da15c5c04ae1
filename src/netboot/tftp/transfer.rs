//! One read transfer on its own ephemeral port: option acknowledgement, then DATA blocks in a
//! sliding window of the agreed size (RFC 7440; a window of one is RFC 1350's lock-step).

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::packet::{self, ErrorCode, Packet, Requested};
use super::{Shared, TftpEventKind};
use crate::netboot::http::confine::ConfineError;

/// What was agreed with the client.
struct Agreed {
    blksize: usize,
    windowsize: u64,
    timeout: Duration,
}

pub(super) async fn run(
    shared: &Shared,
    local_ip: IpAddr,
    client: SocketAddr,
    file: &str,
    req: Requested,
) {
    let fail = |bytes: u64, reason: String| {
        shared.emit(client, file, TftpEventKind::Failed { bytes, reason });
    };
    let sock = match UdpSocket::bind((local_ip, 0)).await {
        Ok(s) => s,
        Err(e) => return fail(0, format!("binding a transfer port: {e}")),
    };
    if let Err(e) = sock.connect(client).await {
        return fail(0, format!("connecting to {client}: {e}"));
    }
    let data = match read_file(shared, file).await {
        Ok(d) => d,
        Err((code, why)) => {
            let _ = sock.send(&packet::error(code, &why)).await;
            shared.emit(client, file, TftpEventKind::Refused { reason: why });
            return;
        }
    };
    let cfg = &shared.cfg;
    let agreed = Agreed {
        blksize: req.blksize.map_or(512, |b| b.min(cfg.max_blksize)) as usize,
        windowsize: req
            .windowsize
            .map_or(1, |w| w.min(cfg.max_windowsize).max(1)) as u64,
        timeout: req
            .timeout
            .map_or(cfg.timeout, |t| Duration::from_secs(t.into())),
    };
    let deadline = Instant::now() + cfg.max_transfer_time;
    let mut oack = Vec::new();
    if req.blksize.is_some() {
        oack.push(("blksize", agreed.blksize as u64));
    }
    if let Some(t) = req.timeout {
        oack.push(("timeout", t.into()));
    }
    if req.tsize {
        oack.push(("tsize", data.len() as u64));
    }
    if req.windowsize.is_some() {
        oack.push(("windowsize", agreed.windowsize));
    }
    if !oack.is_empty() {
        if let Err(why) = exchange_oack(
            &sock,
            &packet::oack(&oack),
            &agreed,
            cfg.max_retries,
            deadline,
        )
        .await
        {
            return fail(0, why);
        }
    }
    shared.emit(
        client,
        file,
        TftpEventKind::Started {
            blksize: agreed.blksize as u16,
            windowsize: agreed.windowsize as u16,
        },
    );
    match send_blocks(&sock, &data, &agreed, cfg.max_retries, deadline).await {
        Ok(()) => shared.emit(
            client,
            file,
            TftpEventKind::Done {
                bytes: data.len() as u64,
            },
        ),
        Err((acked, why)) => {
            let _ = sock.send(&packet::error(ErrorCode::NotDefined, &why)).await;
            fail((acked * agreed.blksize as u64).min(data.len() as u64), why)
        }
    }
}

/// The whole file (TFTP serves small boot loaders), or the error packet to answer with.
async fn read_file(shared: &Shared, file: &str) -> Result<Vec<u8>, (ErrorCode, String)> {
    let root = shared.root.clone();
    let name = file.to_string();
    let max = shared.cfg.max_file_size;
    let read = tokio::task::spawn_blocking(move || {
        let (f, len) = root.open_file(&name)?;
        if len > max {
            return Err(ConfineError::Io(format!(
                "{len} bytes is larger than the {max} bytes TFTP serves"
            )));
        }
        let mut data = Vec::with_capacity(len as usize);
        f.take(max + 1)
            .read_to_end(&mut data)
            .map_err(|e| ConfineError::Io(e.to_string()))?;
        Ok(data)
    })
    .await
    .unwrap_or_else(|e| Err(ConfineError::Io(e.to_string())));
    read.map_err(|e| {
        let code = match e {
            ConfineError::NotFound => ErrorCode::NotFound,
            ConfineError::Io(_) => ErrorCode::NotDefined,
            _ => ErrorCode::AccessViolation,
        };
        (code, format!("{file}: {e}"))
    })
}

/// Sends the OACK until the client acknowledges block 0.
async fn exchange_oack(
    sock: &UdpSocket,
    oack: &[u8],
    agreed: &Agreed,
    max_retries: u32,
    deadline: Instant,
) -> Result<(), String> {
    for _ in 0..=max_retries {
        sock.send(oack)
            .await
            .map_err(|e| format!("sending OACK: {e}"))?;
        let until = (Instant::now() + agreed.timeout).min(deadline);
        loop {
            match recv_until(sock, until).await? {
                None => break,
                Some(Packet::Ack(0)) => return Ok(()),
                Some(Packet::Error(code, msg)) => {
                    return Err(format!("client refused the options (error {code}: {msg})"))
                }
                Some(_) => {}
            }
        }
        if Instant::now() >= deadline {
            return Err("transfer deadline passed".into());
        }
    }
    Err(format!(
        "no acknowledgement of the options after {max_retries} retransmissions"
    ))
}

/// Sends every block; on failure returns the number of blocks acknowledged and why.
/// The window slides: an acknowledgement inside it lets only new blocks out, and blocks are
/// resent only after a timeout, so a client that acknowledges every block, or a late duplicate,
/// never multiplies the traffic (a lost block costs one timeout).
async fn send_blocks(
    sock: &UdpSocket,
    data: &[u8],
    agreed: &Agreed,
    max_retries: u32,
    deadline: Instant,
) -> Result<(), (u64, String)> {
    let bs = agreed.blksize;
    // The last block is shorter than blksize, possibly empty.
    let total = data.len() as u64 / bs as u64 + 1;
    let mut acked = 0u64;
    let mut sent = 0u64;
    let mut retries = 0u32;
    let mut until = Instant::now() + agreed.timeout;
    loop {
        let last = (acked + agreed.windowsize).min(total);
        for k in sent + 1..=last {
            let start = ((k - 1) as usize) * bs;
            let end = (start + bs).min(data.len());
            let pkt = packet::data(k as u16, &data[start.min(data.len())..end]);
            sock.send(&pkt)
                .await
                .map_err(|e| (acked, format!("sending block {k}: {e}")))?;
        }
        sent = sent.max(last);
        match recv_until(sock, until.min(deadline))
            .await
            .map_err(|e| (acked, e))?
        {
            Some(Packet::Ack(n)) => {
                // The unacknowledged block whose 16-bit number this is; others are duplicates.
                if let Some(k) = (acked + 1..=sent).find(|&k| k as u16 == n) {
                    acked = k;
                    retries = 0;
                    until = Instant::now() + agreed.timeout;
                    if acked == total {
                        return Ok(());
                    }
                }
            }
            Some(Packet::Error(code, msg)) => {
                return Err((
                    acked,
                    format!("client ended the transfer (error {code}: {msg})"),
                ))
            }
            Some(_) => {}
            None => {
                if Instant::now() >= deadline {
                    return Err((acked, "transfer deadline passed".into()));
                }
                retries += 1;
                if retries > max_retries {
                    return Err((
                        acked,
                        format!(
                            "client stopped acknowledging after block {acked} \
                             ({max_retries} retransmissions)"
                        ),
                    ));
                }
                sent = acked;
                until = Instant::now() + agreed.timeout;
            }
        }
    }
}

/// The next packet from the client before `until`, `None` on timeout.
async fn recv_until(sock: &UdpSocket, until: Instant) -> Result<Option<Packet>, String> {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
            Err(_) => return Ok(None),
            // An ICMP port-unreachable surfaces as ECONNREFUSED: the client is gone.
            Ok(Err(e)) => return Err(format!("receiving: {e}")),
            Ok(Ok(n)) => {
                if let Ok(p) = packet::parse(&buf[..n]) {
                    return Ok(Some(p));
                }
            }
        }
    }
}
