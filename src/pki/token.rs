//! k3s join tokens, parsed as k3s's `clientaccess.parseToken` does: `K10<cahash>::<user>:<password>`,
//! or a bootstrap token `<id>.<secret>` (`k3s token create`), bare or after `K10<cahash>::`.
//! The CA hash rule itself is in [`super::hashca`].

use crate::secret::Secret;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("invalid token CA hash length: {0} characters, want 64")]
    HashLength(usize),
    #[error("token has no credentials after `::`")]
    NoCredentials,
    #[error("token password is empty")]
    EmptyPassword,
    #[error("token credentials after `::` are not `<user>:<password>` nor a bootstrap token `[a-z0-9]{{6}}.[a-z0-9]{{16}}`; k3s refuses such a token (\"invalid token format\"): use the full token `kateskit cluster token` prints")]
    NoUser,
    #[error("no PEM certificate in the CA bundle")]
    NoCertificates,
    #[error("certificate {0} of the CA bundle does not parse")]
    BadCertificate(usize),
}

/// A parsed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Lower-case hex SHA-256 of the cluster CA as `hashCA` computes it; empty if not pinned.
    pub ca_hash: String,
    /// Empty for a bare password and for bootstrap tokens.
    pub username: String,
    /// The password, or the whole `<id>.<secret>` of a bootstrap token.
    pub password: Secret,
    /// A kubeadm-style bootstrap token: sent as `Authorization: Bearer`, joins agents only.
    pub bootstrap: bool,
}

/// kubeadm's bootstrap token syntax: `^[a-z0-9]{6}\.[a-z0-9]{16}$`.
pub fn is_bootstrap_token(s: &str) -> bool {
    let ok = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    matches!(s.split_once('.'), Some((id, secret)) if ok(id, 6) && ok(secret, 16))
}

impl Token {
    pub fn new(ca_hash: &str, username: &str, password: &str) -> Self {
        Token {
            ca_hash: ca_hash.into(),
            username: username.into(),
            password: password.into(),
            bootstrap: false,
        }
    }

    fn bootstrap_token(ca_hash: &str, token: &str) -> Self {
        Token {
            bootstrap: true,
            ..Token::new(ca_hash, "", token)
        }
    }

    /// Parses a token as k3s does: a bare value is a bootstrap token or a password (empty
    /// user); after `K10<hash>::` come a bootstrap token or `<user>:<password>`.
    pub fn parse(s: &str) -> Result<Token, TokenError> {
        let s = s.trim();
        let Some(rest) = s.strip_prefix("K10") else {
            if s.is_empty() {
                return Err(TokenError::EmptyPassword);
            }
            if is_bootstrap_token(s) {
                return Ok(Token::bootstrap_token("", s));
            }
            return Ok(Token::new("", "", s));
        };
        let (hash, creds) = rest.split_once("::").ok_or(TokenError::NoCredentials)?;
        if !hash.is_empty() && hash.len() != 64 {
            return Err(TokenError::HashLength(hash.len()));
        }
        if is_bootstrap_token(creds) {
            return Ok(Token::bootstrap_token(hash, creds));
        }
        if creds.is_empty() {
            return Err(TokenError::NoCredentials);
        }
        let (user, pass) = creds.split_once(':').ok_or(TokenError::NoUser)?;
        if pass.is_empty() {
            return Err(TokenError::EmptyPassword);
        }
        Ok(Token::new(hash, user, pass))
    }
}

impl Token {
    /// The whole token as k3s reads it (`K10<hash>::<user>:<password>`): the secret itself.
    pub fn secret(&self) -> Secret {
        let p = self.password.expose();
        Secret::new(if self.bootstrap {
            format!("K10{}::{p}", self.ca_hash)
        } else {
            format!("K10{}::{}:{p}", self.ca_hash, self.username)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "a3f1c0b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";

    #[test]
    fn user_password_tokens() {
        let t = Token::parse(&format!("K10{H}::node:s3cret\n")).unwrap();
        assert_eq!((t.ca_hash.as_str(), t.username.as_str()), (H, "node"));
        assert_eq!((t.password.expose(), t.bootstrap), ("s3cret", false));
        assert_eq!(t.secret().expose(), format!("K10{H}::node:s3cret"));
        assert!(!format!("{t:?} {}", t.secret()).contains("s3cret"));
        let bare = Token::parse("just-a-password").unwrap();
        assert_eq!((bare.username.as_str(), bare.bootstrap), ("", false));
    }

    #[test]
    fn a_password_without_user_after_the_hash_is_refused_like_k3s() {
        let e = Token::parse(&format!("K10{H}::s3cret")).unwrap_err();
        assert_eq!(e, TokenError::NoUser);
        assert!(e.to_string().contains("invalid token format"), "{e}");
        assert_eq!(
            Token::parse(&format!("K10{H}::node:")),
            Err(TokenError::EmptyPassword)
        );
        assert_eq!(Token::parse("K10abc::u:p"), Err(TokenError::HashLength(3)));
    }

    #[test]
    fn bootstrap_tokens_bare_or_pinned() {
        let t = Token::parse(&format!("K10{H}::abcdef.0123456789abcdef")).unwrap();
        assert!(t.bootstrap && t.username.is_empty());
        assert_eq!(t.password.expose(), "abcdef.0123456789abcdef");
        assert_eq!(
            t.secret().expose(),
            format!("K10{H}::abcdef.0123456789abcdef")
        );
        assert!(Token::parse("abcdef.0123456789abcdef").unwrap().bootstrap);
        // Upper case or other lengths are not bootstrap tokens.
        assert!(!is_bootstrap_token("ABCDEF.0123456789abcdef"));
        assert!(!is_bootstrap_token("abcdef.0123456789abcde"));
        assert!(!Token::parse("abcdef.0123456789abcdeX").unwrap().bootstrap);
    }
}
