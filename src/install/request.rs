//! The boot request for an unattended install: `kateskit.install.device=` (and
//! `kateskit.install.wipe=`, and for a netbooted machine `kateskit.install.image_url=` with
//! `kateskit.install.image_sha256=`, the raw image to stream) on the kernel command line, or among the kernel arguments stamped
//! into the boot medium's embed area (`kateskit image customize --karg`), which count as
//! appended to the command line, as in the agent's ladder. The live system's units ask this
//! one question (`kateskit install --request-check`), so the installer starts for a stamped
//! ISO too, and the agent and the join stay off while an install is requested: a failed
//! install is the last thing the console shows, not a half-configured live node.
//!
//! Only the boot medium's areas count (`/run/kateskit/embed.img`, `/iso/kateskit/embed.img`),
//! never a disk's embed partition: a disk installed earlier carries the same arguments and
//! must not make the next live boot reinstall it.

use std::path::{Path, PathBuf};

pub use super::request_image::ImageUrl;
use super::request_image::{image_url, ImageArgs};

/// What the boot asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The disk to install to; `None` for `auto` (the node's `install_disk`).
    pub device: Option<String>,
    pub wipe: Option<String>,
    /// The raw image to install from a server, with the SHA-256 it must have.
    pub image: Option<ImageUrl>,
    /// Where the device was named, for messages.
    pub from: String,
}

/// The request, and the error of a boot medium area that could not be read (the command
/// line's answer stands; without one the caller decides).
#[derive(Debug, Default)]
pub struct Found {
    pub request: Option<Request>,
    pub area_error: Option<String>,
    /// An image URL without a valid SHA-256 (or not a URL): the install must stop.
    pub image_error: Option<String>,
}

fn apply(
    args: &[(String, Option<String>)],
    from: &str,
    req: &mut Option<Request>,
    image: &mut ImageArgs,
) {
    for (k, v) in args {
        let v = v.clone().unwrap_or_default();
        match k.as_str() {
            "kateskit.install.image_url" => image.url = Some(v),
            "kateskit.install.image_sha256" => image.sha256 = Some(v),
            "kateskit.install.image_zeros" => image.zeros = Some(v),
            "kateskit.install.device" => {
                let r = req.get_or_insert_with(|| Request {
                    device: None,
                    wipe: None,
                    image: None,
                    from: from.to_string(),
                });
                r.device = (v != "auto" && !v.is_empty()).then_some(v);
                r.from = from.to_string();
            }
            "kateskit.install.wipe" => {
                if let Some(r) = req.as_mut() {
                    r.wipe = (!v.is_empty()).then_some(v);
                } else {
                    *req = Some(Request {
                        device: None,
                        wipe: (!v.is_empty()).then_some(v),
                        image: None,
                        from: String::new(),
                    });
                }
            }
            _ => {}
        }
    }
}

/// Reads the command line file and the first stamped boot medium area among `live_areas`.
pub fn read(cmdline: &Path, live_areas: &[PathBuf]) -> Found {
    let mut found = Found::default();
    let mut req = None;
    let mut image = ImageArgs::default();
    let mut image_from = String::new();
    let src = cmdline.display().to_string();
    match std::fs::read_to_string(cmdline) {
        Ok(line) => match crate::agent::ladder::cmdline::split(&line, &src) {
            Ok(args) => {
                image_from = format!("the kernel command line ({src})");
                apply(&args, &image_from, &mut req, &mut image);
            }
            Err(e) => found.area_error = Some(e.to_string()),
        },
        Err(e) => found.area_error = Some(format!("reading {src}: {e}")),
    }
    for p in live_areas.iter().filter(|p| p.exists()) {
        match crate::image::embed::read_path(p) {
            Ok(None) => continue,
            Ok(Some(area)) => {
                let from = format!("the kernel arguments stamped in {}", p.display());
                match crate::agent::ladder::cmdline::split(&area.kargs.join(" "), &from) {
                    Ok(args) => {
                        let before = image.clone();
                        apply(&args, &from, &mut req, &mut image);
                        if image != before {
                            image_from = from.clone();
                        }
                    }
                    Err(e) => found.area_error = Some(e.to_string()),
                }
                break;
            }
            Err(e) => {
                found.area_error = Some(format!("{}: {e}", p.display()));
                break;
            }
        }
    }
    // A wipe serial alone asks for nothing.
    found.request = req.filter(|r| !r.from.is_empty());
    match image_url(&image, &image_from) {
        Ok(i) => {
            if let Some(r) = found.request.as_mut() {
                r.image = i;
            }
        }
        // The request stands (the installer must run and say why it stops), but cannot proceed.
        Err(e) => found.image_error = Some(e),
    }
    found
}

/// Which answer a unit's `ExecCondition=` wants: exit 0 to run the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The installer: runs when an install is requested.
    Install,
    /// The agent and the join on a live system: run when none is.
    Live,
}

/// The exit code for `ExecCondition=` (0 run, 1 skip, 255 fail the unit), and why.
pub fn condition(check: Check, found: &Found) -> (u8, String) {
    match (check, &found.request, &found.area_error) {
        (Check::Install, Some(r), _) => (0, format!("an install is requested by {}", r.from)),
        (Check::Install, None, Some(e)) => (
            255,
            format!("cannot tell whether an install is requested: {e}"),
        ),
        (Check::Install, None, None) => (1, "no install is requested".into()),
        (Check::Live, Some(r), _) => (
            1,
            format!(
                "an install is requested by {}: the live system is not configured",
                r.from
            ),
        ),
        // The agent reads the same area and reports what is wrong with it.
        (Check::Live, None, _) => (0, "no install is requested".into()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn found(cmdline: &str, kargs: Option<&[&str]>) -> Found {
        let d = tempfile::tempdir().unwrap();
        let cl = d.path().join("cmdline");
        std::fs::write(&cl, cmdline).unwrap();
        let area = d.path().join("embed.img");
        if let Some(k) = kargs {
            let k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
            let a = crate::image::embed::build_area(262144, None, &k).unwrap();
            std::fs::write(&area, a).unwrap();
        }
        read(&cl, &[d.path().join("missing.img"), area])
    }

    #[test]
    fn the_command_line_and_the_stamped_arguments_both_ask() {
        let f = found(
            "console=ttyS0 kateskit.install.device=/dev/disk/by-id/a",
            None,
        );
        let r = f.request.unwrap();
        assert_eq!(r.device.as_deref(), Some("/dev/disk/by-id/a"));
        assert!(r.from.contains("kernel command line"));
        // Stamped only: the unit condition on the command line never saw this one.
        let f = found(
            "console=ttyS0",
            Some(&["kateskit.install.device=auto", "kateskit.install.wipe=S1"]),
        );
        let r = f.request.unwrap();
        assert_eq!((r.device, r.wipe.as_deref()), (None, Some("S1")));
        assert!(r.from.contains("stamped in"), "{}", r.from);
        // Stamped arguments come after the command line, as in the ladder.
        let f = found(
            "kateskit.install.device=/dev/disk/by-id/a",
            Some(&["kateskit.install.device=/dev/disk/by-id/b"]),
        );
        assert_eq!(
            f.request.unwrap().device.as_deref(),
            Some("/dev/disk/by-id/b")
        );
        assert!(found("quiet", Some(&["kateskit.role=agent"]))
            .request
            .is_none());
        assert!(found("kateskit.install.wipe=S1", None).request.is_none());
    }

    #[test]
    fn conditions_for_the_installer_and_the_live_units() {
        let asked = found("kateskit.install.device=auto", None);
        assert_eq!(condition(Check::Install, &asked).0, 0);
        assert_eq!(condition(Check::Live, &asked).0, 1);
        let none = found("quiet", None);
        assert_eq!(condition(Check::Install, &none).0, 1);
        assert_eq!(condition(Check::Live, &none).0, 0);
        let bad = Found {
            request: None,
            area_error: Some("embed.img: bad checksum".into()),
            image_error: None,
        };
        let (code, why) = condition(Check::Install, &bad);
        assert_eq!(code, 255);
        assert!(why.contains("bad checksum"), "{why}");
        assert_eq!(condition(Check::Live, &bad).0, 0);
    }
}
