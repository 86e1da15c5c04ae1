//! The upgrade units of modules/units (kateskit-health, kateskit-commit, kateskit-upgrade) as
//! systemd 252 reads them: `systemd-analyze verify` loads each with its dependencies (no
//! unknown keys, executables present, no ordering cycle with boot-complete.target), the keys
//! that make the gate a gate are there, and every ExecStart is a command line the CLI accepts.

use std::path::Path;
use std::process::Command;

const UNITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/modules/units");
const GATED: [&str; 3] = [
    "kateskit-health.service",
    "kateskit-commit.service",
    "kateskit-upgrade.service",
];

fn unit(name: &str) -> String {
    std::fs::read_to_string(Path::new(UNITS).join(name)).unwrap()
}

/// Every value of `key=` in a unit, split on spaces.
fn values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .flat_map(|v| v.split_whitespace().map(str::to_string))
        .collect()
}

fn exec_args(text: &str) -> Vec<String> {
    let line = values(text, "ExecStart");
    assert_eq!(line[0], "@kateskit@", "{line:?}");
    line[1..].to_vec()
}

#[test]
fn systemd_verifies_the_units_and_their_ordering() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("kateskit");
    for u in GATED {
        let text = unit(u)
            .replace("@kateskit@", bin.to_str().unwrap())
            .replace("@path@", "/usr/sbin:/usr/bin:/sbin:/bin");
        std::fs::write(dir.path().join(u), text).unwrap();
    }
    // A STAND-IN k3s.service (not k3s), so the ordering names a real unit.
    std::fs::write(
        dir.path().join("k3s.service"),
        "[Unit]\nDescription=k3s stand-in\n[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(["verify", "--man=no"])
        .args(GATED.map(|u| dir.path().join(u)))
        // The trailing colon keeps the system's unit path (boot-complete.target, ...).
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.path().display()));
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "systemd-analyze is missing in CI"
            );
            eprintln!("SKIP: systemd-analyze not installed (Debian package systemd)");
            return;
        }
        Err(e) => panic!("systemd-analyze: {e}"),
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("kateskit")).collect();
    assert!(out.status.success() && ours.is_empty(), "{said}");
}

#[test]
fn the_gate_blocks_boot_complete_and_reboots_on_failure() {
    let h = unit("kateskit-health.service");
    assert_eq!(values(&h, "Type"), ["oneshot"]);
    assert_eq!(values(&h, "RemainAfterExit"), ["yes"]);
    assert_eq!(values(&h, "Before"), ["boot-complete.target"]);
    // RequiredBy, not WantedBy: a failed gate must keep the target (and so blessing) away.
    assert_eq!(values(&h, "RequiredBy"), ["boot-complete.target"]);
    assert!(values(&h, "WantedBy").is_empty());
    assert_eq!(values(&h, "FailureAction"), ["reboot"]);
    for after in [
        "k3s.service",
        "network-online.target",
        "kateskit-agent.service",
    ] {
        assert!(values(&h, "After").contains(&after.to_string()), "{after}");
    }
    assert!(values(&h, "ConditionPathExists")[0]
        .ends_with("/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"));
    let args = exec_args(&h);
    assert_eq!(args[..2], ["agent", "health"]);
    let gate = &args[args.iter().position(|a| a == "--timeout").unwrap() + 1];
    let gate = kateskit::agent::health::duration::parse(gate).unwrap();
    let unit_limit = values(&h, "TimeoutStartSec")[0].replace("min", "m");
    let unit_limit = kateskit::agent::health::duration::parse(&unit_limit).unwrap();
    assert!(
        unit_limit > gate,
        "systemd would stop the gate before it reports"
    );

    let c = unit("kateskit-commit.service");
    assert_eq!(values(&c, "Requires"), ["boot-complete.target"]);
    assert!(values(&c, "After").contains(&"boot-complete.target".to_string()));
    assert_eq!(exec_args(&c), ["node", "commit"]);

    let w = unit("kateskit-upgrade.service");
    assert_eq!(values(&w, "Restart"), ["always"]);
    assert_eq!(exec_args(&w), ["node", "watch"]);
}

#[test]
fn every_exec_start_is_a_command_line_the_cli_accepts() {
    for u in GATED {
        let mut args = exec_args(&unit(u));
        args.push("--help".into());
        let out = Command::new(assert_cmd::cargo::cargo_bin("kateskit"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{u}: kateskit {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
