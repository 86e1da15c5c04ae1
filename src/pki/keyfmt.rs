//! EC private keys in SEC1 form (`-----BEGIN EC PRIVATE KEY-----`, RFC 5915), as k3s writes them.
//!
//! kube-apiserver reads `service.key` with client-go `keyutil.ParsePublicKeysPEM`, which accepts
//! EC keys only as SEC1 (PKCS#8 only for RSA), so a PKCS#8 EC key stops the API server. rcgen
//! (ring) generates and reads PKCS#8 only: this module re-encodes between the two. The private
//! scalar and public point are carried over byte for byte, so the key never changes.

use rcgen::KeyPair;

/// PEM label of a SEC1 EC private key.
pub const SEC1_TAG: &str = "EC PRIVATE KEY";
/// PEM label of a PKCS#8 private key.
pub const PKCS8_TAG: &str = "PRIVATE KEY";

/// id-ecPublicKey (1.2.840.10045.2.1) and prime256v1 (1.2.840.10045.3.1.7), DER contents.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;
const CTX0: u8 = 0xa0;
const CTX1: u8 = 0xa1;

/// Why a key could not be re-encoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeyFormatError {
    #[error("not PEM: {0}")]
    Pem(String),
    #[error("PEM block is `{0}`, want `EC PRIVATE KEY` or `PRIVATE KEY`")]
    Label(String),
    #[error("malformed DER: {0}")]
    Der(&'static str),
    #[error("not an ECDSA P-256 key (the only kind k3s and this tool generate)")]
    NotP256,
    #[error("the key does not load: {0}")]
    Load(String),
}

/// Reads one TLV; returns (tag, contents, rest). Definite lengths up to 4 bytes only.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), KeyFormatError> {
    let (&tag, rest) = input
        .split_first()
        .ok_or(KeyFormatError::Der("truncated"))?;
    let (&first, mut rest) = rest.split_first().ok_or(KeyFormatError::Der("truncated"))?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err(KeyFormatError::Der("bad length"));
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(KeyFormatError::Der("truncated"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], want: u8) -> Result<(&[u8], &[u8]), KeyFormatError> {
    let (tag, body, rest) = tlv(input)?;
    if tag != want {
        return Err(KeyFormatError::Der("unexpected tag"));
    }
    Ok((body, rest))
}

fn encode(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

/// The private scalar and public point (BIT STRING contents) of an ECPrivateKey.
struct EcKey<'a> {
    scalar: &'a [u8],
    public: &'a [u8],
}

/// Parses RFC 5915 ECPrivateKey; `[0]` parameters, when present, must name P-256.
fn parse_ec_private_key(der: &[u8]) -> Result<EcKey<'_>, KeyFormatError> {
    let (seq, _) = expect(der, SEQUENCE)?;
    let (version, rest) = expect(seq, INTEGER)?;
    if version != [1] {
        return Err(KeyFormatError::Der("ECPrivateKey version is not 1"));
    }
    let (scalar, mut rest) = expect(rest, OCTET_STRING)?;
    let mut public = None;
    while !rest.is_empty() {
        let (tag, body, next) = tlv(rest)?;
        match tag {
            CTX0 => {
                if expect(body, OID)?.0 != OID_P256 {
                    return Err(KeyFormatError::NotP256);
                }
            }
            CTX1 => public = Some(expect(body, BIT_STRING)?.0),
            _ => return Err(KeyFormatError::Der("unexpected field in ECPrivateKey")),
        }
        rest = next;
    }
    let public = public.ok_or(KeyFormatError::Der("ECPrivateKey has no public key"))?;
    if scalar.len() != 32 || public.len() != 66 {
        return Err(KeyFormatError::NotP256);
    }
    Ok(EcKey { scalar, public })
}

/// ECPrivateKey DER; `with_curve` adds the `[0]` named curve, which a standalone SEC1 key needs.
fn ec_private_key_der(k: &EcKey<'_>, with_curve: bool) -> Vec<u8> {
    let mut body = encode(INTEGER, &[1]);
    body.extend(encode(OCTET_STRING, k.scalar));
    if with_curve {
        body.extend(encode(CTX0, &encode(OID, OID_P256)));
    }
    body.extend(encode(CTX1, &encode(BIT_STRING, k.public)));
    encode(SEQUENCE, &body)
}

/// PKCS#8 PrivateKeyInfo (P-256) to SEC1 ECPrivateKey DER.
pub fn pkcs8_to_sec1(pkcs8: &[u8]) -> Result<Vec<u8>, KeyFormatError> {
    let (seq, _) = expect(pkcs8, SEQUENCE)?;
    let (version, rest) = expect(seq, INTEGER)?;
    if version != [0] && version != [1] {
        return Err(KeyFormatError::Der("PKCS#8 version is not 0 or 1"));
    }
    let (alg, rest) = expect(rest, SEQUENCE)?;
    let (alg_oid, params) = expect(alg, OID)?;
    if alg_oid != OID_EC_PUBLIC_KEY || expect(params, OID)?.0 != OID_P256 {
        return Err(KeyFormatError::NotP256);
    }
    let (inner, _) = expect(rest, OCTET_STRING)?;
    Ok(ec_private_key_der(&parse_ec_private_key(inner)?, true))
}

/// SEC1 ECPrivateKey (P-256) to PKCS#8 PrivateKeyInfo DER.
pub fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>, KeyFormatError> {
    let key = parse_ec_private_key(sec1)?;
    let mut alg = encode(OID, OID_EC_PUBLIC_KEY);
    alg.extend(encode(OID, OID_P256));
    let mut body = encode(INTEGER, &[0]);
    body.extend(encode(SEQUENCE, &alg));
    body.extend(encode(OCTET_STRING, &ec_private_key_der(&key, false)));
    Ok(encode(SEQUENCE, &body))
}

fn pem_encode(tag: &str, der: Vec<u8>) -> String {
    let cfg = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der), cfg)
}

/// The first private-key block; other blocks (`EC PARAMETERS` from `openssl ecparam -genkey`)
/// are skipped as client-go skips them.
fn key_block(text: &str) -> Result<pem::Pem, KeyFormatError> {
    let blocks = pem::parse_many(text).map_err(|e| KeyFormatError::Pem(e.to_string()))?;
    let first = blocks
        .first()
        .map(|b| b.tag().to_string())
        .ok_or_else(|| KeyFormatError::Pem("no PEM block".into()))?;
    blocks
        .into_iter()
        .find(|b| b.tag() == SEC1_TAG || b.tag() == PKCS8_TAG)
        .ok_or(KeyFormatError::Label(first))
}

/// A key as SEC1 PEM, from SEC1 or PKCS#8 PEM; a SEC1 input is returned as it is.
pub fn to_sec1_pem(text: &str) -> Result<String, KeyFormatError> {
    let p = key_block(text)?;
    match p.tag() {
        SEC1_TAG => {
            parse_ec_private_key(p.contents())?;
            Ok(text.to_string())
        }
        PKCS8_TAG => Ok(pem_encode(SEC1_TAG, pkcs8_to_sec1(p.contents())?)),
        other => Err(KeyFormatError::Label(other.into())),
    }
}

/// Loads a SEC1 or PKCS#8 PEM key for signing with rcgen.
pub fn key_pair(text: &str) -> Result<KeyPair, KeyFormatError> {
    let p = key_block(text)?;
    let der = match p.tag() {
        SEC1_TAG => sec1_to_pkcs8(p.contents())?,
        PKCS8_TAG => p.contents().to_vec(),
        other => return Err(KeyFormatError::Label(other.into())),
    };
    KeyPair::try_from(der).map_err(|e| KeyFormatError::Load(e.to_string()))
}

/// A freshly generated key pair as SEC1 PEM.
pub fn serialize_sec1(key: &KeyPair) -> String {
    let der = pkcs8_to_sec1(&key.serialize_der()).expect("rcgen P-256 keys are PKCS#8 P-256");
    pem_encode(SEC1_TAG, der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PKCS_ECDSA_P256_SHA256;

    #[test]
    fn round_trip_keeps_the_key() {
        let k = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let sec1 = serialize_sec1(&k);
        assert!(
            sec1.starts_with("-----BEGIN EC PRIVATE KEY-----\n"),
            "{sec1}"
        );
        let back = key_pair(&sec1).unwrap();
        assert_eq!(back.public_key_raw(), k.public_key_raw());
        assert_eq!(to_sec1_pem(&k.serialize_pem()).unwrap(), sec1);
        assert_eq!(to_sec1_pem(&sec1).unwrap(), sec1, "SEC1 is kept as is");
        let reloaded = key_pair(&k.serialize_pem()).unwrap();
        assert_eq!(reloaded.public_key_raw(), k.public_key_raw());
    }

    #[test]
    fn other_inputs_are_refused_with_the_reason() {
        let cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            to_sec1_pem(cert).unwrap_err(),
            KeyFormatError::Label("CERTIFICATE".into())
        );
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert!(to_sec1_pem(&ed.serialize_pem()).is_err());
        let junk = "-----BEGIN PRIVATE KEY-----\nMAM=\n-----END PRIVATE KEY-----\n";
        assert!(matches!(to_sec1_pem(junk), Err(KeyFormatError::Der(_))));
        assert!(matches!(
            to_sec1_pem("no pem here"),
            Err(KeyFormatError::Pem(_))
        ));
    }

    #[test]
    fn leading_ec_parameters_are_skipped() {
        let k = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let text = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            serialize_sec1(&k)
        );
        assert_eq!(to_sec1_pem(&text).unwrap(), text, "kept as it is");
        assert_eq!(
            key_pair(&text).unwrap().public_key_raw(),
            k.public_key_raw()
        );
    }
}
