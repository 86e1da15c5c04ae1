//! The firmware side of an install. The raw image boots only by UEFI (systemd-boot on an EFI
//! system partition, no BIOS boot code), while the live ISO also boots legacy BIOS: an install
//! from a BIOS boot would write a disk the machine then cannot start, so it is refused unless
//! asked for. After an install on UEFI, a boot entry for the installed disk and `BootNext` to
//! it make a machine whose boot order starts with PXE or USB boot the new system next instead
//! of the installer again; failing to set them is a warning, the disk is installed either way.

use std::path::Path;
use std::process::Command;

use uuid::Uuid;

use super::InstallError;

/// Partition type GUID of an EFI system partition.
pub const ESP_TYPE_GUID: Uuid = uuid::uuid!("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
/// Label of the boot entry `install` creates (and replaces on a reinstall).
pub const ENTRY_LABEL: &str = "KatesKit";

/// The removable-media loader path the raw image installs (`/EFI/BOOT/BOOT<arch>.EFI`).
pub fn loader() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => r"\EFI\BOOT\BOOTAA64.EFI",
        "riscv64" => r"\EFI\BOOT\BOOTRISCV64.EFI",
        _ => r"\EFI\BOOT\BOOTX64.EFI",
    }
}

/// True when the running system was started by UEFI firmware (`<root>/sys/firmware/efi`).
pub fn booted_by_uefi(root: &Path) -> bool {
    root.join("sys/firmware/efi").is_dir()
}

/// Refuses a BIOS boot unless `allow_bios` (the disk is for a machine that boots it by UEFI).
pub fn check(root: &Path, allow_bios: bool) -> Result<bool, InstallError> {
    let uefi = booted_by_uefi(root);
    if !uefi && !allow_bios {
        return Err(InstallError::BiosFirmware);
    }
    Ok(uefi)
}

/// The ESP's partition number in the image's GPT (what `efibootmgr --part` takes).
pub fn esp_partition(image: &std::fs::File, image_path: &Path) -> Result<u32, String> {
    esp_partition_in(image, &image_path.display().to_string())
}

/// [`esp_partition`] over any source (the first MiB of a downloaded image holds the GPT).
pub fn esp_partition_in<S: crate::image::ImageSource + ?Sized>(
    image: &S,
    name: &str,
) -> Result<u32, String> {
    let ss = crate::image::gpt::detect(image).ok_or_else(|| format!("{name} has no GPT"))?;
    let len = image
        .byte_len()
        .map_err(|e| format!("reading size of {name}: {e}"))?;
    let parts =
        crate::image::gpt::partitions(image, len, ss).map_err(|e| format!("{name}: {e}"))?;
    parts
        .iter()
        .find(|p| p.type_guid == ESP_TYPE_GUID)
        .map(|p| p.index)
        .ok_or_else(|| format!("{name} has no EFI system partition"))
}

/// The command an operator runs by hand when `install` could not set the entry.
pub fn manual_command(disk: &Path, part: u32) -> String {
    format!(
        "efibootmgr --create --disk {} --part {part} --label {ENTRY_LABEL} --loader '{}' && efibootmgr --bootnext <the new BootXXXX number>",
        disk.display(),
        loader()
    )
}

fn run(cmd: &[String], args: &[&str]) -> Result<String, String> {
    let (exe, pre) = cmd.split_first().ok_or("the efibootmgr command is empty")?;
    let shown = format!("{exe} {}", args.join(" "));
    let out = Command::new(exe)
        .args(pre)
        .args(args)
        .output()
        .map_err(|e| format!("running {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `BootXXXX` numbers of the entries labelled `label` in efibootmgr's listing.
pub fn entries_labelled(listing: &str, label: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Boot")?;
            let (num, rest) = rest.split_at_checked(4)?;
            if !num.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let rest = rest.strip_prefix('*').unwrap_or(rest);
            let name = rest.trim_start().split('\t').next()?.trim_end();
            (name == label).then(|| num.to_string())
        })
        .collect()
}

/// Replaces the `KatesKit` boot entries by one for `disk`'s ESP and sets `BootNext` to it;
/// the new entry's number.
pub fn set_boot_entry(efibootmgr: &[String], disk: &Path, part: u32) -> Result<String, String> {
    let before = run(efibootmgr, &[])?;
    for old in entries_labelled(&before, ENTRY_LABEL) {
        run(efibootmgr, &["--delete-bootnum", "--bootnum", &old])?;
    }
    let disk_arg = disk.display().to_string();
    let part_arg = part.to_string();
    let after = run(
        efibootmgr,
        &[
            "--create",
            "--disk",
            &disk_arg,
            "--part",
            &part_arg,
            "--label",
            ENTRY_LABEL,
            "--loader",
            loader(),
        ],
    )?;
    let num = entries_labelled(&after, ENTRY_LABEL)
        .into_iter()
        .next()
        .ok_or_else(|| format!("efibootmgr created no entry labelled {ENTRY_LABEL}"))?;
    run(efibootmgr, &["--bootnext", &num])?;
    Ok(num)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_exact_label() {
        let listing = "BootCurrent: 0001\nBootOrder: 0004,0001,0000\n\
            Boot0000* UiApp\tFvVol(7cb8bdc9)/FvFile(462caa21)\n\
            Boot0001* UEFI PXEv4 (MAC:525400123456)\tPciRoot(0x0)\n\
            Boot0004* KatesKit\tHD(1,GPT,2b0c6c6f,0x800,0x800)/File(\\EFI\\BOOT\\BOOTX64.EFI)\n\
            Boot0005  KatesKit\tHD(1,GPT,aa,0x800,0x800)\n\
            Boot0006* KatesKit old\tHD(1,GPT,bb)\n\
            BootNext: 0004\n";
        assert_eq!(entries_labelled(listing, ENTRY_LABEL), ["0004", "0005"]);
        assert!(entries_labelled("Boot00zz* KatesKit\n", ENTRY_LABEL).is_empty());
    }

    #[test]
    fn a_bios_boot_is_refused_unless_allowed() {
        let d = tempfile::tempdir().unwrap();
        let e = check(d.path(), false).unwrap_err().to_string();
        assert!(e.contains("booted in legacy BIOS mode"), "{e}");
        assert!(e.contains("--allow-bios-firmware"), "{e}");
        assert!(!check(d.path(), true).unwrap());
        std::fs::create_dir_all(d.path().join("sys/firmware/efi")).unwrap();
        assert!(check(d.path(), false).unwrap());
    }
}
