//! What to set on the site's own DHCP server when firmware ignores ProxyDHCP: the TFTP server
//! and iPXE build for PXE firmware, the chain script URL for iPXE. One renderer per server
//! product; docs/netboot.md shows their output for the placeholder [`SiteParams::placeholder`]
//! (a test compares the two, so the page cannot drift from what the doctor prints).

use serde::Serialize;

/// The values a snippet names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteParams {
    /// The netboot server's address (TFTP next-server, HTTP host).
    pub server: String,
    /// The iPXE chain script, `http://SERVER:HTTP_PORT/boot.ipxe`.
    pub script_url: String,
    /// The segment's network (`192.0.2.0/24`), for RouterOS's `network` entry.
    pub network: String,
}

impl SiteParams {
    pub fn new(server: &str, http_port: u16, network: &str) -> SiteParams {
        SiteParams {
            server: server.to_string(),
            script_url: format!("http://{server}:{http_port}/boot.ipxe"),
            network: network.to_string(),
        }
    }

    /// The values docs/netboot.md shows: `SERVER` and `NETWORK` stand for the real ones.
    pub fn placeholder() -> SiteParams {
        SiteParams::new("SERVER", 8080, "NETWORK")
    }
}

/// One server product's snippet.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SiteConfig {
    /// `dnsmasq`, `isc-dhcpd`, `kea`, `mikrotik`, `unifi`.
    pub server: &'static str,
    /// Where the snippet goes.
    pub title: &'static str,
    pub text: String,
}

/// Every product's snippet, in the order the docs list them.
pub fn site_configs(p: &SiteParams) -> Vec<SiteConfig> {
    vec![
        SiteConfig {
            server: "dnsmasq",
            title: "dnsmasq (dnsmasq.conf or a file in /etc/dnsmasq.d)",
            text: dnsmasq(p),
        },
        SiteConfig {
            server: "isc-dhcpd",
            title: "ISC dhcpd (dhcpd.conf, at the top level: option definitions must be global)",
            text: isc(p),
        },
        SiteConfig {
            server: "kea",
            title: "Kea (entries of Dhcp4.client-classes in kea-dhcp4.conf)",
            text: kea(p),
        },
        SiteConfig {
            server: "mikrotik",
            title: "MikroTik RouterOS 7.4 or later (terminal; `dhcp1` is the DHCP server's name)",
            text: mikrotik(p),
        },
        SiteConfig {
            server: "unifi",
            title: "UniFi Network (web UI)",
            text: unifi(p),
        },
    ]
}

/// The snippets as docs/netboot.md shows them: a title line, then a fenced block each.
pub fn markdown(p: &SiteParams) -> String {
    site_configs(p)
        .iter()
        .map(|c| format!("{}:\n\n```\n{}```\n", c.title, c.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Tags by option 93 (7 and 9 are both x86-64 UEFI) and by iPXE's user class; iPXE gets the
/// script, so it never loads itself again.
pub fn dnsmasq(p: &SiteParams) -> String {
    let SiteParams {
        server, script_url, ..
    } = p;
    format!(
        "dhcp-match=set:efi64,option:client-arch,7\n\
         dhcp-match=set:efi64,option:client-arch,9\n\
         dhcp-userclass=set:ipxe,iPXE\n\
         dhcp-boot=tag:ipxe,{script_url}\n\
         dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,{server}\n\
         dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe,,{server}\n"
    )
}

/// ISC dhcpd compares option 93's raw bytes; iPXE sends user class `iPXE` as a bare string.
pub fn isc(p: &SiteParams) -> String {
    let SiteParams {
        server, script_url, ..
    } = p;
    format!(
        "option kateskit-arch code 93 = unsigned integer 16;\n\
         next-server {server};\n\
         if exists user-class and option user-class = \"iPXE\" {{\n\
         \x20 filename \"{script_url}\";\n\
         }} elsif option kateskit-arch = 00:07 or option kateskit-arch = 00:09 {{\n\
         \x20 filename \"ipxe.efi\";\n\
         }} else {{\n\
         \x20 filename \"undionly.kpxe\";\n\
         }}\n"
    )
}

/// Kea evaluates classes in order, so `member('ipxe')` may be used by the later ones.
pub fn kea(p: &SiteParams) -> String {
    let SiteParams {
        server, script_url, ..
    } = p;
    format!(
        "{{ \"name\": \"ipxe\", \"test\": \"substring(option[77].hex,0,4) == 'iPXE'\",\n\
         \x20 \"boot-file-name\": \"{script_url}\" }},\n\
         {{ \"name\": \"efi64\", \"test\": \"not member('ipxe') and (option[93].hex == 0x0007 or option[93].hex == 0x0009)\",\n\
         \x20 \"next-server\": \"{server}\", \"boot-file-name\": \"ipxe.efi\" }},\n\
         {{ \"name\": \"bios\", \"test\": \"not member('ipxe') and option[93].hex == 0x0000\",\n\
         \x20 \"next-server\": \"{server}\", \"boot-file-name\": \"undionly.kpxe\" }}\n"
    )
}

/// RouterOS names one boot file per network; a matcher on option 77 gives iPXE the script
/// as option 67 instead. Without the matcher (RouterOS 6) iPXE would load itself again.
pub fn mikrotik(p: &SiteParams) -> String {
    let SiteParams {
        server,
        script_url,
        network,
    } = p;
    format!(
        "/ip dhcp-server network set [find address=\"{network}\"] next-server={server} boot-file-name=ipxe.efi\n\
         /ip dhcp-server option add name=kateskit-script code=67 value=\"'{script_url}'\"\n\
         /ip dhcp-server option sets add name=kateskit-ipxe options=kateskit-script\n\
         /ip dhcp-server matcher add name=kateskit-ipxe server=dhcp1 code=77 value=iPXE option-set=kateskit-ipxe\n"
    )
}

/// UniFi has one boot file per network and no class matching: UEFI fleets take `ipxe.efi`,
/// BIOS fleets `undionly.kpxe`.
pub fn unifi(p: &SiteParams) -> String {
    let server = &p.server;
    format!(
        "Settings > Networks > (the network) > DHCP > Network Boot: on\n\
         Server: {server}\n\
         Filename: ipxe.efi (UEFI machines) or undionly.kpxe (BIOS machines)\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_snippet_names_the_server_and_no_placeholder_is_left() {
        let p = SiteParams::new("198.51.100.7", 9080, "198.51.100.0/24");
        for c in site_configs(&p) {
            assert!(c.text.contains("198.51.100.7"), "{}", c.server);
            assert!(!c.text.contains("SERVER"), "{}", c.server);
            if c.server != "unifi" {
                assert!(
                    c.text.contains("http://198.51.100.7:9080/boot.ipxe"),
                    "{}",
                    c.server
                );
            }
        }
        assert!(mikrotik(&p).contains("address=\"198.51.100.0/24\""));
    }
}
