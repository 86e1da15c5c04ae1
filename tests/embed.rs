//! Embed area format: round trips and every decoding failure, on in-memory areas.

use kateskit::image::embed::{
    self, EmbedError, Part, GPT_AREA_SIZE, ISO_AREA_SIZE, KARG_REGION_SIZE,
};

const JSON: &str = r#"{"apiVersion":"kateskit.dev/v1","kind":"NodeConfig","padding":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#;

fn kargs() -> Vec<String> {
    vec![
        "ip=10.0.0.5::10.0.0.1:255.255.255.0:box:eth0:none".into(),
        "kateskit.debug=1".into(),
    ]
}

/// Recomputes the header CRC after a deliberate field change, so only the intended check fails.
fn fix_crc(region: &mut [u8]) {
    let crc = crc32fast::hash(&region[0..56]);
    region[56..60].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn round_trip_both_sizes_with_compression_choice() {
    for size in [ISO_AREA_SIZE, GPT_AREA_SIZE] {
        let area = embed::build_area(size, Some(JSON), &kargs()).unwrap();
        assert_eq!(area.len(), size);
        let got = embed::read_area(&area).unwrap().expect("stamped");
        assert_eq!(got.node_config_json.as_deref(), Some(JSON));
        assert_eq!(got.kargs, kargs());
        assert!(
            got.compressed,
            "repetitive JSON should be stored compressed"
        );
        assert!(got.stored_len < JSON.len());
        assert_eq!(&area[0..8], b"KTKEMBD\x01");
        assert_eq!(
            &area[size - KARG_REGION_SIZE..size - KARG_REGION_SIZE + 8],
            b"KTKKARG\x01"
        );
    }
    // Incompressible payloads are stored raw.
    let tiny = embed::build_area(ISO_AREA_SIZE, Some("{}"), &[]).unwrap();
    let got = embed::read_area(&tiny).unwrap().unwrap();
    assert!(!got.compressed);
    assert_eq!(got.stored_len, 2);
    assert_eq!(&tiny[64..66], b"{}");
    assert!(got.kargs.is_empty());
    assert!(
        tiny[ISO_AREA_SIZE - KARG_REGION_SIZE..]
            .iter()
            .all(|&b| b == 0),
        "no kargs means a zero karg part"
    );
}

#[test]
fn pristine_is_none_and_kargs_only_is_allowed() {
    let zeros = vec![0u8; ISO_AREA_SIZE];
    assert_eq!(embed::read_area(&zeros).unwrap(), None);
    assert_eq!(
        embed::read_area_required(&zeros).unwrap_err(),
        EmbedError::Empty
    );
    let area = embed::build_area(ISO_AREA_SIZE, None, &kargs()).unwrap();
    let got = embed::read_area(&area).unwrap().unwrap();
    assert_eq!(got.node_config_json, None);
    assert_eq!(got.kargs, kargs());
}

#[test]
fn every_corruption_is_named() {
    let good = embed::build_area(ISO_AREA_SIZE, Some(JSON), &kargs()).unwrap();
    assert_eq!(
        embed::read_area(&good[..1000]).unwrap_err(),
        EmbedError::Truncated { len: 1000 }
    );

    let mut a = good.clone();
    a[0] = b'X';
    assert!(matches!(
        embed::read_area(&a).unwrap_err(),
        EmbedError::BadMagic {
            part: Part::Config,
            ..
        }
    ));

    let mut a = good.clone();
    a[8] = 9;
    fix_crc(&mut a);
    assert_eq!(
        embed::read_area(&a).unwrap_err(),
        EmbedError::UnsupportedVersion {
            part: Part::Config,
            found: 9
        }
    );

    let mut a = good.clone();
    a[30] ^= 0xff; // inside the stored SHA-256, covered by the header CRC
    assert!(matches!(
        embed::read_area(&a).unwrap_err(),
        EmbedError::BadHeaderChecksum {
            part: Part::Config,
            ..
        }
    ));

    let mut a = good.clone();
    a[70] ^= 0x01; // payload byte
    let e = embed::read_area(&a).unwrap_err();
    assert!(
        matches!(
            e,
            EmbedError::BadChecksum {
                part: Part::Config,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("payload SHA-256 mismatch"));

    let mut a = good.clone();
    a[16..24].copy_from_slice(&(ISO_AREA_SIZE as u64).to_le_bytes());
    fix_crc(&mut a);
    assert!(matches!(
        embed::read_area(&a).unwrap_err(),
        EmbedError::BadLength {
            part: Part::Config,
            ..
        }
    ));

    let k = ISO_AREA_SIZE - KARG_REGION_SIZE;
    let mut a = good.clone();
    a[k + 64] ^= 0x20;
    assert!(matches!(
        embed::read_area(&a).unwrap_err(),
        EmbedError::BadChecksum {
            part: Part::Kargs,
            ..
        }
    ));
    let mut a = good;
    a[k + 3] = 0;
    assert!(matches!(
        embed::read_area(&a).unwrap_err(),
        EmbedError::BadMagic {
            part: Part::Kargs,
            ..
        }
    ));
}

#[test]
fn oversize_inputs_are_refused_with_both_sizes() {
    use rand::RngCore;
    let mut noise = vec![0u8; 300 * 1024];
    rand::thread_rng().fill_bytes(&mut noise);
    let big = format!("\"{}\"", hex::encode(&noise)); // 600 KiB of hex: ~300 KiB after zstd
    let e = embed::build_area(ISO_AREA_SIZE, Some(&big), &[]).unwrap_err();
    let EmbedError::TooLarge { need, room } = e else {
        panic!("{e:?}")
    };
    assert_eq!(room, ISO_AREA_SIZE - KARG_REGION_SIZE - 64);
    assert!(need > room);
    assert!(
        embed::build_area(GPT_AREA_SIZE, Some(&big), &[]).is_ok(),
        "the 1 MiB carrier holds it"
    );

    let long = vec!["kateskit.x=".to_string() + &"y".repeat(5000)];
    assert!(matches!(
        embed::build_area(ISO_AREA_SIZE, None, &long).unwrap_err(),
        EmbedError::KargsTooLarge { need: 5011, .. }
    ));
    let spaced = vec!["a b".to_string()];
    assert_eq!(
        embed::build_area(ISO_AREA_SIZE, None, &spaced).unwrap_err(),
        EmbedError::BadKarg("a b".into())
    );
}

#[test]
fn read_path_reads_area_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("embed.img");
    std::fs::write(
        &p,
        embed::build_area(ISO_AREA_SIZE, Some(JSON), &[]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        embed::read_path(&p)
            .unwrap()
            .unwrap()
            .node_config_json
            .as_deref(),
        Some(JSON)
    );
    std::fs::write(&p, vec![0u8; 1234]).unwrap();
    assert_eq!(
        embed::read_path(&p).unwrap_err(),
        EmbedError::Truncated { len: 1234 }
    );
    let missing = dir.path().join("nope");
    assert!(matches!(
        embed::read_path(&missing).unwrap_err(),
        EmbedError::Io {
            kind: std::io::ErrorKind::NotFound,
            ..
        }
    ));
}
