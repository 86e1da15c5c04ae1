//! The TFTP server against real clients (curl's tftp://, atftp) and hand-made packets on
//! 127.0.0.1: Debian's ipxe.efi byte-identical with blksize and windowsize, traversal and
//! garbage refused, stalled clients and caps bounded.

mod netboot_support;

use std::path::Path;
use std::time::{Duration, Instant};

use kateskit::netboot::tftp::{TftpConfig, TftpEventKind};
use netboot_support::{have, opcode, recv, rrq, start, IPXE_EFI};
use tokio::net::UdpSocket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipxe_efi_is_fetched_byte_identical_with_blksize_and_windowsize() {
    if !Path::new(IPXE_EFI).exists() {
        eprintln!("skipping: {IPXE_EFI} is missing (Debian package ipxe)");
        return;
    }
    if !have("curl") || !have("atftp") {
        return;
    }
    let mut s = start(TftpConfig::default()).await;
    let want = std::fs::read(IPXE_EFI).unwrap();
    let out = s.dir.path().join("got");
    // curl asks for blksize (and tsize); the server grants at most 1468.
    let url = format!("tftp://{}/ipxe.efi", s.addr);
    let st = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "--tftp-blksize", "8192", "-o"])
        .arg(&out)
        .arg(&url)
        .status()
        .await
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::read(&out).unwrap(), want, "curl's copy differs");
    let e = s.event().await;
    assert_eq!(
        e.kind,
        TftpEventKind::Started {
            blksize: 1468,
            windowsize: 1
        }
    );
    assert_eq!(e.file, "ipxe.efi");
    assert_eq!(
        s.outcome().await.kind,
        TftpEventKind::Done {
            bytes: want.len() as u64
        }
    );
    // atftp with a window of 8 blocks (RFC 7440), and with no options at all (512, lock-step).
    for opts in [vec!["blksize 1468", "windowsize 8"], vec![]] {
        let _ = std::fs::remove_file(&out);
        let mut cmd = tokio::process::Command::new("timeout");
        cmd.args(["30", "atftp"]);
        for o in &opts {
            cmd.args(["--option", o]);
        }
        let st = cmd
            .args(["-g", "-r", "ipxe.efi", "-l"])
            .arg(&out)
            .args(["127.0.0.1", &s.addr.port().to_string()])
            .output()
            .await
            .unwrap();
        assert!(st.status.success(), "atftp {opts:?}: {st:?}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            want,
            "atftp {opts:?} copy differs"
        );
        let started = s.event().await.kind;
        let expect = if opts.is_empty() { (512, 1) } else { (1468, 8) };
        assert_eq!(
            started,
            TftpEventKind::Started {
                blksize: expect.0,
                windowsize: expect.1
            }
        );
        assert!(matches!(s.outcome().await.kind, TftpEventKind::Done { .. }));
    }
}

#[tokio::test]
async fn options_are_clamped_and_acknowledged_on_a_new_port() {
    let mut s = start(TftpConfig::default()).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let req = rrq(
        "/small",
        "OCTET",
        &[
            ("blksize", "65464"),
            ("tsize", "0"),
            ("windowsize", "999"),
            ("timeout", "3"),
        ],
    );
    c.send_to(&req, s.addr).await.unwrap();
    let (p, tid) = recv(&c, Duration::from_secs(5)).await.expect("OACK");
    assert_ne!(tid, s.addr, "a transfer runs on its own port");
    assert_eq!(opcode(&p), 6);
    let text = String::from_utf8_lossy(&p[2..]).replace('\0', " ");
    assert_eq!(text.trim(), "blksize 1468 timeout 3 tsize 10 windowsize 16");
    c.send_to(&[0, 4, 0, 0], tid).await.unwrap();
    let (p, _) = recv(&c, Duration::from_secs(5)).await.expect("DATA 1");
    assert_eq!(&p[..4], &[0, 3, 0, 1]);
    assert_eq!(&p[4..], b"hello tftp");
    // A packet from another port is not part of the transfer.
    let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    other.send_to(&[0, 4, 0, 1], tid).await.unwrap();
    c.send_to(&[0, 4, 0, 1], tid).await.unwrap();
    assert_eq!(
        s.event().await.kind,
        TftpEventKind::Started {
            blksize: 1468,
            windowsize: 16
        }
    );
    assert_eq!(s.outcome().await.kind, TftpEventKind::Done { bytes: 10 });
    assert!(recv(&other, Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn traversal_and_garbage_are_refused_and_nothing_outside_is_sent() {
    let mut s = start(TftpConfig::default()).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (rrq("../secret", "octet", &[]), 2),
        (rrq("/../secret", "octet", &[]), 2),
        (rrq("sub/../../secret", "octet", &[]), 2),
        (rrq("..\\secret", "octet", &[]), 2),
        (rrq("out", "octet", &[]), 2),
        (rrq("sub", "octet", &[]), 2),
        (
            rrq(
                &format!("{}", s.dir.path().join("secret").display()),
                "octet",
                &[],
            ),
            1,
        ),
        (rrq("nope", "octet", &[]), 1),
        (rrq("small", "netascii", &[]), 4),
        (vec![0, 2, b'x', 0, b'o', b'c', b't', b'e', b't', 0], 2),
        (vec![0, 1, b'x'], 4),
        (vec![0, 9, 1, 2, 3], 4),
        (vec![7], 4),
    ];
    for (pkt, code) in cases {
        c.send_to(&pkt, s.addr).await.unwrap();
        let (p, _) = recv(&c, Duration::from_secs(5))
            .await
            .expect("an error packet");
        assert_eq!(opcode(&p), 5, "{pkt:?} got {p:?}");
        assert_eq!(
            u16::from_be_bytes([p[2], p[3]]),
            code,
            "{pkt:?}: {}",
            String::from_utf8_lossy(&p)
        );
        assert!(!String::from_utf8_lossy(&p).contains("outside the root"));
        assert!(matches!(
            s.outcome().await.kind,
            TftpEventKind::Refused { .. }
        ));
    }
    assert!(
        recv(&c, Duration::from_millis(200)).await.is_none(),
        "one answer each"
    );
}

#[tokio::test]
async fn a_stalled_client_is_bounded_and_duplicate_acks_do_not_resend() {
    let cfg = TftpConfig {
        timeout: Duration::from_millis(200),
        max_retries: 2,
        ..TftpConfig::default()
    };
    let mut s = start(cfg).await;
    std::fs::write(s.root().join("big"), vec![7u8; 5000]).unwrap();
    // A client that takes block 1 and then never acknowledges.
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let t0 = Instant::now();
    c.send_to(&rrq("big", "octet", &[]), s.addr).await.unwrap();
    let mut data1 = 0;
    while let Some((p, _)) = recv(&c, Duration::from_secs(2)).await {
        if opcode(&p) == 3 {
            assert_eq!(&p[2..4], &[0, 1]);
            data1 += 1;
        } else {
            assert_eq!(opcode(&p), 5, "an error ends the transfer");
            break;
        }
    }
    assert_eq!(data1, 3, "the first send and two retransmissions");
    let e = s.outcome().await;
    assert!(
        matches!(e.kind, TftpEventKind::Failed { bytes: 0, .. }),
        "{e:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(3));

    // Lock-step with a duplicated ACK: block 2 goes out once, not once per ACK.
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(&rrq("big", "octet", &[]), s.addr).await.unwrap();
    let (_, tid) = recv(&c, Duration::from_secs(2)).await.unwrap();
    c.send_to(&[0, 4, 0, 1], tid).await.unwrap();
    c.send_to(&[0, 4, 0, 1], tid).await.unwrap();
    let mut block2 = 0;
    while let Some((p, _)) = recv(&c, Duration::from_millis(150)).await {
        if p[..4] == [0, 3, 0, 2] {
            block2 += 1;
        }
    }
    assert_eq!(block2, 1);
    drop(c);
}

#[tokio::test]
async fn requests_over_the_caps_are_dropped_until_a_slot_frees() {
    let cfg = TftpConfig {
        timeout: Duration::from_millis(300),
        max_retries: 1,
        max_per_client: 1,
        ..TftpConfig::default()
    };
    let mut s = start(cfg).await;
    let holder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    holder
        .send_to(&rrq("small", "octet", &[]), s.addr)
        .await
        .unwrap();
    assert!(recv(&holder, Duration::from_secs(2)).await.is_some());
    // The same client retransmitting its request is not a second transfer.
    holder
        .send_to(&rrq("small", "octet", &[]), s.addr)
        .await
        .unwrap();
    let late = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    late.send_to(&rrq("small", "octet", &[]), s.addr)
        .await
        .unwrap();
    assert!(
        recv(&late, Duration::from_millis(150)).await.is_none(),
        "over the per-client cap"
    );
    let mut kinds = [s.event().await.kind, s.event().await.kind];
    kinds.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(kinds[0], TftpEventKind::Busy);
    // The holder stalls; once its transfer fails the next request is served.
    assert!(matches!(
        s.outcome().await.kind,
        TftpEventKind::Failed { .. }
    ));
    late.send_to(&rrq("small", "octet", &[]), s.addr)
        .await
        .unwrap();
    let (p, _) = recv(&late, Duration::from_secs(2))
        .await
        .expect("served after the slot freed");
    assert_eq!(&p[..4], &[0, 3, 0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_numbers_wrap_past_65535_and_per_block_acks_stay_in_step() {
    let mut s = start(TftpConfig::default()).await;
    // 70000 blocks of 8 bytes: block numbers wrap to 0 after 65535.
    let want: Vec<u8> = (0..560_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(s.root().join("wrap"), &want).unwrap();
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let req = rrq("wrap", "octet", &[("blksize", "8"), ("windowsize", "16")]);
    c.send_to(&req, s.addr).await.unwrap();
    let (p, tid) = recv(&c, Duration::from_secs(5)).await.expect("OACK");
    assert_eq!(opcode(&p), 6);
    c.send_to(&[0, 4, 0, 0], tid).await.unwrap();
    let mut got = Vec::new();
    let mut next = 1u64;
    let mut dups = 0;
    let t0 = Instant::now();
    loop {
        let (p, _) = recv(&c, Duration::from_secs(5)).await.expect("DATA");
        assert_eq!(opcode(&p), 3);
        let n = u16::from_be_bytes([p[2], p[3]]);
        if n != next as u16 {
            dups += 1;
            continue;
        }
        got.extend_from_slice(&p[4..]);
        // Acknowledging every block: each lets exactly one new block out.
        c.send_to(&[0, 4, p[2], p[3]], tid).await.unwrap();
        next += 1;
        if p.len() < 4 + 8 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "transfer too slow");
    }
    assert_eq!(next - 1, 70001, "70000 full blocks and an empty last one");
    assert_eq!(got, want);
    assert_eq!(dups, 0, "no block was sent twice");
    assert!(matches!(
        s.outcome().await.kind,
        TftpEventKind::Done { bytes: 560_000 }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_packets_never_stop_the_server() {
    use rand::{Rng, SeedableRng};
    let cfg = TftpConfig {
        max_per_client: 64,
        ..TftpConfig::default()
    };
    let s = start(cfg).await;
    let noise = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    for i in 0..3000 {
        let len = rng.gen_range(0..600);
        let mut p: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if len >= 2 && i % 2 == 0 {
            // Mostly real opcodes, with NULs, so the request parser is exercised past the header.
            p[0] = 0;
            p[1] = rng.gen_range(1..=6);
            for b in p.iter_mut().skip(2) {
                if rng.gen_ratio(1, 8) {
                    *b = 0;
                }
            }
        }
        noise.send_to(&p, s.addr).await.unwrap();
    }
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(&rrq("small", "octet", &[]), s.addr)
        .await
        .unwrap();
    let t0 = Instant::now();
    loop {
        let (p, _) = recv(&c, Duration::from_secs(5))
            .await
            .expect("the server still answers");
        if p[..4] == [0, 3, 0, 1] {
            assert_eq!(&p[4..], b"hello tftp");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10));
    }
}
