//! The DHCP state machine behind the sockets: a request and its context in, the reply (or
//! none) and the events out.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::SystemTime;

use dhcproto::v4::{Message, MessageType};

use super::classify::{classify, Client, ClientKind};
use super::config::{Mode, ResponderConfig, UnknownPolicy};
use super::events::{Event, EventKind};
use super::leases::Leases;
use super::{full, proxy, wire, DhcpError};

/// The port a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// 67: DHCP (DISCOVER, REQUEST, ... and ProxyDHCP offers).
    Dhcp,
    /// 4011: the PXE boot server (BINL) exchange.
    Pxe,
}

/// One received packet with where it came from.
#[derive(Debug, Clone)]
pub struct Request {
    pub msg: Message,
    pub port: Port,
    pub src: SocketAddrV4,
}

/// Where a reply goes (RFC 2131 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    /// 255.255.255.255 on the interface, to this port: the client has no address yet.
    Broadcast(u16),
    Unicast(SocketAddrV4),
}

/// A reply ready to send.
#[derive(Debug, Clone)]
pub struct Reply {
    pub msg: Message,
    pub to: ReplyTo,
}

impl Reply {
    pub fn bytes(&self) -> Result<Vec<u8>, DhcpError> {
        wire::encode(&self.msg)
    }
}

/// The result of one request.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub reply: Option<Reply>,
    pub events: Vec<Event>,
}

/// Counters for what was dropped (logged by the server, shown by status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub received: u64,
    pub malformed: u64,
    pub answered: u64,
    /// Plain DHCP clients a ProxyDHCP leaves to the site server.
    pub not_pxe: u64,
}

/// The DHCP responder: proxy or full, per [`ResponderConfig`].
pub struct Responder {
    pub(super) cfg: ResponderConfig,
    pub(super) leases: Option<Leases>,
    stats: Stats,
}

/// What the mode handlers get for one request.
pub(super) struct Ctx<'a> {
    pub req: &'a Request,
    pub client: Client,
    pub known: bool,
    pub now: SystemTime,
    pub events: Vec<Event>,
}

impl Ctx<'_> {
    pub fn event(&mut self, kind: EventKind, ip: Option<Ipv4Addr>, boot: Option<String>) {
        self.events.push(Event {
            mac: self.client.mac,
            kind,
            arch: self.client.arch,
            ip,
            known: self.known,
            boot,
            at: self.now,
        });
    }
    pub fn ignored(&mut self, why: impl Into<String>) {
        self.event(EventKind::Ignored(why.into()), None, None);
    }
    pub fn msg_type(&self) -> MessageType {
        self.req
            .msg
            .opts()
            .msg_type()
            .unwrap_or(MessageType::Unknown(0))
    }
}

impl Responder {
    /// A responder; in full mode this checks the range and loads the persisted leases.
    pub fn new(cfg: ResponderConfig) -> Result<Responder, DhcpError> {
        let leases = match &cfg.mode {
            Mode::Proxy => None,
            Mode::Full(f) => Some(Leases::load(f)?),
        };
        Ok(Responder {
            cfg,
            leases,
            stats: Stats::default(),
        })
    }

    pub fn config(&self) -> &ResponderConfig {
        &self.cfg
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn leases(&self) -> Option<&Leases> {
        self.leases.as_ref()
    }

    /// Decodes and answers raw bytes; malformed packets are counted, logged and dropped.
    pub fn handle_bytes(
        &mut self,
        bytes: &[u8],
        port: Port,
        src: SocketAddrV4,
        now: SystemTime,
    ) -> Outcome {
        match wire::decode(bytes) {
            Ok(msg) => self.handle(&Request { msg, port, src }, now),
            Err(e) => {
                self.stats.received += 1;
                self.stats.malformed += 1;
                tracing::debug!("dhcp: dropped a malformed packet from {src}: {e}");
                Outcome::default()
            }
        }
    }

    /// Answers one decoded request.
    pub fn handle(&mut self, req: &Request, now: SystemTime) -> Outcome {
        self.stats.received += 1;
        let client = classify(&req.msg, &self.cfg.ipxe_user_class);
        let full = matches!(self.cfg.mode, Mode::Full(_));
        let reserved = match &self.cfg.mode {
            Mode::Full(f) => f.reservations.contains_key(&client.mac),
            Mode::Proxy => false,
        };
        let known = reserved || self.cfg.known.is_known(&client.mac);
        let mut ctx = Ctx {
            req,
            client,
            known,
            now,
            events: Vec::new(),
        };
        let netboot = ctx.client.kind != ClientKind::Plain;
        if !full && !netboot {
            // The site's DHCP server serves it; a timeline entry per office laptop is noise.
            self.stats.not_pxe += 1;
            return Outcome::default();
        }
        let reply = if !known && self.cfg.unknown == UnknownPolicy::Ignore {
            let kind = match ctx.msg_type() {
                MessageType::Discover => Some(EventKind::Discover),
                MessageType::Request => Some(EventKind::Request),
                _ => None,
            };
            if let Some(k) = kind {
                ctx.event(k, None, None);
            }
            ctx.ignored("unknown machine (policy ignore)");
            None
        } else if full {
            full::handle(self, &mut ctx)
        } else {
            proxy::handle(self, &mut ctx)
        };
        if reply.is_some() {
            self.stats.answered += 1;
        }
        Outcome {
            reply,
            events: ctx.events,
        }
    }
}
