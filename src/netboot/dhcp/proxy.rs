//! ProxyDHCP: boot information for PXE clients beside the site's DHCP server, which keeps
//! handing out the addresses.
//!
//! Port 67: a DISCOVER gets an offer with no address. BIOS firmware gets option 43 "use the
//! boot file"; UEFI firmware gets no option 43, which sends it to port 4011 (the variant
//! every firmware implements). Port 4011: a REQUEST gets an ACK with the boot file.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, MessageType, OptionCode};

use super::classify::ClientKind;
use super::events::EventKind;
use super::reply;
use super::responder::{Ctx, Port, Reply, ReplyTo, Responder};

/// Sub-option 71 (PXE_BOOT_ITEM) of a port-4011 request, echoed as PXE servers do.
fn boot_item(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    let Some(DhcpOption::VendorExtensions(v)) =
        ctx.req.msg.opts().get(OptionCode::VendorExtensions)
    else {
        return None;
    };
    let mut rest = &v[..];
    while let [code, len, tail @ ..] = rest {
        let len = *len as usize;
        if *code == 255 || len > tail.len() {
            return None;
        }
        if *code == 71 && len == 4 {
            let mut out = vec![71, 4];
            out.extend_from_slice(&tail[..4]);
            out.push(255);
            return Some(out);
        }
        rest = &tail[len..];
    }
    None
}

pub(super) fn handle(r: &mut Responder, ctx: &mut Ctx<'_>) -> Option<Reply> {
    let t = ctx.msg_type();
    let port = ctx.req.port;
    match (port, t) {
        (Port::Dhcp, MessageType::Discover) => ctx.event(EventKind::Discover, None, None),
        (_, MessageType::Request) => ctx.event(EventKind::Request, None, None),
        _ => return None,
    }
    if let ClientKind::Unsupported(why) = ctx.client.kind {
        ctx.ignored(why.to_string());
        return None;
    }
    let server = r.cfg.server_ip;
    match (port, t) {
        (Port::Dhcp, MessageType::Discover) => {
            let mut m = reply::base(&ctx.req.msg, MessageType::Offer, server);
            let boot = reply::boot(&mut m, &ctx.client, &r.cfg.boot, true);
            ctx.event(EventKind::Offer, None, boot);
            Some(Reply {
                msg: m,
                to: ReplyTo::Broadcast(68),
            })
        }
        (Port::Pxe, MessageType::Request) => {
            let mut m = reply::base(&ctx.req.msg, MessageType::Ack, server);
            m.set_ciaddr(ctx.req.msg.ciaddr());
            let boot = reply::boot(&mut m, &ctx.client, &r.cfg.boot, true);
            if let Some(item) = boot_item(ctx) {
                m.opts_mut().insert(DhcpOption::VendorExtensions(item));
            }
            ctx.event(EventKind::Ack, None, boot);
            let mut to = ctx.req.src;
            if to.ip().is_unspecified() {
                // No address yet: the reply can only reach it by broadcast.
                return Some(Reply {
                    msg: m,
                    to: ReplyTo::Broadcast(to.port()),
                });
            }
            if *to.ip() == Ipv4Addr::BROADCAST {
                to.set_ip(ctx.req.msg.ciaddr());
            }
            Some(Reply {
                msg: m,
                to: ReplyTo::Unicast(to),
            })
        }
        // A REQUEST on port 67 selects the site server's offer: not ours to answer.
        _ => None,
    }
}
