//! The k3s CA set, generated before any node boots so the CA hash (and the secure token) is
//! known in advance. File names follow k3s's `server/tls` layout, so pre-seeding is a copy.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};

use super::{keyfmt, PkiError};
use crate::secret::Secret;

/// The CA pairs k3s looks for under `<data-dir>/server/tls/` (stem, common-name prefix).
pub const CAS: [(&str, &str); 5] = [
    ("server-ca", "k3s-server-ca"),
    ("client-ca", "k3s-client-ca"),
    ("request-header-ca", "k3s-request-header-ca"),
    ("etcd/server-ca", "etcd-server-ca"),
    ("etcd/peer-ca", "etcd-peer-ca"),
];

/// Service-account signing key file name.
pub const SERVICE_KEY: &str = "service.key";

/// One generated file: path relative to the `tls` directory, PEM contents, secret or not.
#[derive(Debug, Clone)]
pub struct PemFile {
    pub rel: String,
    pub pem: Secret,
    pub private: bool,
}

/// Ten years, like k3s's own CAs.
const CA_DAYS: i64 = 3650;

/// How far `NotBefore` lies in the past. k3s starts without waiting for time sync, so a node
/// whose clock runs behind (a bad RTC before NTP corrects it) would see a CA that is not yet
/// valid and fail every TLS handshake; a day covers any plausible RTC drift.
pub const BACKDATE: Duration = Duration::days(1);

fn ca_params(cn: &str, now: OffsetDateTime) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{cn}@{}", now.unix_timestamp()));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now - BACKDATE;
    p.not_after = now + Duration::days(CA_DAYS);
    Ok(p)
}

/// Generates all five CAs (ECDSA P-256, as k3s does) and the service-account key; keys are
/// written in SEC1 form like k3s's own ([`keyfmt`]).
pub fn generate() -> Result<Vec<PemFile>, PkiError> {
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for (stem, cn) in CAS {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = ca_params(cn, now)?.self_signed(&key)?;
        out.push(PemFile {
            rel: format!("{stem}.crt"),
            pem: cert.pem().into(),
            private: false,
        });
        out.push(PemFile {
            rel: format!("{stem}.key"),
            pem: keyfmt::serialize_sec1(&key).into(),
            private: true,
        });
    }
    let sa = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    out.push(PemFile {
        rel: SERVICE_KEY.into(),
        pem: keyfmt::serialize_sec1(&sa).into(),
        private: true,
    });
    Ok(out)
}
