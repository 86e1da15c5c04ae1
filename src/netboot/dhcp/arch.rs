//! Option 93 (client system architecture, RFC 4578 and the IANA "Processor Architecture
//! Types" registry) and the iPXE build each architecture boots.

/// A client architecture as option 93 names it; the code is kept so the timeline shows what
/// the firmware actually sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ClientArch {
    pub code: u16,
    /// The IANA registry's name.
    pub name: &'static str,
    /// The firmware loads its boot file over HTTP (UEFI HTTP boot) instead of TFTP.
    pub http: bool,
    /// The iPXE build for this firmware, `None` where iPXE has none (PowerPC, s390, ...).
    pub build: Option<IpxeBuild>,
}

/// The iPXE binaries a netboot server hands out, by firmware interface and CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum IpxeBuild {
    /// BIOS PXE: iPXE over the ROM's UNDI driver (works on every PXE NIC).
    BiosUndi,
    /// BIOS without a PXE stack under it (PC/AT HTTP boot): iPXE with its own drivers.
    BiosNative,
    EfiIa32,
    EfiX64,
    EfiArm32,
    EfiArm64,
    EfiRiscv64,
}

impl IpxeBuild {
    pub const ALL: [IpxeBuild; 7] = [
        IpxeBuild::BiosUndi,
        IpxeBuild::BiosNative,
        IpxeBuild::EfiIa32,
        IpxeBuild::EfiX64,
        IpxeBuild::EfiArm32,
        IpxeBuild::EfiArm64,
        IpxeBuild::EfiRiscv64,
    ];

    /// The file name in Debian's `ipxe` package (/usr/lib/ipxe) and `pkgs.ipxe`; the builds
    /// Debian's amd64 package lacks use the names other netboot servers use for them.
    pub fn default_file(self) -> &'static str {
        match self {
            IpxeBuild::BiosUndi => "undionly.kpxe",
            IpxeBuild::BiosNative => "ipxe.pxe",
            IpxeBuild::EfiIa32 => "ipxe-ia32.efi",
            IpxeBuild::EfiX64 => "ipxe.efi",
            IpxeBuild::EfiArm32 => "snp-arm32.efi",
            IpxeBuild::EfiArm64 => "snp-arm64.efi",
            IpxeBuild::EfiRiscv64 => "snp-riscv64.efi",
        }
    }

    /// BIOS PXE firmware gets option 43 "use the boot file"; UEFI firmware does better with
    /// the BINL variant (no option 43, the file named on port 4011).
    pub fn is_bios(self) -> bool {
        matches!(self, IpxeBuild::BiosUndi | IpxeBuild::BiosNative)
    }

    /// iPXE's `${buildarch}` for this build, for script URLs.
    pub fn buildarch(self) -> &'static str {
        match self {
            IpxeBuild::BiosUndi | IpxeBuild::BiosNative | IpxeBuild::EfiIa32 => "i386",
            IpxeBuild::EfiX64 => "x86_64",
            IpxeBuild::EfiArm32 => "arm32",
            IpxeBuild::EfiArm64 => "arm64",
            IpxeBuild::EfiRiscv64 => "riscv64",
        }
    }
}

/// The whole IANA table: code, name, HTTP boot, iPXE build.
const TABLE: &[(u16, &str, bool, Option<IpxeBuild>)] = {
    use IpxeBuild::*;
    &[
        (0, "x86 BIOS", false, Some(BiosUndi)),
        (1, "NEC/PC98 (deprecated)", false, None),
        (2, "Itanium", false, None),
        (3, "DEC Alpha (deprecated)", false, None),
        (4, "Arc x86 (deprecated)", false, None),
        (5, "Intel Lean Client (deprecated)", false, None),
        (6, "x86 UEFI", false, Some(EfiIa32)),
        (7, "x64 UEFI", false, Some(EfiX64)),
        (8, "EFI Xscale (deprecated)", false, None),
        // RFC 4578 named 9 "EFI x86-64" and 7 "EFI BC"; x86-64 firmware sends both.
        (9, "EBC", false, Some(EfiX64)),
        (10, "ARM 32-bit UEFI", false, Some(EfiArm32)),
        (11, "ARM 64-bit UEFI", false, Some(EfiArm64)),
        (12, "PowerPC Open Firmware", false, None),
        (13, "PowerPC ePAPR", false, None),
        (14, "POWER OPAL v3", false, None),
        (15, "x86 UEFI HTTP boot", true, Some(EfiIa32)),
        (16, "x64 UEFI HTTP boot", true, Some(EfiX64)),
        (17, "EBC HTTP boot", true, Some(EfiX64)),
        (18, "ARM 32-bit UEFI HTTP boot", true, Some(EfiArm32)),
        (19, "ARM 64-bit UEFI HTTP boot", true, Some(EfiArm64)),
        (20, "PC/AT BIOS HTTP boot", true, Some(BiosNative)),
        (21, "ARM 32-bit U-Boot", false, None),
        (22, "ARM 64-bit U-Boot", false, None),
        (23, "ARM 32-bit U-Boot HTTP boot", true, None),
        (24, "ARM 64-bit U-Boot HTTP boot", true, None),
        (25, "RISC-V 32-bit UEFI", false, None),
        (26, "RISC-V 32-bit UEFI HTTP boot", true, None),
        (27, "RISC-V 64-bit UEFI", false, Some(EfiRiscv64)),
        (28, "RISC-V 64-bit UEFI HTTP boot", true, Some(EfiRiscv64)),
        (29, "RISC-V 128-bit UEFI", false, None),
        (30, "RISC-V 128-bit UEFI HTTP boot", true, None),
        (31, "s390 Basic", false, None),
        (32, "s390 Extended", false, None),
        (33, "MIPS 32-bit UEFI", false, None),
        (34, "MIPS 64-bit UEFI", false, None),
        (35, "Sunway 32-bit UEFI", false, None),
        (36, "Sunway 64-bit UEFI", false, None),
        (37, "LoongArch 32-bit UEFI", false, None),
        (38, "LoongArch 32-bit UEFI HTTP boot", true, None),
        (39, "LoongArch 64-bit UEFI", false, None),
        (40, "LoongArch 64-bit UEFI HTTP boot", true, None),
        // The Raspberry Pi network boot ROM; it runs the UEFI port's arm64 iPXE.
        (41, "ARM rpiboot", false, Some(EfiArm64)),
    ]
};

impl ClientArch {
    /// The architecture for an option 93 code; codes past the registry are kept as
    /// "unassigned" with no build, so the caller can refuse them by name.
    pub fn from_code(code: u16) -> ClientArch {
        match TABLE.iter().find(|(c, ..)| *c == code) {
            Some(&(code, name, http, build)) => ClientArch {
                code,
                name,
                http,
                build,
            },
            None => ClientArch {
                code,
                name: "unassigned",
                http: false,
                build: None,
            },
        }
    }
}

impl std::fmt::Display for ClientArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IpxeBuild::*;

    #[test]
    fn every_registry_code_is_in_order_and_named() {
        for (i, (code, name, ..)) in TABLE.iter().enumerate() {
            assert_eq!(*code as usize, i, "{name}");
        }
        assert_eq!(ClientArch::from_code(42).name, "unassigned");
        assert_eq!(ClientArch::from_code(42).build, None);
    }

    #[test]
    fn pxe_firmware_gets_its_build_over_tftp() {
        for (code, build, file) in [
            (0, BiosUndi, "undionly.kpxe"),
            (6, EfiIa32, "ipxe-ia32.efi"),
            (7, EfiX64, "ipxe.efi"),
            (9, EfiX64, "ipxe.efi"),
            (10, EfiArm32, "snp-arm32.efi"),
            (11, EfiArm64, "snp-arm64.efi"),
            (27, EfiRiscv64, "snp-riscv64.efi"),
            (41, EfiArm64, "snp-arm64.efi"),
        ] {
            let a = ClientArch::from_code(code);
            assert!(!a.http, "{a}");
            assert_eq!(a.build, Some(build), "{a}");
            assert_eq!(build.default_file(), file);
        }
    }

    #[test]
    fn http_boot_codes_are_http() {
        for (code, build) in [
            (15, EfiIa32),
            (16, EfiX64),
            (18, EfiArm32),
            (19, EfiArm64),
            (20, BiosNative),
        ] {
            let a = ClientArch::from_code(code);
            assert!(a.http, "{a}");
            assert_eq!(a.build, Some(build), "{a}");
        }
    }

    #[test]
    fn architectures_without_ipxe_have_no_build() {
        for code in [1, 2, 12, 13, 14, 21, 22, 31, 32, 33, 39] {
            assert_eq!(ClientArch::from_code(code).build, None, "{code}");
        }
        assert!(BiosUndi.is_bios() && BiosNative.is_bios() && !EfiX64.is_bios());
    }
}
