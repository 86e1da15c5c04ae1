//! A real terminal for tests: a tmux server of the test's own runs a command in a pane; the
//! test types with `send-keys` and reads the screen with `capture-pane`. Every wait has a
//! deadline.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// True when tmux is installed; prints why the test is skipped otherwise.
pub fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: tmux is not installed (tests/debian-packages.txt lists it)");
    }
    ok
}

/// A tmux server of its own (socket named per test), killed on drop.
pub struct Pane {
    socket: String,
}

impl Pane {
    pub fn start(script: &Path) -> Pane {
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

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-J", "-S", "-"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen once it contains `text`, polled until `secs` have passed.
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
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
    pub fn type_line(&self, text: &str) {
        if !text.is_empty() {
            self.keys(&["-l", text]);
        }
        self.keys(&["Enter"]);
    }

    pub fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success(), "tmux send-keys {keys:?} failed");
    }

    /// Answers the question `prompt` (waited for, after `seen` earlier copies of it).
    pub fn answer(&self, prompt: &str, seen: usize, text: &str) -> String {
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
