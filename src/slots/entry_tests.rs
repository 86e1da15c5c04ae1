//! Entry names, boot order and listing.

use super::*;

fn p(s: &str) -> EntryName {
    EntryName::parse(s).unwrap()
}

#[test]
fn parse_and_format_round_trip() {
    for s in [
        "kateskit_1.efi",
        "kateskit_2+3-0.efi",
        "kateskit_2+0.efi",
        "kateskit_1.2~rc1+1-2.conf",
    ] {
        assert_eq!(p(s).file_name(), s);
    }
    assert_eq!(p("kateskit_2+3-0.efi").state(), State::Trying);
    assert_eq!(p("kateskit_2+0-3.efi").state(), State::Bad);
    assert_eq!(p("kateskit_2.efi").state(), State::Good);
    assert_eq!(p("kateskit_2").kind, Kind::Uki);
    assert_eq!(
        p("kateskit_2.conf").rel_path(),
        Path::new("loader/entries/kateskit_2.conf")
    );
}

#[test]
fn bad_names_are_refused() {
    for s in [
        "nixos_1.efi",
        "kateskit_.efi",
        "kateskit_1+.efi",
        "kateskit_1+a-0.efi",
        "kateskit_1+1-.efi",
        "kateskit_1+1-2-3.efi",
        "kateskit_1_2.efi",
    ] {
        assert!(EntryName::parse(s).is_err(), "{s}");
    }
}

#[test]
fn boot_order_puts_bad_last_and_newest_first() {
    let mut v = [
        p("kateskit_3+0-3.efi"),
        p("kateskit_1.efi"),
        p("kateskit_2+2-1.efi"),
        p("kateskit_10.efi"),
    ];
    v.sort_by(boot_cmp);
    let names: Vec<String> = v.iter().map(|e| e.file_name()).collect();
    assert_eq!(
        names,
        [
            "kateskit_10.efi",
            "kateskit_2+2-1.efi",
            "kateskit_1.efi",
            "kateskit_3+0-3.efi"
        ]
    );
}

#[test]
fn lists_ukis_and_type1_entries_and_names_a_bad_one() {
    let esp = tempfile::tempdir().unwrap();
    let uki = esp.path().join(UKI_DIR);
    let conf = esp.path().join(CONF_DIR);
    std::fs::create_dir_all(&uki).unwrap();
    std::fs::create_dir_all(&conf).unwrap();
    for f in [
        "kateskit_1.efi",
        "kateskit_2+0-3.efi",
        "other.efi",
        ".kateskit-stage1.tmp",
    ] {
        std::fs::write(uki.join(f), b"").unwrap();
    }
    std::fs::write(conf.join("kateskit_3+1-0.conf"), b"").unwrap();
    std::fs::write(conf.join("nixos-1.conf"), b"").unwrap();
    let names: Vec<String> = list(esp.path())
        .unwrap()
        .iter()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names,
        [
            "kateskit_3+1-0.conf",
            "kateskit_1.efi",
            "kateskit_2+0-3.efi"
        ]
    );
    std::fs::write(uki.join("kateskit_4+x.efi"), b"").unwrap();
    let e = list(esp.path()).unwrap_err().to_string();
    assert!(
        e.contains("kateskit_4+x.efi") && e.contains("EFI/Linux"),
        "{e}"
    );
}
