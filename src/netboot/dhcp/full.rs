//! Full DHCP (RFC 2131) for an isolated rack network: DISCOVER/OFFER, REQUEST/ACK/NAK in the
//! SELECTING, INIT-REBOOT, RENEWING and REBINDING states, RELEASE, DECLINE and INFORM, with
//! the boot file for netboot clients in the same replies.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};

use super::classify::ClientKind;
use super::config::{FullConfig, Mode};
use super::events::EventKind;
use super::leases::{secs, LeaseState, DECLINE_HOLD_SECS, OFFER_HOLD_SECS};
use super::reply;
use super::responder::{Ctx, Port, Reply, ReplyTo, Responder};

fn ip_opt(msg: &Message, code: OptionCode) -> Option<Ipv4Addr> {
    match msg.opts().get(code)? {
        DhcpOption::RequestedIpAddress(ip) | DhcpOption::ServerIdentifier(ip) => Some(*ip),
        _ => None,
    }
}

/// RFC 2131 4.1: relay, then the client's own address, then broadcast.
fn destination(req: &Message, yiaddr: Ipv4Addr, nak: bool) -> ReplyTo {
    if !req.giaddr().is_unspecified() {
        return ReplyTo::Unicast(SocketAddrV4::new(req.giaddr(), 67));
    }
    if !nak && !req.ciaddr().is_unspecified() {
        return ReplyTo::Unicast(SocketAddrV4::new(req.ciaddr(), 68));
    }
    // Without the broadcast bit the RFC allows unicast to yiaddr, which needs an ARP entry
    // the client cannot answer for yet; broadcast reaches it in every case.
    let _ = yiaddr;
    ReplyTo::Broadcast(68)
}

/// Adds lease options (mask, routers, DNS, times) and the boot file.
fn fill(
    r: &Responder,
    ctx: &Ctx<'_>,
    f: &FullConfig,
    m: &mut Message,
    lease: bool,
) -> Option<String> {
    m.opts_mut().insert(DhcpOption::SubnetMask(f.netmask));
    if !f.routers.is_empty() {
        m.opts_mut().insert(DhcpOption::Router(f.routers.clone()));
    }
    if !f.dns.is_empty() {
        m.opts_mut()
            .insert(DhcpOption::DomainNameServer(f.dns.clone()));
    }
    if lease {
        m.opts_mut()
            .insert(DhcpOption::AddressLeaseTime(f.lease_secs));
        m.opts_mut().insert(DhcpOption::Renewal(f.lease_secs / 2));
        m.opts_mut()
            .insert(DhcpOption::Rebinding(f.lease_secs / 8 * 7));
    }
    reply::boot(m, &ctx.client, &r.cfg.boot, false)
}

fn nak(r: &Responder, ctx: &mut Ctx<'_>, why: &str) -> Option<Reply> {
    let mut m = reply::base(&ctx.req.msg, MessageType::Nak, r.cfg.server_ip);
    m.opts_mut().insert(DhcpOption::Message(why.to_string()));
    ctx.event(EventKind::Nak, None, None);
    let to = destination(&ctx.req.msg, Ipv4Addr::UNSPECIFIED, true);
    Some(Reply { msg: m, to })
}

pub(super) fn handle(r: &mut Responder, ctx: &mut Ctx<'_>) -> Option<Reply> {
    let Mode::Full(f) = r.cfg.mode.clone() else {
        return None;
    };
    let msg = &ctx.req.msg;
    let (mac, now) = (ctx.client.mac, secs(ctx.now));
    let requested = ip_opt(msg, OptionCode::RequestedIpAddress);
    let server_id = ip_opt(msg, OptionCode::ServerIdentifier);
    let ciaddr = msg.ciaddr();
    if ctx.req.port == Port::Pxe {
        // Firmware that takes the BINL route asks here even when our offer named the file.
        return super::proxy::handle(r, ctx);
    }
    if let ClientKind::Unsupported(why) = ctx.client.kind {
        // Still a DHCP client: it gets an address, only no boot file.
        tracing::debug!("dhcp: {mac}: {why}; serving an address only");
    }
    let leases = r.leases.as_mut()?;
    match ctx.msg_type() {
        MessageType::Discover => {
            ctx.event(EventKind::Discover, None, None);
            let Some(ip) = leases.choose(mac, requested, now) else {
                ctx.ignored("no free address in the range");
                return None;
            };
            if let Err(e) = leases.set(ip, Some(mac), LeaseState::Offered, now + OFFER_HOLD_SECS) {
                tracing::warn!("dhcp: {e}");
            }
            let mut m = reply::base(msg, MessageType::Offer, r.cfg.server_ip);
            m.set_yiaddr(ip);
            let boot = fill(r, ctx, &f, &mut m, true);
            ctx.event(EventKind::Offer, Some(ip), boot);
            Some(Reply {
                msg: m,
                to: destination(msg, ip, false),
            })
        }
        MessageType::Request => {
            ctx.event(
                EventKind::Request,
                requested.or(Some(ciaddr)).filter(|i| !i.is_unspecified()),
                None,
            );
            let ip = match (server_id, requested) {
                // SELECTING: the client chose a server.
                (Some(sid), _) if sid != r.cfg.server_ip => {
                    if let Some(ip) = requested {
                        let _ = leases.free(ip, mac);
                    }
                    return None;
                }
                (Some(_), Some(ip)) => ip,
                (Some(_), None) => return nak(r, ctx, "REQUEST without a requested address"),
                // INIT-REBOOT: the client asks to keep an address it remembers.
                (None, Some(ip)) => ip,
                // RENEWING / REBINDING: ciaddr is the address.
                (None, None) if !ciaddr.is_unspecified() => ciaddr,
                (None, None) => return nak(r, ctx, "REQUEST names no address"),
            };
            let leases = r.leases.as_mut()?;
            if !leases.available(ip, mac, now) {
                let why = if leases.on_subnet(ip) {
                    "address not available"
                } else {
                    "wrong network"
                };
                return nak(r, ctx, why);
            }
            if let Err(e) = leases.set(
                ip,
                Some(mac),
                LeaseState::Bound,
                now + u64::from(f.lease_secs),
            ) {
                // Answering without persisting would hand the address out twice after a restart.
                tracing::warn!("dhcp: {mac}: lease for {ip} not saved, not acknowledged: {e}");
                ctx.ignored(format!("lease not saved: {e}"));
                return None;
            }
            let mut m = reply::base(msg, MessageType::Ack, r.cfg.server_ip);
            m.set_yiaddr(ip).set_ciaddr(ciaddr);
            let boot = fill(r, ctx, &f, &mut m, true);
            ctx.event(EventKind::Ack, Some(ip), boot);
            Some(Reply {
                msg: m,
                to: destination(msg, ip, false),
            })
        }
        MessageType::Release => {
            if server_id == Some(r.cfg.server_ip) || server_id.is_none() {
                if let Err(e) = leases.free(ciaddr, mac) {
                    tracing::warn!("dhcp: {e}");
                }
            }
            ctx.event(EventKind::Release, Some(ciaddr), None);
            None
        }
        MessageType::Decline => {
            if let Some(ip) = requested {
                if leases.of(mac, now).is_some_and(|l| l.ip == ip) {
                    if let Err(e) =
                        leases.set(ip, None, LeaseState::Declined, now + DECLINE_HOLD_SECS)
                    {
                        tracing::warn!("dhcp: {e}");
                    }
                }
            }
            ctx.event(EventKind::Decline, requested, None);
            None
        }
        MessageType::Inform => {
            ctx.event(EventKind::Inform, Some(ciaddr), None);
            if ciaddr.is_unspecified() {
                return None;
            }
            let mut m = reply::base(msg, MessageType::Ack, r.cfg.server_ip);
            m.set_ciaddr(ciaddr);
            let boot = fill(r, ctx, &f, &mut m, false);
            ctx.event(EventKind::Ack, Some(ciaddr), boot);
            Some(Reply {
                msg: m,
                to: ReplyTo::Unicast(SocketAddrV4::new(ciaddr, ctx.req.src.port())),
            })
        }
        _ => None,
    }
}
