//! Feeds DHCP, TFTP and HTTP events into the fleet's boot timeline. TFTP and HTTP know only the
//! client's IP, so the MAC comes from what DHCP handed out (full mode) or from the machine's
//! own boot-script request. One writer task saves the events in order, each batch the queue
//! holds with one write of `fleet.json`; a full queue drops
//! events rather than slow a transfer, and per-block TFTP progress is never recorded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::netboot::dhcp;
use crate::netboot::fleet::{EventKind, Fleet, Record};
use crate::netboot::http::HttpEvent;
use crate::netboot::tftp::{TftpEvent, TftpEventKind};

/// Most events saved with one write of `fleet.json`.
const BATCH: usize = 256;

/// A handle to the timeline writer, shared by every listener.
#[derive(Clone)]
pub struct Timeline {
    tx: mpsc::Sender<Record>,
    macs: Arc<Mutex<HashMap<IpAddr, String>>>,
}

impl Timeline {
    /// Starts the writer task over `fleet`.
    pub fn start(fleet: Arc<Fleet>) -> Timeline {
        let (tx, mut rx) = mpsc::channel::<Record>(4096);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let f = fleet.clone();
                let records = std::mem::take(&mut batch);
                let r = tokio::task::spawn_blocking(move || f.record_all(&records)).await;
                if let Ok(Err(e)) = r {
                    tracing::warn!("netboot timeline: {e}");
                }
            }
        });
        Timeline {
            tx,
            macs: Arc::default(),
        }
    }

    /// Remembers that `ip` is `mac`, for later TFTP/HTTP events from it.
    pub fn learn(&self, ip: IpAddr, mac: &str) {
        let mut m = self.macs.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(ip, mac.to_string());
    }

    fn mac_of(&self, ip: IpAddr) -> Option<String> {
        let m = self.macs.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&ip).cloned()
    }

    pub fn record(&self, mac: &str, kind: EventKind, ok: bool, detail: &str, ip: Option<IpAddr>) {
        let _ = self.tx.try_send(Record {
            mac: mac.to_string(),
            kind,
            ok,
            detail: detail.to_string(),
            ip,
        });
    }

    /// One DHCP exchange: offers, acks and refusals are recorded; discovers and requests only
    /// precede them.
    pub fn dhcp(&self, e: &dhcp::Event) {
        let mac = e.mac.to_string();
        let (ok, what) = match &e.kind {
            dhcp::EventKind::Offer => (true, "offer"),
            dhcp::EventKind::Ack => (true, "ack"),
            dhcp::EventKind::Nak => (false, "nak"),
            dhcp::EventKind::Ignored(why) => {
                // An unknown machine under `--unknown ignore` is the fleet's `ignored`; other
                // refusals (no free address, a lease not saved) are failed DHCP stages.
                let kind = if e.known {
                    EventKind::Dhcp
                } else {
                    EventKind::Ignored
                };
                self.record(&mac, kind, false, &format!("not answered: {why}"), None);
                return;
            }
            _ => return,
        };
        let ip = e.ip.map(IpAddr::V4);
        if let Some(ip) = ip {
            self.learn(ip, &mac);
        }
        let mut detail = what.to_string();
        if let Some(ip) = e.ip {
            detail.push_str(&format!(" {ip}"));
        }
        if let Some(b) = &e.boot {
            detail.push_str(&format!(" boot {b}"));
        }
        self.record(&mac, EventKind::Dhcp, ok, &detail, ip);
    }

    pub fn tftp(&self, e: &TftpEvent) {
        let ip = e.client.ip();
        let Some(mac) = self.mac_of(ip) else {
            return;
        };
        let (ok, detail) = match &e.kind {
            TftpEventKind::Done { bytes } => (true, format!("{} ({bytes} bytes)", e.file)),
            TftpEventKind::Failed { bytes, reason } => (
                false,
                format!("{} failed after {bytes} bytes: {reason}", e.file),
            ),
            TftpEventKind::Refused { reason } => (false, format!("{} refused: {reason}", e.file)),
            TftpEventKind::Started { .. } | TftpEventKind::Busy => return,
        };
        self.record(&mac, EventKind::Tftp, ok, &detail, Some(ip));
    }

    /// Kernel and initrd fetches (other artifact requests are not boot stages).
    pub fn http(&self, e: &HttpEvent) {
        let kind = if e.path.ends_with(super::scripts::KERNEL) {
            EventKind::Kernel
        } else if e.path.ends_with(super::scripts::INITRD) {
            EventKind::Initrd
        } else {
            return;
        };
        if e.method != "GET" {
            return;
        }
        let ip = e.client.ip();
        let Some(mac) = self.mac_of(ip) else {
            return;
        };
        let ok = e.complete && (200..300).contains(&e.status);
        let detail = format!("{} {} ({} bytes)", e.status, e.path, e.bytes);
        self.record(&mac, kind, ok, &detail, Some(ip));
    }
}
