//! Chains that Go's `x509.Verify` accepts or refuses, and the hash each one gets.

use super::*;
use ::time::{Duration, OffsetDateTime};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn params(cn: &str, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    p
}

fn root() -> Ca {
    let key = KeyPair::generate().unwrap();
    let cert = params("root", true).self_signed(&key).unwrap();
    Ca { cert, key }
}

fn issue(p: CertificateParams, by: &Ca) -> Ca {
    let mut p = p;
    p.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &by.cert, &by.key).unwrap();
    Ca { cert, key }
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// leaf + intermediate + root, with `edit` applied to the intermediate's parameters.
fn bundle(edit: impl FnOnce(&mut CertificateParams)) -> (String, Certificate) {
    let r = root();
    let mut ip = params("intermediate", true);
    edit(&mut ip);
    let int = issue(ip, &r);
    let leaf = issue(params("k3s-server-ca", true), &int);
    (
        format!("{}{}{}", leaf.cert.pem(), int.cert.pem(), r.cert.pem()),
        r.cert,
    )
}

#[test]
fn a_valid_chain_hashes_its_root() {
    let (b, r) = bundle(|_| {});
    assert_eq!(hash_ca(b.as_bytes()).unwrap(), sha(r.der()));
    let (b, r) = bundle(|p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    assert_eq!(hash_ca(b.as_bytes()).unwrap(), sha(r.der()));
}

#[test]
fn an_expired_or_not_yet_valid_intermediate_breaks_the_chain() {
    let past = OffsetDateTime::now_utc() - Duration::days(30);
    let (b, _) = bundle(|p| {
        p.not_before = past - Duration::days(365);
        p.not_after = past;
    });
    assert_eq!(hash_ca(b.as_bytes()).unwrap(), sha(b.as_bytes()));
    let future = OffsetDateTime::now_utc() + Duration::days(30);
    let (b, _) = bundle(|p| p.not_before = future);
    assert_eq!(hash_ca(b.as_bytes()).unwrap(), sha(b.as_bytes()));
}

#[test]
fn validity_is_judged_at_the_given_time() {
    let (b, r) = bundle(|_| {});
    let then = ASN1Time::from_timestamp(0).unwrap(); // before rcgen's default not_before
    assert_eq!(hash_ca_at(b.as_bytes(), then).unwrap(), sha(b.as_bytes()));
    assert_eq!(
        hash_ca_at(b.as_bytes(), ASN1Time::now()).unwrap(),
        sha(r.der())
    );
}

#[test]
fn an_intermediate_without_server_auth_usage_breaks_the_chain() {
    let (b, _) = bundle(|p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    assert_eq!(hash_ca(b.as_bytes()).unwrap(), sha(b.as_bytes()));
}

#[test]
fn an_intermediate_that_is_not_a_ca_breaks_the_chain() {
    let (b, _) = bundle(|p| p.is_ca = IsCa::ExplicitNoCa);
    assert_eq!(hash_ca(b.as_bytes()).unwrap(), sha(b.as_bytes()));
}

#[test]
fn an_expired_first_certificate_breaks_the_chain() {
    let r = root();
    let mut lp = params("k3s-server-ca", true);
    lp.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    lp.not_before = lp.not_after - Duration::days(10);
    let leaf = issue(lp, &r);
    let b = format!("{}{}", leaf.cert.pem(), r.cert.pem());
    assert_eq!(hash_ca(b.as_bytes()).unwrap(), sha(b.as_bytes()));
}

#[test]
fn a_single_certificate_hashes_the_file_bytes() {
    let r = root();
    let text = format!("{}\n", r.cert.pem());
    assert_eq!(hash_ca(text.as_bytes()).unwrap(), sha(text.as_bytes()));
    assert_eq!(hash_ca(b"nothing"), Err(TokenError::NoCertificates));
}
