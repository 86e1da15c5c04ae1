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

/// `kateskit.install.image_url=` with its `kateskit.install.image_sha256=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl {
    pub url: String,
    /// Lowercase hex.
    pub sha256: String,
}

/// The image arguments as given (either may be missing until [`image_url`] checks them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ImageArgs {
    url: Option<String>,
    sha256: Option<String>,
}

/// Pairs the two image arguments: a URL without a valid hash is refused (an unverified image
/// is never installed), and a hash without a URL asks for nothing.
fn image_url(args: &ImageArgs, from: &str) -> Result<Option<ImageUrl>, String> {
    let Some(url) = args.url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let shown = crate::redact::url(url);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "kateskit.install.image_url={shown} ({from}) is not an http:// or https:// URL"
        ));
    }
    let Some(hex) = args.sha256.as_deref().filter(|h| !h.is_empty()) else {
        return Err(format!("kateskit.install.image_url={shown} ({from}) comes without kateskit.install.image_sha256=; an image is never installed unverified: add the image's SHA-256 (sha256sum, or the server's SHA256SUMS)"));
    };
    let sha256 = crate::image::sums::parse_sha256(hex).map_err(|_| {
        format!("kateskit.install.image_sha256={hex} ({from}) is not a SHA-256 (64 hex digits)")
    })?;
    Ok(Some(ImageUrl {
        url: url.to_string(),
        sha256,
    }))
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
mod tests {
    use super::*;

    fn found(cmdline: &str, kargs: Option<&[&str]>) -> Found {
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

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn the_image_url_comes_with_its_hash_or_is_refused() {
        let f = found(
            &format!("kateskit.install.device=auto kateskit.install.image_url=http://192.0.2.1:8080/artifacts/install.img kateskit.install.image_sha256={}", HASH.to_uppercase()),
            None,
        );
        let i = f.request.unwrap().image.unwrap();
        assert_eq!(i.url, "http://192.0.2.1:8080/artifacts/install.img");
        assert_eq!(i.sha256, HASH, "lowercased");
        assert!(f.image_error.is_none());
        // A URL alone is never installed unverified.
        let f = found(
            "kateskit.install.device=auto kateskit.install.image_url=https://u:pw@192.0.2.1/i.img",
            None,
        );
        assert!(f.request.unwrap().image.is_none());
        let e = f.image_error.unwrap();
        assert!(e.contains("without kateskit.install.image_sha256"), "{e}");
        assert!(!e.contains("pw"), "credentials redacted: {e}");
        let f = found(
            "kateskit.install.device=auto kateskit.install.image_url=http://192.0.2.1/i.img kateskit.install.image_sha256=abc",
            None,
        );
        assert!(f.image_error.unwrap().contains("not a SHA-256"));
        let f = found(
            "kateskit.install.device=auto kateskit.install.image_url=ftp://192.0.2.1/i.img kateskit.install.image_sha256=abc",
            None,
        );
        assert!(f.image_error.unwrap().contains("not an http"));
        // Stamped arguments count too, and a hash alone asks for no download.
        let f = found(
            "kateskit.install.device=auto",
            Some(&[
                "kateskit.install.image_url=http://192.0.2.1/i.img",
                &format!("kateskit.install.image_sha256={HASH}"),
            ]),
        );
        assert_eq!(f.request.unwrap().image.unwrap().sha256, HASH);
        let f = found(
            &format!("kateskit.install.device=auto kateskit.install.image_sha256={HASH}"),
            None,
        );
        assert!(f.request.unwrap().image.is_none());
        assert!(f.image_error.is_none());
    }
}
