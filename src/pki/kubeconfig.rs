//! Admin kubeconfig minted from the client CA, without touching a node.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use serde_yaml_ng::{Mapping, Value};
use time::{Duration, OffsetDateTime};

use super::{ca, keyfmt, PkiError, Secrets};
use crate::secret::Secret;

/// An admin client certificate: CN `kateskit-admin`, O `system:masters`, signed by the client CA,
/// valid from a day ago like the CAs (an API server whose clock runs behind still accepts it).
pub struct AdminCert {
    pub cert_pem: String,
    pub key_pem: Secret,
}

pub fn mint_admin(secrets: &Secrets, days: i64) -> Result<AdminCert, PkiError> {
    let ca_key =
        keyfmt::key_pair(&secrets.tls["client-ca.key"]).map_err(|source| PkiError::Key {
            path: secrets.dir.join("tls/client-ca.key"),
            source,
        })?;
    let ca_params = CertificateParams::from_ca_cert_pem(&secrets.tls["client-ca.crt"])?;
    let ca = ca_params.self_signed(&ca_key)?;
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "system:masters");
    dn.push(DnType::CommonName, "kateskit-admin");
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.not_before = now - ca::BACKDATE;
    p.not_after = now + Duration::days(days);
    p.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let cert = p.signed_by(&key, &ca, &ca_key)?;
    Ok(AdminCert {
        cert_pem: cert.pem(),
        key_pem: Secret::new(keyfmt::serialize_sec1(&key)),
    })
}

/// A kubeconfig with one cluster, user and context, all named `name`.
pub fn render(name: &str, server_url: &str, server_ca_pem: &str, admin: &AdminCert) -> Value {
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {ca}\nusers:\n- name: {name}-admin\n  user:\n    client-certificate-data: {crt}\n    client-key-data: {key}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}-admin\ncurrent-context: {name}\npreferences: {{}}\n",
        ca = B64.encode(server_ca_pem),
        crt = B64.encode(&admin.cert_pem),
        key = B64.encode(admin.key_pem.expose()),
    );
    serde_yaml_ng::from_str(&yaml).expect("kubeconfig template is valid YAML")
}

/// Merges `new` into `existing`: entries with the same name are replaced, all others kept.
/// `current-context` is set only when the existing file has none, or when `switch` is true.
pub fn merge(existing: Value, new: &Value, switch: bool) -> Result<Value, String> {
    let mut out = match existing {
        Value::Mapping(m) => m,
        Value::Null => Mapping::new(),
        _ => return Err("existing kubeconfig is not a YAML mapping".into()),
    };
    for section in ["clusters", "users", "contexts"] {
        let mut list = match out.remove(section) {
            Some(Value::Sequence(s)) => s,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(format!("existing kubeconfig `{section}` is not a list")),
        };
        for entry in new[section].as_sequence().into_iter().flatten() {
            let name = &entry["name"];
            match list.iter_mut().find(|e| &e["name"] == name) {
                Some(slot) => *slot = entry.clone(),
                None => list.push(entry.clone()),
            }
        }
        out.insert(section.into(), Value::Sequence(list));
    }
    for k in ["apiVersion", "kind"] {
        out.entry(k.into()).or_insert_with(|| new[k].clone());
    }
    let has_current = out
        .get("current-context")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if switch || !has_current {
        out.insert("current-context".into(), new["current-context"].clone());
    }
    Ok(Value::Mapping(out))
}
