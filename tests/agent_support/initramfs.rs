//! Building a test initramfs from Debian's kernel package: modules with their dependencies,
//! a binary with the shared libraries `ldd` lists; and a QEMU process killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Kills QEMU when the test ends, however it ends.
pub struct Qemu(pub Child);
impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `$KATESKIT_TEST_KERNEL_DIR`, else target/test-assets/linux-image-*, else fetched like tests/run.
pub fn kernel_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KATESKIT_TEST_KERNEL_DIR") {
        return d.into();
    }
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-assets");
    let found = |a: &Path| {
        std::fs::read_dir(a)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("linux-image-")
                    && p.join("boot").is_dir()
            })
    };
    if let Some(d) = found(&assets) {
        return d;
    }
    let deps = Command::new("apt-cache")
        .args(["depends", "linux-image-cloud-amd64"])
        .output()
        .expect("apt-cache");
    let kver = String::from_utf8_lossy(&deps.stdout)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Depends: ")
                .filter(|p| p.starts_with("linux-image-"))
                .map(str::to_string)
        })
        .expect("kernel package name");
    let dl = assets.join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    sh(Command::new("apt-get")
        .args(["download", "-qq", &kver])
        .current_dir(&dl));
    let deb = std::fs::read_dir(&dl)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{kver}_"))
        })
        .expect("downloaded .deb");
    let tmp = assets.join(format!("{kver}.tmp"));
    sh(Command::new("dpkg").arg("-x").arg(&deb).arg(&tmp));
    std::fs::rename(&tmp, assets.join(&kver)).unwrap();
    assets.join(kver)
}

/// Module dependencies from the `depends=` field of the .modinfo section.
pub fn depends(ko: &Path) -> Vec<String> {
    let b = std::fs::read(ko).unwrap();
    let Some(i) = b.windows(8).position(|w| w == b"depends=") else {
        return Vec::new();
    };
    let end = b[i..].iter().position(|&c| c == 0).unwrap() + i;
    String::from_utf8_lossy(&b[i + 8..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Copies the modules and their dependencies; returns names in load order.
pub fn modules(kdir: &Path, wanted: &[&str], dest: &Path) -> Vec<String> {
    let mdir = std::fs::read_dir(kdir.join("lib/modules"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut index = std::collections::HashMap::new();
    let mut stack = vec![mdir.join("kernel")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(n) = p
                .file_name()
                .unwrap()
                .to_str()
                .and_then(|n| n.strip_suffix(".ko"))
            {
                index.insert(n.replace('-', "_"), p.clone());
            }
        }
    }
    fn visit(n: &str, index: &std::collections::HashMap<String, PathBuf>, order: &mut Vec<String>) {
        if order.iter().any(|o| o == n) {
            return;
        }
        let p = index
            .get(n)
            .unwrap_or_else(|| panic!("module {n} not in the kernel package"));
        for d in depends(p) {
            visit(&d.replace('-', "_"), index, order);
        }
        order.push(n.to_string());
    }
    let mut order = Vec::new();
    for m in wanted {
        visit(m, &index, &mut order);
    }
    std::fs::create_dir_all(dest).unwrap();
    for n in &order {
        std::fs::copy(&index[n], dest.join(format!("{n}.ko"))).unwrap();
    }
    order
}

pub fn copy_with_libs(bin: &Path, dir: &Path, name: &str) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let dst = dir.join("bin").join(name);
    sh(Command::new("strip").arg("-o").arg(&dst).arg(bin));
    let ldd = Command::new("ldd").arg(bin).output().unwrap();
    for l in String::from_utf8_lossy(&ldd.stdout).lines() {
        let lib = l
            .split("=>")
            .last()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap_or("");
        if lib.starts_with('/') {
            let to = dir.join(lib.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(lib, &to).unwrap();
        }
    }
}

/// Lays out the agent's test initramfs under `root`: the usual directories, the `wanted`
/// kernel modules (and `modules.order`), the kateskit binary with its libraries, busybox, a
/// `fake-systemctl` that logs its arguments to /run/systemctl.log, and `init`.
pub fn agent_root(root: &Path, kdir: &Path, wanted: &[&str], init: &str) {
    for d in ["proc", "sys", "dev", "run", "tmp", "etc/kateskit"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let order = modules(kdir, wanted, &root.join("modules"));
    std::fs::write(root.join("modules.order"), order.join("\n")).unwrap();
    copy_with_libs(&assert_cmd::cargo::cargo_bin("kateskit"), root, "kateskit");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::fs::write(
        root.join("bin/fake-systemctl"),
        "#!/bin/sh\necho \"$@\" >> /run/systemctl.log\n",
    )
    .unwrap();
    std::fs::write(root.join("init"), init).unwrap();
    sh(Command::new("chmod")
        .args(["755"])
        .arg(root.join("init"))
        .arg(root.join("bin/fake-systemctl")));
}

/// True when every tool the QEMU tier needs is installed; otherwise says which is missing.
pub fn tools_present() -> bool {
    for tool in [
        "qemu-system-x86_64",
        "busybox",
        "cpio",
        "mkfs.vfat",
        "mcopy",
    ] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            eprintln!("SKIP: {tool} not installed (tests/debian-packages.txt lists it)");
            return false;
        }
    }
    true
}

/// Waits (bounded) for the guest to power off, then returns its serial console log; prints
/// the log and QEMU's stderr so a failing test shows what the guest did.
pub fn wait_for_guest(mut qemu: Qemu, serial: &Path, timeout: std::time::Duration) -> String {
    use std::io::Read;
    let t0 = std::time::Instant::now();
    while qemu.0.try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < timeout,
            "QEMU did not finish within {timeout:?}; serial:\n{}",
            std::fs::read_to_string(serial).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let mut err = String::new();
    if let Some(mut e) = qemu.0.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    let log = std::fs::read_to_string(serial).unwrap().replace('\r', "");
    eprintln!("serial console of the guest (qemu stderr: {err}):\n{log}");
    log
}

/// The text the guest printed between `==NAME-BEGIN==` and `==NAME-END==`.
pub fn section<'a>(log: &'a str, name: &str) -> &'a str {
    let b = format!("=={name}-BEGIN==");
    let s = log
        .find(&b)
        .unwrap_or_else(|| panic!("no {name} section in serial log:\n{log}"))
        + b.len();
    let e = log[s..].find(&format!("=={name}-END==")).unwrap() + s;
    log[s..e].trim()
}

/// The kernel image (`boot/vmlinuz-*`) of the unpacked kernel package.
pub fn vmlinuz(kdir: &Path) -> PathBuf {
    std::fs::read_dir(kdir.join("boot"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vmlinuz-")
        })
        .expect("a vmlinuz-* in the kernel package")
}

/// Packs `root` into a newc cpio at `out` with the real `cpio` tool.
pub fn pack(root: &Path, out: &Path) {
    sh(Command::new("sh").arg("-c").arg(format!(
        "cd {} && find . | cpio -o -H newc --quiet > {}",
        root.display(),
        out.display()
    )));
}
