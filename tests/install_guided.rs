//! The guided `kateskit install`, driven through a real terminal: tmux runs the command in a
//! pane, the test types with `send-keys` and reads the screen with `capture-pane`. Two loop
//! devices stand in for the machine's disks (one with an ext4 filesystem, one blank); serials
//! and by-id links come from a stand-in udev database and /dev (KATESKIT_UDEV_DATA_DIR,
//! KATESKIT_DEV_DIR). Every wait on the pane has a deadline.

mod common;
mod image_common;
#[path = "install_guided/machine.rs"]
mod machine;
mod tmux_common;

use common::{lock, loop_devices_available};
use image_common::{fixture_copy, kateskit, node_config_without_install_disk};
use machine::{ssh_key, Machine};
use tmux_common::{tmux_available, Pane};

const TOKEN_PASSWORD: &str = "guidedsecretpw7";
const HASH: &str = "a3f1c0b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";

fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{screen}"))
}

#[test]
fn a_guided_session_refuses_the_data_disk_and_installs_the_answers_to_the_blank_one() {
    if !loop_devices_available() || !tmux_available() {
        return;
    }
    let _l = lock();
    let m = Machine::new();
    let (data_before, _) = m.digests();
    let pane = Pane::start(&m.script(""));
    let disk_q = "Install to which disk?";
    let list = pane.wait_for(disk_q, 30);
    let data_id = Machine::by_id(&m.data);
    let blank_id = Machine::by_id(&m.blank);
    let data_line = line_with(&list, &data_id);
    assert!(
        data_line.contains("[no]") && data_line.contains("ext4 filesystem"),
        "{data_line}"
    );
    assert!(
        data_line.contains(&Machine::serial_of(&m.data)),
        "{data_line}"
    );
    let blank_line = line_with(&list, &blank_id);
    assert!(
        !blank_line.contains("[no]") && blank_line.contains("blank"),
        "{blank_line}"
    );
    pane.answer(disk_q, 0, &data_id);
    let s = pane.wait_for(&format!("refused {data_id}"), 20);
    let refusal = line_with(&s, &format!("refused {data_id}"));
    assert!(
        refusal.contains("holds ext4") && refusal.contains("--wipe-data"),
        "{refusal}"
    );
    pane.answer(disk_q, 1, &blank_id);
    pane.answer("Role of this node", 0, "agent");
    pane.answer("Server URL to join", 0, "http://192.0.2.10:6443");
    pane.wait_for("must start with https://", 20);
    pane.answer("Server URL to join", 1, "https://192.0.2.10:6443");
    pane.answer("Cluster token (hidden)", 0, "K10abc::node:x");
    pane.wait_for("invalid token CA hash length", 20);
    let token = format!("K10{HASH}::node:{TOKEN_PASSWORD}");
    let s = pane.wait_for("invalid token CA hash length", 20);
    assert_eq!(s.matches("Cluster token (hidden)").count(), 2, "{s}");
    pane.keys(&["-l", &format!("{token}Zq")]);
    pane.keys(&["BSpace", "BSpace", "Enter"]);
    pane.answer("Hostname", 0, "Worker-1");
    let key = ssh_key();
    pane.answer("SSH public key", 0, &key);
    pane.wait_for("added 1 key(s)", 20);
    pane.answer("SSH public key", 1, "");
    let confirm_q = "Type the disk's name";
    let summary = pane.wait_for(confirm_q, 30);
    for want in [
        "agent",
        "https://192.0.2.10:6443",
        "given (not shown)",
        "worker-1",
        "ops@laptop",
    ] {
        assert!(summary.contains(want), "summary lacks {want:?}:\n{summary}");
    }
    assert!(
        line_with(&summary, "  disk ").contains(&blank_id),
        "{summary}"
    );
    pane.answer(confirm_q, 0, &m.blank.name());
    let end = pane.wait_for("EXIT:", 60);
    assert!(end.contains("EXIT:0"), "install failed:\n{end}");
    assert!(end.contains("installed;"), "{end}");
    assert!(
        !end.contains(TOKEN_PASSWORD),
        "the token was shown on the terminal:\n{end}"
    );
    assert_eq!(
        m.data.digest(),
        data_before,
        "the refused data disk changed"
    );

    // inspect reads image files: the loop device's backing file holds what was written.
    let a = kateskit()
        .args(["image", "inspect"])
        .arg(&m.blank.backing)
        .assert()
        .success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("partial config layer (agent)"), "{out}");
    assert!(!out.contains(TOKEN_PASSWORD), "{out}");
    // The stamped area on the installed disk holds the answers, as the agent will read them.
    assert_eq!(
        m.stamped_layer(&m.blank),
        serde_json::json!({
            "node": { "role": "agent" },
            "host": { "hostname": "worker-1", "ssh_authorized_keys": [key] },
            "k3s": { "server_url": "https://192.0.2.10:6443" },
            "secrets": { "token": token },
        })
    );
}

#[test]
fn wipe_data_lets_the_session_take_that_disk_and_a_first_server_needs_no_server_or_token() {
    if !loop_devices_available() || !tmux_available() {
        return;
    }
    let _l = lock();
    let m = Machine::new();
    let blank_before = m.blank.digest();
    let serial = Machine::serial_of(&m.data);
    let pane = Pane::start(&m.script(&format!("--wipe-data {serial}")));
    let disk_q = "Install to which disk?";
    let list = pane.wait_for(disk_q, 30);
    let data_id = Machine::by_id(&m.data);
    assert!(!line_with(&list, &data_id).contains("[no]"), "{list}");
    pane.answer(disk_q, 0, &data_id);
    pane.answer("Role of this node", 0, "server");
    pane.answer(
        "Server URL to join (empty: this is the first server)",
        0,
        "",
    );
    pane.answer("Cluster token (hidden; empty: k3s generates one)", 0, "");
    pane.answer("Hostname", 0, "");
    pane.answer("SSH public key", 0, "");
    let summary = pane.wait_for("Type the disk's name", 30);
    assert!(summary.contains("first server"), "{summary}");
    assert!(summary.contains("no SSH key"), "{summary}");
    pane.answer("Type the disk's name", 0, "yes");
    let end = pane.wait_for("EXIT:", 60);
    assert!(end.contains("EXIT:0"), "install failed:\n{end}");
    assert_eq!(m.blank.digest(), blank_before, "the other disk changed");
    assert_eq!(
        m.stamped_layer(&m.data),
        serde_json::json!({ "node": { "role": "server" } })
    );
}

#[test]
fn a_config_given_to_install_is_kept_and_only_the_disk_is_asked() {
    if !loop_devices_available() || !tmux_available() {
        return;
    }
    let _l = lock();
    let m = Machine::new();
    let (_, json) = node_config_without_install_disk(m.dir());
    let pane = Pane::start(&m.script(&format!("--node-config {}", json.display())));
    pane.answer("Install to which disk?", 0, &Machine::by_id(&m.blank));
    let summary = pane.wait_for("Type the disk's name", 30);
    assert!(summary.contains("installed as it is"), "{summary}");
    assert!(!summary.contains("Role of this node"), "{summary}");
    pane.answer("Type the disk's name", 0, "yes");
    let end = pane.wait_for("EXIT:", 60);
    assert!(end.contains("EXIT:0"), "install failed:\n{end}");
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(m.stamped_layer(&m.blank), want);
}

#[test]
fn a_wrong_confirmation_writes_nothing() {
    if !loop_devices_available() || !tmux_available() {
        return;
    }
    let _l = lock();
    let m = Machine::new();
    let answers = [
        ("Install to which disk?", Machine::by_id(&m.blank)),
        ("Role of this node", "server".to_string()),
        ("Server URL to join", String::new()),
        ("Cluster token", String::new()),
        ("Hostname", String::new()),
        ("SSH public key", String::new()),
    ];
    // Another disk's name is not a confirmation.
    let other = m.data.name();
    let end = abort_at(&m, &answers, "Type the disk's name", |p| {
        p.type_line(&other)
    });
    assert!(end.contains("not confirmed"), "{end}");
}

/// Runs a session on `m`, answering `answers` in order, then `press`es at `last`; install
/// must end without writing to either disk.
fn abort_at(m: &Machine, answers: &[(&str, String)], last: &str, press: impl Fn(&Pane)) -> String {
    let before = m.digests();
    let pane = Pane::start(&m.script(""));
    for (q, a) in answers {
        pane.answer(q, 0, a);
    }
    pane.wait_for(last, 30);
    press(&pane);
    let end = pane.wait_for("ECHO:", 30);
    assert!(!end.contains("EXIT:0"), "install went on:\n{end}");
    assert_eq!(m.digests(), before, "an aborted session changed a disk");
    end
}

#[test]
fn end_of_input_at_a_prompt_touches_no_disk() {
    if !loop_devices_available() || !tmux_available() {
        return;
    }
    let _l = lock();
    let m = Machine::new();
    let end = abort_at(&m, &[], "Install to which disk?", |p| p.keys(&["C-d"]));
    assert!(
        end.contains("end of input") && end.contains("no disk was touched"),
        "{end}"
    );
}

#[test]
fn ctrl_c_at_the_hidden_token_prompt_touches_no_disk_and_restores_echo() {
    if !loop_devices_available() || !tmux_available() {
        return;
    }
    let _l = lock();
    let m = Machine::new();
    let answers = [
        ("Install to which disk?", Machine::by_id(&m.blank)),
        ("Role of this node", "agent".to_string()),
        ("Server URL to join", "https://192.0.2.10:6443".to_string()),
    ];
    let end = abort_at(&m, &answers, "Cluster token (hidden)", |p| p.keys(&["C-c"]));
    assert!(
        end.contains("interrupted") && end.contains("no disk was touched"),
        "{end}"
    );
    assert!(end.contains("ECHO:echo"), "echo left off:\n{end}");
}

#[test]
fn without_a_terminal_and_without_a_target_the_error_names_the_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let image = fixture_copy(tmp.path(), "gpt.img.zst");
    let a = kateskit()
        .env("KATESKIT_ROOT", tmp.path())
        .args([
            "install",
            "--allow-bios-firmware",
            "--no-boot-entry",
            "--image",
        ])
        .arg(&image)
        .write_stdin("")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("no install target") && err.contains("--device"),
        "{err}"
    );
    assert!(!err.contains("Install to which disk"), "{err}");
}

#[test]
fn a_terminal_on_stdin_alone_asks_nothing() {
    if !loop_devices_available() || !tmux_available() {
        return;
    }
    let _l = lock();
    let m = Machine::new();
    let before = m.digests();
    // stdout into a pipe: questions would go unseen by whoever reads the output.
    let pane = Pane::start(&m.script("| cat"));
    let end = pane.wait_for("ECHO:", 30);
    assert!(
        end.contains("no install target") && end.contains("--device"),
        "{end}"
    );
    assert!(!end.contains("Install to which disk"), "{end}");
    assert_eq!(m.digests(), before);
}
