use super::*;

const H: &str = "a3f1c0b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";

fn key(kind: &str, named: &str) -> String {
    let mut blob = Vec::new();
    for part in [named.as_bytes(), &[9u8; 32][..]] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    format!("{kind} {b64} me@host")
}

#[test]
fn roles_are_server_or_agent() {
    assert_eq!(parse_role(" Server ").unwrap(), Role::Server);
    assert_eq!(parse_role("a").unwrap(), Role::Agent);
    assert!(parse_role("master").is_err());
}

#[test]
fn server_urls_are_https_with_a_host_and_only_a_first_server_has_none() {
    assert_eq!(check_server_url(Role::Server, "").unwrap(), None);
    assert!(matches!(
        check_server_url(Role::Agent, " "),
        Err(AnswerError::Required(_))
    ));
    assert_eq!(
        check_server_url(Role::Agent, "https://10.0.0.1:6443/").unwrap(),
        Some("https://10.0.0.1:6443".into())
    );
    for bad in [
        "http://10.0.0.1:6443",
        "10.0.0.1:6443",
        "https://",
        "https://u:pw@10.0.0.1:6443",
    ] {
        assert!(check_server_url(Role::Agent, bad).is_err(), "{bad}");
    }
    // The password of a refused URL is not repeated in the message.
    let e = check_server_url(Role::Agent, "http://u:hunter2@s:6443").unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn tokens_are_checked_as_k3s_parses_them() {
    let full = format!("K10{H}::server:pw");
    assert_eq!(
        check_token(Role::Server, true, &full)
            .unwrap()
            .unwrap()
            .expose(),
        full
    );
    assert!(check_token(Role::Server, false, "").unwrap().is_none());
    assert!(matches!(
        check_token(Role::Server, true, ""),
        Err(AnswerError::Required(_))
    ));
    assert!(matches!(
        check_token(Role::Agent, true, ""),
        Err(AnswerError::Required(_))
    ));
    assert!(matches!(
        check_token(Role::Agent, true, "K10abc::node:pw"),
        Err(AnswerError::Token(TokenError::HashLength(3)))
    ));
    assert!(matches!(
        check_token(Role::Agent, true, &format!("K10{H}::nouser")),
        Err(AnswerError::Token(TokenError::NoUser))
    ));
    let bootstrap = "abcdef.0123456789abcdef";
    assert!(check_token(Role::Agent, true, bootstrap).unwrap().is_some());
    assert!(matches!(
        check_token(Role::Server, true, bootstrap),
        Err(AnswerError::BootstrapForServer)
    ));
}

#[test]
fn hostnames_are_dns_names_in_lower_case() {
    assert_eq!(check_hostname("").unwrap(), None);
    assert_eq!(
        check_hostname("Node-1.Example.org.").unwrap(),
        Some("node-1.example.org".into())
    );
    for bad in ["-a", "a_b", "a..b", &"x".repeat(64)] {
        assert!(check_hostname(bad).is_err(), "{bad}");
    }
}

#[test]
fn ssh_keys_must_decode_to_their_own_type() {
    let good = key("ssh-ed25519", "ssh-ed25519");
    assert_eq!(check_ssh_key(&format!("  {good}\n")).unwrap(), good);
    assert!(check_ssh_key(&key("ssh-rsa", "ssh-ed25519")).is_err());
    assert!(check_ssh_key("ssh-ed25519 not*base64").is_err());
    assert!(check_ssh_key(&format!("from=\"10.0.0.1\" {good}")).is_err());
    let truncated = &good[..good.len() - 20];
    assert!(check_ssh_key(truncated).is_err());
}

#[test]
fn a_key_file_is_read_line_by_line_and_errors_name_the_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("keys");
    let good = key("ssh-ed25519", "ssh-ed25519");
    std::fs::write(&p, format!("# mine\n{good}\n\n{good}\n")).unwrap();
    assert_eq!(ssh_keys_from_file(&p).unwrap().len(), 2);
    std::fs::write(&p, format!("{good}\nssh-ed25519 AAAA\n")).unwrap();
    let e = ssh_keys_from_file(&p).unwrap_err().to_string();
    assert!(e.contains(&format!("{}:2", p.display())), "{e}");
    assert!(ssh_keys_from_file(&d.path().join("none")).is_err());
}

#[test]
fn the_layer_holds_only_what_was_answered_and_the_summary_never_the_token() {
    let a = Answers {
        role: Role::Server,
        server_url: None,
        token: None,
        hostname: None,
        ssh_keys: vec![],
    };
    assert_eq!(a.layer(), json!({ "node": { "role": "server" } }));
    let token = format!("K10{H}::server:topsecretpw");
    let a = Answers {
        role: Role::Agent,
        server_url: Some("https://s:6443".into()),
        token: Some(Secret::new(token.clone())),
        hostname: Some("n1".into()),
        ssh_keys: vec![key("ssh-ed25519", "ssh-ed25519")],
    };
    let l = a.layer();
    assert_eq!(l["secrets"]["token"], json!(token));
    assert_eq!(l["k3s"]["server_url"], json!("https://s:6443"));
    assert_eq!(l["host"]["hostname"], json!("n1"));
    let shown = format!("{:?}", a.summary());
    assert!(!shown.contains("topsecretpw"), "{shown}");
    assert!(shown.contains("given (not shown)"), "{shown}");
}

/// Made by `ssh-keygen -t ed25519|rsa|ecdsa` (OpenSSH 9), comments replaced.
const OPENSSH_KEYS: [&str; 3] = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBV1q9BcmF3/3Cck10ArZLB4M/msrMENlHdd+yhZ0nkM test@kateskit",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC70xP2BZ265JopvUj9vE9LkStdm17Wq+9TD2J2yF7QlI+t8e1NWpYfZL9LbpugDJkbhqlepy5KlVa7PBjTARKyoxM2KhwE9TXYEul2EjKlXjJ6dcBXSFuHJYWyngOlS333iQvkjXm+oFlLjVK1Prt+vlqKezcwdnvDt5kPgY+JCFYsORcFWSh/UXGsXk2zUm3J52CpnOVVSaF8DTlxzJQkwN8WnZuCcOR9BuVqG7cxaryn2Qq3khU3LgiaRj56qT1E92z+dh33UJ6MGZIveq5Z3WxQ6odU5CreXhsOn6Hum4eaWTPrjObT9s2Md8OPFLV7QLnzgmS73XyJGPXGQ+qldeU3UWVOJfrl/E/PPTLVqOAdtxhr/rWdXaSHD7byjnDBw/0aa5rbGxIZBwjW5zXXaNQgBEQGfBGqC2kItDRvwUJvCc3Xd1xIcbauS1RoKwxqZbuO9rcouSIg6FS8tMnFJGVzaHOFl4crMs5nexfZYZpGIAwE10Rc0Lh/8D1d4mU= test@kateskit",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG4twFURdj71Ta9wKGqWDZO62noXfPTWNP2HIw1LXv1b4/lrp4Q52ID1ewO4N33CHEvGdj8mBVRAHDhLu9dbBwk= test@kateskit",
];

#[test]
fn keys_made_by_ssh_keygen_are_accepted() {
    for k in OPENSSH_KEYS {
        assert_eq!(check_ssh_key(k).unwrap(), k);
        let cut = &k[..k.find(' ').unwrap() + 40];
        assert!(check_ssh_key(cut).is_err(), "{cut}");
    }
}
