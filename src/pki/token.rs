//! k3s join tokens (`K10<cahash>::<user>:<password>`) and k3s's `hashCA` rule.

use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("invalid token CA hash length: {0} characters, want 64")]
    HashLength(usize),
    #[error("token has no credentials after `::`")]
    NoCredentials,
    #[error("token password is empty")]
    EmptyPassword,
    #[error("no PEM certificate in the CA bundle")]
    NoCertificates,
}

/// A parsed secure token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Lower-case hex SHA-256 of the cluster CA as `hashCA` computes it; empty if not pinned.
    pub ca_hash: String,
    pub username: String,
    pub password: String,
}

impl Token {
    pub fn new(ca_hash: &str, username: &str, password: &str) -> Self {
        Token {
            ca_hash: ca_hash.into(),
            username: username.into(),
            password: password.into(),
        }
    }

    /// Parses a token the way k3s's `clientaccess.ParseToken` does for user:password tokens.
    pub fn parse(s: &str) -> Result<Token, TokenError> {
        let s = s.trim();
        let Some(rest) = s.strip_prefix("K10") else {
            if s.is_empty() {
                return Err(TokenError::EmptyPassword);
            }
            return Ok(Token::new("", "", s));
        };
        let (hash, creds) = rest.split_once("::").ok_or(TokenError::NoCredentials)?;
        if !hash.is_empty() && hash.len() != 64 {
            return Err(TokenError::HashLength(hash.len()));
        }
        let (user, pass) = creds.split_once(':').unwrap_or(("", creds));
        if pass.is_empty() {
            return Err(TokenError::EmptyPassword);
        }
        Ok(Token::new(hash, user, pass))
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "K10{}::{}:{}",
            self.ca_hash, self.username, self.password
        )
    }
}

/// k3s `hashCA`: one certificate → SHA-256 of the file bytes as served; a chain → SHA-256 of
/// the DER of the root that ends the verified chain of the first certificate; if the chain does
/// not verify, the file bytes again.
pub fn hash_ca(bundle: &[u8]) -> Result<String, TokenError> {
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
    match chain_root(&blocks) {
        Some(root_der) => Ok(hex::encode(Sha256::digest(root_der))),
        None => Ok(hex::encode(Sha256::digest(bundle))),
    }
}

fn is_root(c: &X509Certificate<'_>) -> bool {
    let aki = c
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        });
    let ski = c
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
    match aki {
        None => true,
        Some(a) => a.is_empty() || Some(a) == ski,
    }
}

/// Walks issuer links from the first certificate through the rest, checking each signature.
fn chain_root(blocks: &[::pem::Pem]) -> Option<&[u8]> {
    let certs: Vec<(usize, X509Certificate<'_>)> = blocks
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            X509Certificate::from_der(b.contents())
                .ok()
                .map(|(_, c)| (i, c))
        })
        .collect();
    let (_, mut cur) = certs.iter().find(|(i, _)| *i == 0)?.clone();
    for _ in 0..8 {
        let issuer = certs.iter().skip(1).find(|(_, c)| {
            c.subject() == cur.issuer() && cur.verify_signature(Some(c.public_key())).is_ok()
        })?;
        if is_root(&issuer.1) {
            return Some(blocks[issuer.0].contents());
        }
        cur = issuer.1.clone();
    }
    None
}
