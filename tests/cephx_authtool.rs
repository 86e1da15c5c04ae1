//! The cephx keys `cluster init` writes, checked with Ceph's own `ceph-authtool` (Debian
//! `ceph-common`): it accepts each key into a keyring and prints it back unchanged, and a key
//! it generates passes kateskit's validation.

use std::process::Command;

fn authtool() -> Option<&'static str> {
    match Command::new("ceph-authtool").arg("--help").output() {
        Ok(_) => Some("ceph-authtool"),
        Err(e) => {
            eprintln!("SKIP: ceph-authtool not runnable ({e}); install Debian's ceph-common");
            None
        }
    }
}

#[test]
fn ceph_authtool_accepts_the_generated_keys() {
    let Some(tool) = authtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = kateskit::pki::init(dir.path()).unwrap();
    for (name, key) in [
        ("mon.", &s.ceph.mon_secret),
        ("client.admin", &s.ceph.admin_secret),
    ] {
        let ring = dir.path().join(format!("{name}keyring"));
        let out = Command::new(tool)
            .arg("--create-keyring")
            .arg(&ring)
            .args(["--name", name, "--add-key", key.expose()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(tool).arg("-l").arg(&ring).output().unwrap();
        assert!(out.status.success());
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(
            listed.contains(&format!("[{name}]"))
                && listed.contains(&format!("key = {}", key.expose())),
            "{listed}"
        );
    }
    // A malformed key is refused by ceph-authtool as by kateskit.
    let bad = "AQAAAA==";
    assert!(kateskit::pki::cephx::validate(bad).is_err());
    let out = Command::new(tool)
        .arg("--create-keyring")
        .arg(dir.path().join("bad"))
        .args(["--name", "client.admin", "--add-key", bad])
        .output()
        .unwrap();
    assert!(!out.status.success(), "ceph-authtool took {bad}");
}

#[test]
fn keys_ceph_authtool_generates_pass_validation() {
    let Some(tool) = authtool() else { return };
    for _ in 0..3 {
        let out = Command::new(tool).arg("--gen-print-key").output().unwrap();
        assert!(out.status.success());
        let key = String::from_utf8(out.stdout).unwrap();
        assert_eq!(kateskit::pki::cephx::validate(&key), Ok(()), "{key}");
        assert_eq!(key.trim().len(), 40);
    }
}
