//! Questions on the terminal for the guided install: visible lines from stdin, and hidden input
//! (the token) read with echo off. End of input or Ctrl-C at any question aborts the command
//! before anything is written.

use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

/// What an abort says: nothing was written, because every question comes before the write.
pub const UNTOUCHED: &str = "no disk was touched";

/// Prints `prompt` on stderr and reads one line (without its newline).
pub fn line(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush().context("writing prompt")?;
    let mut s = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut s)
        .context("reading the answer from stdin")?;
    if n == 0 {
        eprintln!();
        bail!("end of input at \"{}\"; {UNTOUCHED}", prompt.trim());
    }
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// Restores the terminal's modes however the read ends (error, abort, panic).
struct Restore(Termios);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.0);
    }
}

/// Reads one line without echo. The terminal is put in non-canonical mode without signals so
/// that Ctrl-C arrives as a byte and the modes are restored before the command ends (a killed
/// process would leave echo off).
pub fn hidden(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let old = termios::tcgetattr(&stdin).context("reading the terminal's modes (tcgetattr)")?;
    let _restore = Restore(old.clone());
    let mut raw = old;
    raw.local_modes
        .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
    raw.special_codes[SpecialCodeIndex::VMIN] = 1;
    raw.special_codes[SpecialCodeIndex::VTIME] = 0;
    termios::tcsetattr(&stdin, OptionalActions::Now, &raw)
        .context("turning off echo (tcsetattr)")?;
    // Only now: whatever is typed once the question shows is not echoed.
    eprint!("{prompt}");
    std::io::stderr().flush().context("writing prompt")?;
    let mut bytes = Vec::new();
    loop {
        let mut b = [0u8; 1];
        let n = rustix::io::read(&stdin, &mut b).context("reading hidden input")?;
        // Ctrl-D ends the input only on an empty line, as the terminal's own line editing does.
        if n == 0 || (b[0] == 0x04 && bytes.is_empty()) {
            eprintln!();
            bail!("end of input at \"{}\"; {UNTOUCHED}", prompt.trim());
        }
        match b[0] {
            0x03 => {
                eprintln!();
                bail!("interrupted at \"{}\"; {UNTOUCHED}", prompt.trim());
            }
            b'\r' | b'\n' => break,
            0x7f | 0x08 => {
                // Drop one character, not one byte, of what was typed.
                let mut s = String::from_utf8_lossy(&bytes).into_owned();
                s.pop();
                bytes = s.into_bytes();
            }
            0x15 => bytes.clear(),
            0x04 => {}
            c => bytes.push(c),
        }
    }
    eprintln!();
    String::from_utf8(bytes).context("the hidden answer is not UTF-8")
}
