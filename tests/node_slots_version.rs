//! `kateskit::slots::version::compare` against the real `systemd-analyze compare-versions`
//! (systemd 252 has it): a hand-picked table, then a fixed pseudo-random set of strings built
//! from the characters that matter (digits, leading zeros, letters, `~ ^ - .`).

use std::cmp::Ordering;
use std::process::Command;

use kateskit::slots::compare;

fn systemd(a: &str, b: &str) -> Option<Ordering> {
    let out = Command::new("systemd-analyze")
        .args(["compare-versions", "--", a, b])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let op = text
        .trim()
        .strip_prefix(a)
        .and_then(|r| r.strip_suffix(b))
        .map(str::trim);
    Some(match op {
        Some("<") => Ordering::Less,
        Some("==") => Ordering::Equal,
        Some(">") => Ordering::Greater,
        _ => panic!("systemd-analyze compare-versions {a:?} {b:?} printed {text:?}"),
    })
}

fn available() -> bool {
    let ok = Command::new("systemd-analyze")
        .args(["compare-versions", "1", "2"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains('<'))
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: systemd-analyze compare-versions (systemd >= 252) is not installed");
    }
    ok
}

const TABLE: &[(&str, &str)] = &[
    ("1", "2"),
    ("1.2", "1.10"),
    ("1.02", "1.2"),
    ("001", "1"),
    ("1.0", "1"),
    ("1~rc1", "1"),
    ("1~rc1", "1~rc2"),
    ("1~", "1"),
    ("1^p1", "1"),
    ("1^p1", "1.1"),
    ("1-2", "1.1"),
    ("1-2", "1^1"),
    ("1a", "1"),
    ("1a", "1b"),
    ("1ab", "1b"),
    ("a", "1"),
    ("abc", "abd"),
    ("2026.12.01", "2026.12.1"),
    ("2026.12.01-rc1", "2026.12.01"),
    ("v1", "1"),
    ("1.2.3", "1.2.3.0"),
    ("10", "9"),
    ("1-rc1", "1~rc1"),
    ("1.a", "1.1"),
    ("A", "a"),
    ("1..2", "1.2"),
    ("0", "00"),
    ("123456789012345678901", "123456789012345678902"),
];

#[test]
fn compare_agrees_with_systemd_analyze() {
    if !available() {
        return;
    }
    let mut pairs: Vec<(String, String)> = TABLE
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    // A fixed linear congruential sequence: the same strings on every machine.
    let atoms = [
        "0", "1", "9", "00", "10", "a", "b", "Z", "~", "^", "-", ".", "rc",
    ];
    let mut x: u64 = 0x5eed;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    let mk = |next: &mut dyn FnMut() -> usize| {
        let n = 1 + next() % 5;
        let mut s = String::from("1");
        for _ in 0..n {
            s.push_str(atoms[next() % atoms.len()]);
        }
        s
    };
    for _ in 0..250 {
        let a = mk(&mut next);
        let b = if next() % 3 == 0 {
            format!("{a}{}", mk(&mut next))
        } else {
            mk(&mut next)
        };
        pairs.push((a, b));
    }
    let mut wrong = Vec::new();
    for (a, b) in &pairs {
        let want = systemd(a, b).expect("systemd-analyze ran above");
        let got = compare(a, b);
        if got != want {
            wrong.push(format!(
                "{a:?} vs {b:?}: systemd {want:?}, kateskit {got:?}"
            ));
        }
        assert_eq!(
            compare(b, a),
            got.reverse(),
            "{a:?} vs {b:?} is not antisymmetric"
        );
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        pairs.len(),
        wrong.join("\n")
    );
}
