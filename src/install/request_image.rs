//! The image half of the boot request: `kateskit.install.image_url=` and
//! `kateskit.install.image_sha256=`, put into boot scripts by `kateskit netboot serve` so a
//! netbooted machine streams the raw image instead of carrying it in its initrd;
//! `kateskit.install.image_zeros=` names its zero map, so the image's zero runs are not downloaded.

/// `kateskit.install.image_url=` with its `kateskit.install.image_sha256=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl {
    pub url: String,
    /// Lowercase hex.
    pub sha256: String,
    /// `kateskit.install.image_zeros=`: the image's zero map.
    pub zeros: Option<String>,
}

/// The image arguments as given (either may be missing until [`image_url`] checks them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ImageArgs {
    pub url: Option<String>,
    pub sha256: Option<String>,
    pub zeros: Option<String>,
}

/// Pairs the two image arguments: a URL without a valid hash is refused (an unverified image
/// is never installed), and a hash without a URL asks for nothing.
pub(super) fn image_url(args: &ImageArgs, from: &str) -> Result<Option<ImageUrl>, String> {
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
    let zeros = args.zeros.as_deref().filter(|z| !z.is_empty());
    if let Some(z) = zeros.filter(|z| !(z.starts_with("http://") || z.starts_with("https://"))) {
        return Err(format!(
            "kateskit.install.image_zeros={} ({from}) is not an http:// or https:// URL",
            crate::redact::url(z)
        ));
    }
    Ok(Some(ImageUrl {
        url: url.to_string(),
        sha256,
        zeros: zeros.map(str::to_string),
    }))
}

#[cfg(test)]
mod tests {
    use crate::install::request::tests::found;

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
        assert_eq!(i.zeros, None);
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
        // The zero map rides beside the URL, and must be a URL too.
        let f = found(
            &format!("kateskit.install.device=auto kateskit.install.image_url=http://192.0.2.1/i.img kateskit.install.image_sha256={HASH} kateskit.install.image_zeros=http://192.0.2.1/zeros/i.img"),
            None,
        );
        let i = f.request.unwrap().image.unwrap();
        assert_eq!(i.zeros.as_deref(), Some("http://192.0.2.1/zeros/i.img"));
        let f = found(
            &format!("kateskit.install.device=auto kateskit.install.image_url=http://192.0.2.1/i.img kateskit.install.image_sha256={HASH} kateskit.install.image_zeros=/zeros/i.img"),
            None,
        );
        let e = f.image_error.unwrap();
        assert!(
            e.contains("image_zeros=/zeros/i.img") && e.contains("not an http"),
            "{e}"
        );
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
