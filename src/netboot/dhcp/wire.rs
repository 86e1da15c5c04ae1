//! Bytes to [`Message`]: the framing checks and option filter in front of dhcproto.
//!
//! Anyone on the segment can send to port 67, so the option area is walked here first: every
//! TLV must fit, the options the responder reads must have their RFC lengths, and every other
//! option is dropped before dhcproto sees the packet (a few of its option decoders assume
//! well-formed lengths).

use std::collections::BTreeMap;

use dhcproto::v4::Message;
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

/// BOOTP header (236 bytes) plus the magic cookie.
const OPTIONS_AT: usize = 240;
const COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Replies shorter than the BOOTP minimum are dropped by some PXE ROMs.
const MIN_REPLY: usize = 300;

/// Why a packet was dropped without an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("{0} bytes is shorter than a DHCP header with its magic cookie (240)")]
    TooShort(usize),
    #[error("op {0} is not BOOTREQUEST (1)")]
    NotRequest(u8),
    #[error("hardware type {htype}/length {hlen} is not Ethernet (1/6)")]
    NotEthernet { htype: u8, hlen: u8 },
    #[error("no DHCP magic cookie (a plain BOOTP request)")]
    NoCookie,
    #[error("option {code} at byte {at} runs past the end of the packet")]
    Truncated { code: u8, at: usize },
    #[error("option {code} has length {len}, {want}")]
    BadLength {
        code: u8,
        len: usize,
        want: &'static str,
    },
    #[error("no DHCP message type (option 53)")]
    NoMessageType,
    #[error("dhcproto refused the packet: {0}")]
    Decode(String),
}

/// The options the responder reads, with the lengths RFC 2132/4578/3004 give them.
fn check_len(code: u8, data: &[u8]) -> Result<bool, Malformed> {
    let len = data.len();
    let bad = |want| Err(Malformed::BadLength { code, len, want });
    match code {
        53 if len != 1 => bad("expected 1"),
        50 | 54 | 51 if len != 4 => bad("expected 4"),
        57 if len != 2 => bad("expected 2"),
        93 if len < 2 || !len.is_multiple_of(2) => bad("expected a list of 16-bit codes"),
        94 if len != 3 => bad("expected 3"),
        97 if !(len == 0 || (len == 17 && data[0] == 0)) => {
            bad("expected 0, or 17 (type 0 + GUID)")
        }
        43 | 55 | 60 | 61 | 77 if len == 0 => bad("expected at least 1"),
        43 | 50 | 51 | 53 | 54 | 55 | 57 | 60 | 61 | 77 | 93 | 94 | 97 => Ok(true),
        _ => Ok(false),
    }
}

/// Validates and decodes a client's packet.
pub fn decode(bytes: &[u8]) -> Result<Message, Malformed> {
    if bytes.len() < OPTIONS_AT {
        return Err(Malformed::TooShort(bytes.len()));
    }
    if bytes[0] != 1 {
        return Err(Malformed::NotRequest(bytes[0]));
    }
    if bytes[1] != 1 || bytes[2] != 6 {
        return Err(Malformed::NotEthernet {
            htype: bytes[1],
            hlen: bytes[2],
        });
    }
    if bytes[236..240] != COOKIE {
        return Err(Malformed::NoCookie);
    }
    // RFC 3396: repeated instances of one option are one value, concatenated.
    let mut opts: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    let mut i = OPTIONS_AT;
    while i < bytes.len() {
        let code = bytes[i];
        match code {
            0 => i += 1,
            255 => break,
            _ => {
                let len = *bytes
                    .get(i + 1)
                    .ok_or(Malformed::Truncated { code, at: i })?
                    as usize;
                let data = bytes
                    .get(i + 2..i + 2 + len)
                    .ok_or(Malformed::Truncated { code, at: i })?;
                opts.entry(code).or_default().extend_from_slice(data);
                i += 2 + len;
            }
        }
    }
    let mut clean = bytes[..OPTIONS_AT].to_vec();
    for (code, mut data) in opts {
        if !check_len(code, &data)? {
            continue;
        }
        if code == 93 {
            // The first code is the client's preferred architecture (RFC 4578 2.1).
            data.truncate(2);
        }
        if data.is_empty() {
            clean.extend([code, 0]);
        }
        for chunk in data.chunks(255) {
            clean.extend([code, chunk.len() as u8]);
            clean.extend_from_slice(chunk);
        }
    }
    clean.push(255);
    let msg =
        Message::decode(&mut Decoder::new(&clean)).map_err(|e| Malformed::Decode(e.to_string()))?;
    if msg.opts().msg_type().is_none() {
        return Err(Malformed::NoMessageType);
    }
    Ok(msg)
}

/// Decodes a server's reply (what a client, or a test standing in for one, receives).
pub fn decode_reply(bytes: &[u8]) -> Result<Message, Malformed> {
    if bytes.len() < OPTIONS_AT {
        return Err(Malformed::TooShort(bytes.len()));
    }
    Message::decode(&mut Decoder::new(bytes)).map_err(|e| Malformed::Decode(e.to_string()))
}

/// Encodes a message. dhcproto leaves out options with an empty value, so an empty option 97
/// (which must be mirrored as sent) is added before the end option here.
pub fn encode_unpadded(msg: &Message) -> Result<Vec<u8>, super::DhcpError> {
    use dhcproto::v4::{DhcpOption, OptionCode};
    let mut buf = Vec::with_capacity(MIN_REPLY);
    msg.encode(&mut Encoder::new(&mut buf))
        .map_err(|e| super::DhcpError::Encode(e.to_string()))?;
    let empty_97 = matches!(
        msg.opts().get(OptionCode::ClientMachineIdentifier),
        Some(DhcpOption::ClientMachineIdentifier(v)) if v.is_empty()
    );
    if empty_97 && buf.last() == Some(&255) {
        let end = buf.len() - 1;
        buf.splice(end..end, [97, 0]);
    }
    Ok(buf)
}

/// Encodes a reply, padded to the BOOTP minimum size.
pub fn encode(msg: &Message) -> Result<Vec<u8>, super::DhcpError> {
    let mut buf = encode_unpadded(msg)?;
    if buf.len() < MIN_REPLY {
        buf.resize(MIN_REPLY, 0);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut b = vec![0u8; OPTIONS_AT];
        b[0] = 1;
        b[1] = 1;
        b[2] = 6;
        b[28..34].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 1]);
        b[236..240].copy_from_slice(&COOKIE);
        b
    }

    fn with(opts: &[u8]) -> Vec<u8> {
        let mut b = header();
        b.extend_from_slice(opts);
        b
    }

    #[test]
    fn framing_errors_are_named() {
        assert_eq!(decode(&[1; 10]), Err(Malformed::TooShort(10)));
        let mut reply = header();
        reply[0] = 2;
        assert_eq!(decode(&reply), Err(Malformed::NotRequest(2)));
        let mut ib = header();
        ib[1] = 32;
        ib[2] = 0;
        assert!(matches!(decode(&ib), Err(Malformed::NotEthernet { .. })));
        let mut bootp = header();
        bootp[236] = 0;
        assert_eq!(decode(&bootp), Err(Malformed::NoCookie));
        assert_eq!(
            decode(&with(&[53, 1, 1, 60, 9, b'P'])),
            Err(Malformed::Truncated { code: 60, at: 243 })
        );
        assert_eq!(
            decode(&with(&[53])),
            Err(Malformed::Truncated { code: 53, at: 240 })
        );
        assert_eq!(
            decode(&with(&[60, 1, b'x', 255])),
            Err(Malformed::NoMessageType)
        );
    }

    #[test]
    fn read_options_must_have_their_lengths() {
        for (opts, code) in [
            (&[53u8, 2, 1, 1][..], 53),
            (&[53, 1, 1, 54, 3, 1, 2, 3], 54),
            (&[53, 1, 1, 93, 1, 0], 93),
            (&[53, 1, 1, 93, 3, 0, 0, 7], 93),
            (&[53, 1, 1, 94, 2, 1, 2], 94),
            (&[53, 1, 1, 60, 0], 60),
        ] {
            match decode(&with(opts)) {
                Err(Malformed::BadLength { code: c, .. }) => assert_eq!(c, code),
                other => panic!("{opts:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn option_97_is_empty_or_a_typed_guid() {
        let mut guid = vec![53, 1, 1, 97, 17, 0];
        guid.extend([7u8; 16]);
        assert!(decode(&with(&guid)).is_ok());
        assert!(decode(&with(&[53, 1, 1, 97, 0])).is_ok());
        guid[5] = 1;
        assert!(matches!(
            decode(&with(&guid)),
            Err(Malformed::BadLength { code: 97, .. })
        ));
        assert!(matches!(
            decode(&with(&[53, 1, 1, 97, 4, 0, 1, 2, 3])),
            Err(Malformed::BadLength { code: 97, .. })
        ));
    }

    #[test]
    fn unread_options_are_dropped_even_when_their_payload_is_hostile() {
        // Option 121 with a prefix length of 200 and option 80 with a payload: never decoded.
        let m = decode(&with(&[
            53, 1, 1, 121, 5, 200, 1, 2, 3, 4, 80, 1, 9, 12, 2, 0xff, 0xfe,
        ]))
        .unwrap();
        assert_eq!(m.opts().iter().count(), 1);
    }

    #[test]
    fn split_options_are_joined_and_93_keeps_the_first_code() {
        let m = decode(&with(&[
            53, 1, 1, 60, 3, b'P', b'X', b'E', 60, 2, b'C', b'l', 93, 4, 0, 7, 0, 0,
        ]))
        .unwrap();
        use dhcproto::v4::{DhcpOption, OptionCode};
        assert_eq!(
            m.opts().get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(b"PXECl".to_vec()))
        );
        assert_eq!(
            m.opts()
                .get(OptionCode::ClientSystemArchitecture)
                .map(|o| match o {
                    DhcpOption::ClientSystemArchitecture(a) => u16::from(*a),
                    _ => 999,
                }),
            Some(7)
        );
    }
}
