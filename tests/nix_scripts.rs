//! Nix evaluation tier plus real shell: the shell scripts the modules generate are taken from
//! the module files by evaluating them with minimal stand-ins for `lib`, `pkgs` and `config`
//! (tests/nixtool/modlib.nix's strict `lib`, whose `resolve` merges definitions as the module
//! system does; `writeShellScript` returning its text, `runCommand` returning its script), then run with bash against stand-in `k3s` and `kateskit` programs that print
//! their arguments. What runs is the modules' own script text.

mod nixtool;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const STUBS: &str = r#"let
  lib = import ./tests/nixtool/modlib.nix // { getExe = p: p; };
  pkgs = { writeShellScript = n: t: t; runCommand = n: env: script: script; cpio = null; shadow = "@SHADOW@"; systemd = "/systemd"; };
  config = {
    services = { k3s.package = "@K3S@"; timesyncd.enable = true; };
    kateskit = { enable = true; package = "@KATESKIT@"; install = { image = null; rebootAfter = true; };
      k3s = { package = "@K3S@"; openFirewall = true; }; };
  };
in"#;

fn script(state: &Path, body: &str) -> Option<String> {
    let v = nixtool::eval_json(state, &format!("{STUBS} {body}"))?;
    Some(v.as_str().expect("a script string").to_string())
}

/// A program that prints its name and arguments.
fn echo_prog(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, "#!/bin/sh\necho \"$(basename \"$0\") $*\"\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(script: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn k3s_wrapper_runs_the_role_the_agent_chose_and_refuses_others() {
    let state = tempfile::tempdir().unwrap();
    let expr = "(lib.resolve [ (import ./modules/k3s.nix { inherit lib pkgs config; }).config ]).systemd.services.k3s.serviceConfig.ExecStart";
    let Some(text) = script(state.path(), expr) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    echo_prog(&dir.path().join("bin/k3s"));
    let text = text.replace("@K3S@", dir.path().to_str().unwrap());
    for role in ["server", "agent"] {
        let (ok, out, _) = run(&text, &[("K3S_ROLE", role)]);
        assert!(ok);
        assert_eq!(out.trim(), format!("k3s {role}"));
    }
    for bad in [Some("controller"), Some(""), None] {
        let env: Vec<(&str, &str)> = bad.map(|b| vec![("K3S_ROLE", b)]).unwrap_or_default();
        let (ok, out, err) = run(&text, &env);
        assert!(!ok && out.is_empty(), "role {bad:?} started k3s");
        assert!(
            err.contains("/etc/kateskit/k3s.env is not server or agent")
                && err.contains("journalctl -u kateskit-agent"),
            "{err}"
        );
    }
}

#[test]
fn auto_install_takes_the_device_from_the_kernel_command_line() {
    let state = tempfile::tempdir().unwrap();
    let expr = "(lib.resolve [ (import ./installer/default.nix { inherit lib pkgs config; }).config ]).systemd.services.kateskit-install.serviceConfig.ExecStart";
    let Some(text) = script(state.path(), expr) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("kateskit");
    echo_prog(&exe);
    let text = text.replace("@KATESKIT@", exe.to_str().unwrap());
    let cmdline = dir.path().join("cmdline");
    std::fs::write(
        &cmdline,
        "console=ttyS0 kateskit.install.device=/dev/disk/by-id/ata-X quiet\n",
    )
    .unwrap();
    let (ok, out, err) = run(&text, &[("KATESKIT_CMDLINE", cmdline.to_str().unwrap())]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "kateskit install --unattended --device /dev/disk/by-id/ata-X"
    );
    // The serial consent to overwrite data travels from the command line as --wipe-data.
    std::fs::write(
        &cmdline,
        "kateskit.install.wipe=S3EV123 kateskit.install.device=/dev/disk/by-id/ata-X\n",
    )
    .unwrap();
    let (ok, out, err) = run(&text, &[("KATESKIT_CMDLINE", cmdline.to_str().unwrap())]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "kateskit install --unattended --device /dev/disk/by-id/ata-X --wipe-data S3EV123"
    );
    // `auto`: the node's install_disk chooses, with or without the consent.
    for (line, want) in [
        (
            "kateskit.install.device=auto",
            "kateskit install --unattended",
        ),
        (
            "kateskit.install.device=auto kateskit.install.wipe=S3EV123",
            "kateskit install --unattended --wipe-data S3EV123",
        ),
    ] {
        std::fs::write(&cmdline, format!("{line}\n")).unwrap();
        let (ok, out, err) = run(&text, &[("KATESKIT_CMDLINE", cmdline.to_str().unwrap())]);
        assert!(ok, "{err}");
        assert_eq!(out.trim(), want);
    }
    std::fs::write(&cmdline, "console=ttyS0 kateskit.install.device=\n").unwrap();
    let (ok, out, err) = run(&text, &[("KATESKIT_CMDLINE", cmdline.to_str().unwrap())]);
    assert!(!ok && out.is_empty());
    assert!(
        err.contains("boot with kateskit.install.device=/dev/disk/by-id/<disk>"),
        "{err}"
    );
}

#[test]
fn netboot_embed_slot_is_a_newc_cpio_with_a_zeroed_area() {
    if Command::new("cpio").arg("--version").output().is_err() {
        eprintln!("skipping: cpio not found (Debian package cpio)");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let expr = "(import ./images/embed-blank.nix { inherit (pkgs) runCommand cpio; }).cpio";
    let Some(text) = script(state.path(), expr) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("embed.cpio");
    let r = Command::new("bash")
        .arg("-euc")
        .arg(&text)
        .current_dir(dir.path())
        .env("out", &out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"070701"), "not a newc archive");
    let list = Command::new("cpio")
        .args(["-it", "--quiet"])
        .stdin(std::fs::File::open(&out).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["kateskit", "kateskit/embed.img"]
    );
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let r = Command::new("cpio")
        .args(["-id", "--quiet"])
        .current_dir(&x)
        .stdin(std::fs::File::open(&out).unwrap())
        .output()
        .unwrap();
    assert!(r.status.success());
    let area = std::fs::read(x.join("kateskit/embed.img")).unwrap();
    assert_eq!(area.len(), 262144);
    assert!(area.iter().all(|&b| b == 0));
}

/// The live console logs root in (`login -f root`) only when the marker the agent's
/// console-autologin decision writes exists; without it (stamped image, or not decided) root's
/// password is asked for. The decision runs before every getty.
#[test]
fn console_autologin_needs_the_unstamped_marker() {
    let state = tempfile::tempdir().unwrap();
    let m =
        "(lib.resolve [ (import ./installer/default.nix { inherit lib pkgs config; }).config ])";
    let Some(text) = script(state.path(), &format!("{m}.services.getty.loginProgram")) else {
        return;
    };
    let unit = nixtool::eval_json(
        state.path(),
        &format!("{STUBS} {{ u = {m}.systemd.services.kateskit-console-autologin; user = {m}.services.getty.autologinUser; }}"),
    )
    .unwrap();
    assert_eq!(unit["user"], "root");
    let u = &unit["u"];
    assert_eq!(u["before"], serde_json::json!(["getty-pre.target"]));
    assert_eq!(u["wants"], serde_json::json!(["getty-pre.target"]));
    assert_eq!(
        u["serviceConfig"]["ExecStart"],
        "@KATESKIT@ agent console-autologin"
    );
    let dir = tempfile::tempdir().unwrap();
    echo_prog(&dir.path().join("shadow/bin/login"));
    let marker = dir.path().join("console-autologin");
    assert!(text.contains("/run/kateskit/console-autologin"));
    let text = text
        .replace("/run/kateskit/console-autologin", marker.to_str().unwrap())
        .replace("@SHADOW@", dir.path().join("shadow").to_str().unwrap());
    let login = |args: &str| run(&format!("set -- {args}\n{text}"), &[]);
    // Not decided / stamped: no marker, so `-f root` becomes a password login.
    let (ok, out, err) = login("-f root");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "login -- root");
    assert!(err.contains("console autologin is off"), "{err}");
    // A prompt login passes through unchanged.
    assert_eq!(login("-- alice").1.trim(), "login -- alice");
    std::fs::write(&marker, "no stamped embed area\n").unwrap();
    let (ok, out, _) = login("-f root");
    assert!(ok);
    assert_eq!(out.trim(), "login -f root");
}
