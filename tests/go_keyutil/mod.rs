//! The acceptance rules of client-go `util/keyutil` as kube-apiserver and k3s apply them
//! (read in kubernetes/kubernetes `staging/src/k8s.io/client-go/util/keyutil/key.go` and Go's
//! `crypto/x509` parsers), written out here (not shared with the product) so the key files can
//! be checked against what Go would accept:
//!
//! * `ParsePublicKeysPEM` (`--service-account-key-file`): every PEM block, whatever its label,
//!   is tried as an RSA private key (PKCS#1, then PKCS#8 holding RSA), an RSA public key (PKIX,
//!   then a certificate), an EC private key (SEC1 only, `x509.ParseECPrivateKey`), an EC public
//!   key (PKIX, then a certificate). No key found is an error.
//! * `ParsePrivateKeyPEM` (signing keys): the first block labelled `EC PRIVATE KEY` (SEC1),
//!   `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8, any algorithm) that parses.
//!
//! DER is read as Go's `encoding/asn1` does: definite minimal lengths, minimal integers, no
//! trailing data. Number-theoretic checks (RSA `Validate`, the EC point being on the curve)
//! are left out; the structural rules are what separate SEC1 from PKCS#8.
#![allow(dead_code)]

const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// P-224, P-256, P-384, P-521 (Go's `namedCurveFromOID`) with their order byte lengths.
const CURVES: [(&[u8], usize); 4] = [
    (&[0x2b, 0x81, 0x04, 0x00, 0x21], 28),
    (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], 32),
    (&[0x2b, 0x81, 0x04, 0x00, 0x22], 48),
    (&[0x2b, 0x81, 0x04, 0x00, 0x23], 66),
];
/// The P-256 group order: Go refuses a scalar >= N.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

type R<T> = Result<T, String>;

/// One strict-DER TLV: (tag, contents, rest).
fn tlv(b: &[u8]) -> R<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first().ok_or("asn1: truncated tag")?;
    let (&l, mut b) = b.split_first().ok_or("asn1: truncated length")?;
    let len = if l < 0x80 {
        l as usize
    } else {
        let n = (l & 0x7f) as usize;
        if n == 0 {
            return Err("asn1: indefinite length".into());
        }
        if b.len() < n || b[0] == 0 {
            return Err("asn1: non-minimal length".into());
        }
        let v = b[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        if v < 0x80 {
            return Err("asn1: non-minimal length".into());
        }
        b = &b[n..];
        v
    };
    if b.len() < len {
        return Err("asn1: data truncated".into());
    }
    Ok((tag, &b[..len], &b[len..]))
}

/// Splits a SEQUENCE into its elements; the SEQUENCE must be the whole input.
fn seq(b: &[u8]) -> R<Vec<(u8, &[u8])>> {
    let (tag, mut body, rest) = tlv(b)?;
    if tag != 0x30 {
        return Err(format!(
            "asn1: structure error: tag {tag:#x}, want SEQUENCE"
        ));
    }
    if !rest.is_empty() {
        return Err("asn1: syntax error: trailing data".into());
    }
    let mut out = Vec::new();
    while !body.is_empty() {
        let (t, c, r) = tlv(body)?;
        out.push((t, c));
        body = r;
    }
    Ok(out)
}

/// An INTEGER's value bytes, checked minimal as Go's `parseBigInt` does.
fn int(e: Option<&(u8, &[u8])>) -> R<Vec<u8>> {
    let &(t, c) = e.ok_or("asn1: missing INTEGER")?;
    if t != 0x02 {
        return Err(format!("asn1: structure error: tag {t:#x}, want INTEGER"));
    }
    if c.is_empty() {
        return Err("asn1: empty integer".into());
    }
    if c.len() > 1 && ((c[0] == 0 && c[1] < 0x80) || (c[0] == 0xff && c[1] >= 0x80)) {
        return Err("asn1: integer not minimally-encoded".into());
    }
    Ok(c.to_vec())
}

fn positive(v: &[u8]) -> bool {
    v[0] < 0x80 && v.iter().any(|&b| b != 0)
}

fn tagged<'a>(e: Option<&(u8, &'a [u8])>, want: u8) -> R<&'a [u8]> {
    match e {
        Some(&(t, c)) if t == want => Ok(c),
        _ => Err(format!("asn1: structure error: want tag {want:#x}")),
    }
}

/// The contents of an EXPLICIT-tagged field holding exactly one `want` element.
fn explicit(c: &[u8], want: u8) -> R<&[u8]> {
    let (t, body, rest) = tlv(c)?;
    if t != want || !rest.is_empty() {
        return Err(format!("asn1: structure error: want tag {want:#x}"));
    }
    Ok(body)
}

pub fn parse_pkcs1_private_key(der: &[u8]) -> R<()> {
    let s = seq(der)?;
    let version = int(s.first())?;
    if version.len() != 1 || version[0] > 1 {
        return Err("x509: unsupported private key version".into());
    }
    let ints: Vec<Vec<u8>> = (1..9).map(|i| int(s.get(i))).collect::<R<_>>()?;
    if [0, 2, 3, 4].iter().any(|&i| !positive(&ints[i])) {
        return Err("x509: private key contains zero or negative value".into());
    }
    Ok(())
}

/// Go's `ecPrivateKey`: version, private key, optional explicit `[0]` named curve (the `[1]`
/// public key is checked for shape only).
struct EcPrivateKey<'a> {
    version: Vec<u8>,
    scalar: &'a [u8],
    named: Option<&'a [u8]>,
}

/// `asn1.Unmarshal` into [`EcPrivateKey`].
fn unmarshal_ec_private_key(der: &[u8]) -> R<EcPrivateKey<'_>> {
    let s = seq(der)?;
    let version = int(s.first())?;
    let scalar = tagged(s.get(1), 0x04)?;
    let mut named = None;
    for &(t, c) in &s[2..] {
        match t {
            0xa0 => named = Some(explicit(c, 0x06)?),
            0xa1 => {
                explicit(c, 0x03)?;
            }
            _ => return Err("asn1: structure error: unexpected field".into()),
        }
    }
    Ok(EcPrivateKey {
        version,
        scalar,
        named,
    })
}

/// `x509.ParseECPrivateKey`; `curve` is the PKCS#8 algorithm parameter when called from there.
pub fn parse_ec_private_key(curve: Option<&[u8]>, der: &[u8]) -> R<()> {
    let EcPrivateKey {
        version,
        scalar,
        named,
    } = unmarshal_ec_private_key(der).map_err(|e| {
        if parse_pkcs8(der).is_ok() {
            "x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)".into()
        } else if parse_pkcs1_private_key(der).is_ok() {
            "x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)".into()
        } else {
            format!("x509: failed to parse EC private key: {e}")
        }
    })?;
    if version != [1] {
        return Err("x509: unknown EC private key version".into());
    }
    let oid = curve.or(named).ok_or("x509: unknown elliptic curve")?;
    let (_, order_len) = CURVES
        .iter()
        .find(|(o, _)| *o == oid)
        .ok_or("x509: unknown elliptic curve")?;
    if scalar.len() > *order_len {
        return Err("x509: invalid private key length".into());
    }
    if *order_len == 32 {
        let mut k = [0u8; 32];
        k[32 - scalar.len()..].copy_from_slice(scalar);
        if k >= P256_N || k == [0u8; 32] {
            return Err("x509: invalid elliptic curve private key value".into());
        }
    }
    Ok(())
}

/// The algorithm OID of a PKCS#8 PrivateKeyInfo, after parsing the key it holds.
pub fn parse_pkcs8(der: &[u8]) -> R<&'static str> {
    let s = seq(der)?;
    int(s.first())?;
    let alg = tagged(s.get(1), 0x30)?;
    let key = tagged(s.get(2), 0x04)?;
    let (t, oid, params) = tlv(alg)?;
    if t != 0x06 {
        return Err("asn1: structure error: want OID".into());
    }
    match oid {
        o if o == RSA => parse_pkcs1_private_key(key).map(|()| "RSA"),
        o if o == EC => {
            let (t, curve, _) = tlv(params)?;
            if t != 0x06 {
                return Err("x509: failed to parse EC private key embedded in PKCS#8".into());
            }
            parse_ec_private_key(Some(curve), key).map(|()| "EC")
        }
        o if o == ED25519 => Ok("Ed25519"),
        _ => Err("x509: PKCS#8 wrapping contained private key with unknown algorithm".into()),
    }
}

/// `x509.ParsePKIXPublicKey`, returning the algorithm.
fn parse_pkix(der: &[u8]) -> R<&'static str> {
    let s = seq(der)?;
    let alg = tagged(s.first(), 0x30)?;
    tagged(s.get(1), 0x03)?;
    let (_, oid, _) = tlv(alg)?;
    match oid {
        o if o == RSA => Ok("RSA"),
        o if o == EC => Ok("EC"),
        _ => Err("x509: unknown public key algorithm".into()),
    }
}

fn public_key_alg(der: &[u8]) -> R<&'static str> {
    parse_pkix(der).or_else(|_| {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| format!("certificate: {e}"))?;
        parse_pkix(cert.public_key().raw)
    })
}

/// client-go `keyutil.ParsePublicKeysPEM`: the number of keys found, or Go's error.
pub fn parse_public_keys_pem(data: &[u8]) -> R<usize> {
    let blocks = pem::parse_many(data).map_err(|e| e.to_string())?;
    let mut keys = 0;
    for b in &blocks {
        let der = b.contents();
        let rsa_private =
            parse_pkcs1_private_key(der).is_ok() || parse_pkcs8(der).is_ok_and(|alg| alg == "RSA");
        let rsa_public = public_key_alg(der).is_ok_and(|alg| alg == "RSA");
        let ec_private = parse_ec_private_key(None, der).is_ok();
        let ec_public = public_key_alg(der).is_ok_and(|alg| alg == "EC");
        if rsa_private || rsa_public || ec_private || ec_public {
            keys += 1;
        }
    }
    if keys == 0 {
        return Err("data does not contain any valid RSA or ECDSA public keys".into());
    }
    Ok(keys)
}

/// client-go `keyutil.ParsePrivateKeyPEM`: the label of the block that parsed, or Go's error.
pub fn parse_private_key_pem(data: &[u8]) -> R<String> {
    let blocks = pem::parse_many(data).map_err(|e| e.to_string())?;
    for b in &blocks {
        let ok = match b.tag() {
            "EC PRIVATE KEY" => parse_ec_private_key(None, b.contents()).is_ok(),
            "RSA PRIVATE KEY" => parse_pkcs1_private_key(b.contents()).is_ok(),
            "PRIVATE KEY" => parse_pkcs8(b.contents()).is_ok(),
            _ => false,
        };
        if ok {
            return Ok(b.tag().to_string());
        }
    }
    Err("data does not contain a valid RSA or ECDSA private key".into())
}
