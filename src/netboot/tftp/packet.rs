//! TFTP wire format (RFC 1350) with option negotiation (RFC 2347) for the options this server
//! understands: blksize (RFC 2348), timeout and tsize (RFC 2349), windowsize (RFC 7440).

/// Error codes of RFC 1350 and RFC 2347.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    NotDefined = 0,
    NotFound = 1,
    AccessViolation = 2,
    IllegalOperation = 4,
    UnknownTid = 5,
    OptionRefused = 8,
}

/// Options a client asked for; `None` where it did not (or sent a value out of range, which
/// RFC 2347 lets a server ignore).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requested {
    pub blksize: Option<u16>,
    pub timeout: Option<u8>,
    pub tsize: bool,
    pub windowsize: Option<u16>,
}

/// A packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Read {
        file: String,
        mode: String,
        options: Requested,
    },
    Write,
    Ack(u16),
    Error(u16, String),
    /// DATA or OACK sent to a server, or an unknown opcode.
    Other(u16),
}

/// Why a packet could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("packet shorter than its opcode")]
    Short,
    #[error("request without a NUL-terminated {0}")]
    Unterminated(&'static str),
    #[error("request field is not UTF-8")]
    NotUtf8,
}

/// Reads one packet.
pub fn parse(buf: &[u8]) -> Result<Packet, PacketError> {
    if buf.len() < 2 {
        return Err(PacketError::Short);
    }
    let op = u16::from_be_bytes([buf[0], buf[1]]);
    let body = &buf[2..];
    match op {
        1 => parse_read(body),
        2 => Ok(Packet::Write),
        4 if body.len() >= 2 => Ok(Packet::Ack(u16::from_be_bytes([body[0], body[1]]))),
        5 if body.len() >= 2 => {
            let code = u16::from_be_bytes([body[0], body[1]]);
            let msg = body[2..].split(|&b| b == 0).next().unwrap_or(&[]);
            Ok(Packet::Error(
                code,
                String::from_utf8_lossy(msg).into_owned(),
            ))
        }
        4 | 5 => Err(PacketError::Short),
        other => Ok(Packet::Other(other)),
    }
}

fn parse_read(body: &[u8]) -> Result<Packet, PacketError> {
    let Some(body) = body.strip_suffix(&[0]) else {
        return Err(PacketError::Unterminated("field"));
    };
    let mut fields = body.split(|&b| b == 0);
    let mut field = |what| -> Result<String, PacketError> {
        let f = fields.next().ok_or(PacketError::Unterminated(what))?;
        String::from_utf8(f.to_vec()).map_err(|_| PacketError::NotUtf8)
    };
    let file = field("file name")?;
    let mode = field("mode")?;
    let mut options = Requested::default();
    // What remains are name/value pairs; an odd last name is ignored.
    let rest: Vec<&[u8]> = fields.collect();
    for pair in rest.chunks(2) {
        let [name, value] = pair else { break };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        match (name.as_str(), value) {
            ("blksize", Some(v)) if (8..=65464).contains(&v) => options.blksize = Some(v as u16),
            ("timeout", Some(v)) if (1..=255).contains(&v) => options.timeout = Some(v as u8),
            ("tsize", Some(_)) => options.tsize = true,
            ("windowsize", Some(v)) if (1..=65535).contains(&v) => {
                options.windowsize = Some(v as u16)
            }
            _ => {}
        }
    }
    Ok(Packet::Read {
        file,
        mode,
        options,
    })
}

/// A DATA packet.
pub fn data(block: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + payload.len());
    p.extend_from_slice(&3u16.to_be_bytes());
    p.extend_from_slice(&block.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An ERROR packet.
pub fn error(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + message.len());
    p.extend_from_slice(&5u16.to_be_bytes());
    p.extend_from_slice(&(code as u16).to_be_bytes());
    p.extend_from_slice(message.as_bytes());
    p.push(0);
    p
}

/// An OACK packet acknowledging `options` (name, value) in order.
pub fn oack(options: &[(&str, u64)]) -> Vec<u8> {
    let mut p = 6u16.to_be_bytes().to_vec();
    for (name, value) in options {
        p.extend_from_slice(name.as_bytes());
        p.push(0);
        p.extend_from_slice(value.to_string().as_bytes());
        p.push(0);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq(parts: &[&str]) -> Vec<u8> {
        let mut p = vec![0, 1];
        for s in parts {
            p.extend_from_slice(s.as_bytes());
            p.push(0);
        }
        p
    }

    #[test]
    fn a_read_request_with_options_is_read() {
        let p = rrq(&[
            "ipxe.efi",
            "OCTET",
            "BlkSize",
            "1468",
            "tsize",
            "0",
            "windowsize",
            "8",
        ]);
        let Packet::Read {
            file,
            mode,
            options,
        } = parse(&p).unwrap()
        else {
            panic!()
        };
        assert_eq!((file.as_str(), mode.as_str()), ("ipxe.efi", "OCTET"));
        assert_eq!(options.blksize, Some(1468));
        assert!(options.tsize);
        assert_eq!(options.windowsize, Some(8));
        assert_eq!(options.timeout, None);
    }

    #[test]
    fn out_of_range_and_unknown_options_are_ignored() {
        let p = rrq(&[
            "f",
            "octet",
            "blksize",
            "7",
            "timeout",
            "0",
            "windowsize",
            "x",
            "foo",
            "1",
        ]);
        let Packet::Read { options, .. } = parse(&p).unwrap() else {
            panic!()
        };
        assert_eq!(options, Requested::default());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(parse(&[0]), Err(PacketError::Short));
        assert_eq!(
            parse(&[0, 1, b'a']),
            Err(PacketError::Unterminated("field"))
        );
        assert_eq!(parse(&[0, 1, 0]), Err(PacketError::Unterminated("mode")));
        assert_eq!(parse(&[0, 4, 1]), Err(PacketError::Short));
        assert_eq!(parse(&[0, 1, 0xff, 0, b'o', 0]), Err(PacketError::NotUtf8));
        assert_eq!(parse(&[0, 9]), Ok(Packet::Other(9)));
        assert_eq!(parse(&[0, 4, 1, 2]), Ok(Packet::Ack(0x102)));
    }

    #[test]
    fn replies_are_encoded_as_the_rfcs_say() {
        assert_eq!(data(1, b"ab"), vec![0, 3, 0, 1, b'a', b'b']);
        assert_eq!(error(ErrorCode::NotFound, "x"), vec![0, 5, 0, 1, b'x', 0]);
        assert_eq!(oack(&[("tsize", 12)]), b"\0\x06tsize\x0012\0".to_vec());
    }
}
