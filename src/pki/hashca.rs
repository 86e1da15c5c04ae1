//! k3s's `hashCA` (pkg/clientaccess/token.go): one certificate → SHA-256 of the file bytes as
//! served; a bundle → SHA-256 of the DER of the root ending the first chain Go's `x509.Verify`
//! builds for the first certificate (later certificates are roots when their AuthorityKeyId is
//! empty or equals their SubjectKeyId, else intermediates); no chain → the file bytes again.
//!
//! `x509.Verify`'s rules applied here, as they decide which chain (if any) exists: signatures,
//! every certificate valid at the current time, intermediates marked CA, and the chain usable
//! for server authentication (an ExtKeyUsage extension, where present, must allow serverAuth,
//! any, or server-gated crypto). Name constraints and path lengths are not evaluated: k3s's
//! cluster CAs carry none.

use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

use super::TokenError;

/// Netscape and Microsoft server-gated crypto, which Go accepts in place of serverAuth.
const SGC: [&str; 2] = ["2.16.840.1.113730.4.1", "1.3.6.1.4.1.311.10.3.3"];
/// Longest chain searched (Go bounds its search by signature checks instead).
const MAX_DEPTH: usize = 8;

/// [`hash_ca_at`] at the current time.
pub fn hash_ca(bundle: &[u8]) -> Result<String, TokenError> {
    hash_ca_at(bundle, ASN1Time::now())
}

/// k3s `hashCA` with certificate validity judged at `now`.
pub fn hash_ca_at(bundle: &[u8], now: ASN1Time) -> Result<String, TokenError> {
    let blocks: Vec<::pem::Pem> = ::pem::parse_many(bundle)
        .map_err(|_| TokenError::NoCertificates)?
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .collect();
    if blocks.is_empty() {
        return Err(TokenError::NoCertificates);
    }
    if blocks.len() == 1 {
        return Ok(hex::encode(Sha256::digest(bundle)));
    }
    let certs = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            X509Certificate::from_der(b.contents())
                .map(|(_, c)| c)
                .map_err(|_| TokenError::BadCertificate(i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match verified_root(&certs, now) {
        Some(i) => Ok(hex::encode(Sha256::digest(blocks[i].contents()))),
        None => Ok(hex::encode(Sha256::digest(bundle))),
    }
}

fn key_ids(c: &X509Certificate<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let (mut aki, mut ski) = (None, None);
    for e in c.extensions() {
        match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            _ => {}
        }
    }
    (aki, ski)
}

/// The roots pool of k3s's `hashCA`.
fn is_root(c: &X509Certificate<'_>) -> bool {
    match key_ids(c) {
        (None, _) => true,
        (Some(a), ski) => a.is_empty() || Some(a) == ski,
    }
}

fn is_ca(c: &X509Certificate<'_>) -> bool {
    matches!(c.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
}

/// Go's `checkChainForKeyUsage` for the default `ExtKeyUsageServerAuth`.
fn allows_server_auth(c: &X509Certificate<'_>) -> bool {
    match c.extended_key_usage() {
        Ok(None) => true,
        Ok(Some(e)) => {
            let u = e.value;
            let none = !(u.any
                || u.server_auth
                || u.client_auth
                || u.code_signing
                || u.email_protection
                || u.time_stamping
                || u.ocsp_signing)
                && u.other.is_empty();
            none || u.any
                || u.server_auth
                || u.other
                    .iter()
                    .any(|o| SGC.contains(&o.to_id_string().as_str()))
        }
        Err(_) => false,
    }
}

/// Go's candidate check: issued `child`, signature, validity, and CA for intermediates.
fn can_issue(
    parent: &X509Certificate<'_>,
    child: &X509Certificate<'_>,
    root: bool,
    now: ASN1Time,
) -> bool {
    parent.subject() == child.issuer()
        && child.verify_signature(Some(parent.public_key())).is_ok()
        && parent.validity().is_valid_at(now)
        && (root || is_ca(parent))
}

/// Depth-first like Go's `buildChains` (roots before intermediates); the first chain whose
/// every certificate allows server authentication wins. Returns the root's index.
fn extend(
    chain: &mut Vec<usize>,
    certs: &[X509Certificate<'_>],
    roots: &[bool],
    now: ASN1Time,
) -> Option<usize> {
    if chain.len() > MAX_DEPTH {
        return None;
    }
    let cur = &certs[*chain.last().expect("chain starts with the leaf")];
    for want_root in [true, false] {
        for i in 1..certs.len() {
            if roots[i] != want_root || chain.contains(&i) {
                continue;
            }
            if !can_issue(&certs[i], cur, want_root, now) {
                continue;
            }
            chain.push(i);
            let found = if want_root {
                chain
                    .iter()
                    .all(|&j| allows_server_auth(&certs[j]))
                    .then_some(i)
            } else {
                extend(chain, certs, roots, now)
            };
            if found.is_some() {
                return found;
            }
            chain.pop();
        }
    }
    None
}

fn verified_root(certs: &[X509Certificate<'_>], now: ASN1Time) -> Option<usize> {
    if !certs[0].validity().is_valid_at(now) {
        return None;
    }
    let roots: Vec<bool> = certs.iter().map(is_root).collect();
    extend(&mut vec![0], certs, &roots, now)
}

#[cfg(test)]
#[path = "hashca_tests.rs"]
mod tests;
