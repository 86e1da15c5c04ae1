//! The guided `kateskit install`, driven through a real terminal: tmux runs the command in a
//! pane, the test types with `send-keys` and reads the screen with `capture-pane`. Two loop
//! devices stand in for the machine's disks (one with an ext4 filesystem, one blank); serials
//! and by-id links come from a stand-in udev database and /dev (KATESKIT_UDEV_DATA_DIR,
//! KATESKIT_DEV_DIR). Every wait on the pane has a deadline.

mod common;
mod image_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{lock, loop_devices_available, run, LoopDev};
use image_common::{fixture_copy, kateskit};
use kateskit::image::embed;

const MIB: u64 = 1 << 20;
const TOKEN_PASSWORD: &str = "guidedsecretpw7";
const HASH: &str = "a3f1c0b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";

fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: tmux is not installed (tests/debian-packages.txt lists it)");
    }
    ok
}

/// A syntactically valid ed25519 public key (type-prefixed blob, 32 key bytes).
fn ssh_key() -> String {
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], &[7u8; 32][..]] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    format!("ssh-ed25519 {b64} ops@laptop")
}

/// Two disks in one stand-in /dev and udev database, the layout a live system sees.
struct Machine {
    tmp: tempfile::TempDir,
    image: PathBuf,
    data: LoopDev,
    blank: LoopDev,
}

impl Machine {
    fn new() -> Machine {
        let tmp = tempfile::tempdir().unwrap();
        let image = fixture_copy(tmp.path(), "gpt.img.zst");
        let data = LoopDev::new(32 * MIB);
        run("mkfs.ext4", &["-q", "-F", "-L", "data", data.path()]);
        let blank = LoopDev::new(32 * MIB);
        let dev = tmp.path().join("dev");
        let udev = tmp.path().join("udev");
        std::fs::create_dir_all(dev.join("disk/by-id")).unwrap();
        std::fs::create_dir_all(tmp.path().join("root")).unwrap();
        std::fs::create_dir(&udev).unwrap();
        for lo in [&data, &blank] {
            let serial = Self::serial_of(lo);
            std::os::unix::fs::symlink(&lo.dev, dev.join(lo.name())).unwrap();
            std::os::unix::fs::symlink(&lo.dev, dev.join(format!("disk/by-id/ata-{serial}")))
                .unwrap();
            let devno =
                std::fs::read_to_string(format!("/sys/class/block/{}/dev", lo.name())).unwrap();
            std::fs::write(
                udev.join(format!("b{}", devno.trim())),
                format!("E:ID_SERIAL_SHORT={serial}\n"),
            )
            .unwrap();
        }
        Machine {
            tmp,
            image,
            data,
            blank,
        }
    }

    fn serial_of(lo: &LoopDev) -> String {
        format!("KKGUIDED_{}", lo.name().to_uppercase())
    }

    fn by_id(lo: &LoopDev) -> String {
        format!("/dev/disk/by-id/ata-{}", Self::serial_of(lo))
    }

    /// A shell script running install in the pane, then its exit code and the terminal's
    /// echo setting, so the test sees both after the command ends.
    fn script(&self) -> PathBuf {
        let bin = assert_cmd::cargo::cargo_bin("kateskit");
        let p = self.tmp.path().join("session.sh");
        let t = self.tmp.path();
        std::fs::write(
            &p,
            format!(
                "KATESKIT_ROOT={root} KATESKIT_DEV_DIR={dev} KATESKIT_UDEV_DATA_DIR={udev} {bin} install --image {img}\n\
                 echo \"EXIT:$?\"\nstty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?echo' | sed 's/^/ECHO:/'\nsleep 120\n",
                root = t.join("root").display(),
                dev = t.join("dev").display(),
                udev = t.join("udev").display(),
                bin = bin.display(),
                img = self.image.display(),
            ),
        )
        .unwrap();
        p
    }

    fn digests(&self) -> (String, String) {
        (self.data.digest(), self.blank.digest())
    }
}

/// A tmux server of its own (socket named per test), killed on drop.
struct Pane {
    socket: String,
}

impl Pane {
    fn start(script: &Path) -> Pane {
        let socket = format!("kkg{}-{}", std::process::id(), rand::random::<u32>());
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "250", "-y", "80", "sh"])
            .arg(script)
            .status()
            .unwrap();
        assert!(ok.success(), "tmux new-session failed");
        Pane { socket }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-J", "-S", "-"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen once it contains `text`, polled until `secs` have passed.
    fn wait_for(&self, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} on the terminal within {secs} s; it shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        if !text.is_empty() {
            self.keys(&["-l", text]);
        }
        self.keys(&["Enter"]);
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success(), "tmux send-keys {keys:?} failed");
    }

    /// Answers the question `prompt` (waited for, after `seen` earlier copies of it).
    fn answer(&self, prompt: &str, seen: usize, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.matches(prompt).count() > seen {
                self.type_line(text);
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "question {prompt:?} (#{}) not asked within 20 s; the terminal shows:\n{s}",
                seen + 1
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

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
    let pane = Pane::start(&m.script());
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
    pane.answer("Cluster token (hidden)", 1, &token);
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

    // The stamped area on the installed disk holds the answers, as the agent will read them.
    let image = std::fs::File::open(&m.image).unwrap();
    let offset = kateskit::install::embed_offset(&image, &m.image).unwrap();
    let f = std::fs::File::open(&m.blank.dev).unwrap();
    let mut buf = vec![0u8; embed::GPT_AREA_SIZE];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, offset).unwrap();
    let area = embed::read_area(&buf).unwrap().expect("stamped area");
    assert!(area.kargs.is_empty(), "{:?}", area.kargs);
    let layer: serde_json::Value =
        serde_json::from_str(area.node_config_json.as_deref().unwrap()).unwrap();
    assert_eq!(
        layer,
        serde_json::json!({
            "node": { "role": "agent" },
            "host": { "hostname": "worker-1", "ssh_authorized_keys": [key] },
            "k3s": { "server_url": "https://192.0.2.10:6443" },
            "secrets": { "token": token },
        })
    );
}

/// Runs a session on `m`, answering `answers` in order, then presses `key` at `last`; install
/// must end without writing to either disk.
fn abort_at(m: &Machine, answers: &[(&str, String)], last: &str, key: &str) -> String {
    let before = m.digests();
    let pane = Pane::start(&m.script());
    for (q, a) in answers {
        pane.answer(q, 0, a);
    }
    pane.wait_for(last, 30);
    pane.keys(&[key]);
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
    let end = abort_at(&m, &[], "Install to which disk?", "C-d");
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
    let end = abort_at(&m, &answers, "Cluster token (hidden)", "C-c");
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
        .args(["install", "--image"])
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
