//! cloud-init write_files decoding: any YAML list never panics, and every entry it accepts
//! is an absolute-or-not path with text or base64 content the host phase can decode.
#![no_main]

use base64::Engine;
use kateskit::agent::nocloud::{self, files};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_yaml_ng::from_slice::<serde_yaml_ng::Value>(data) else {
        return;
    };
    let tagged = serde_yaml_ng::from_slice(&nocloud::local_binary_tags(data)).ok();
    let Ok(entries) = files::map(&v, tagged.as_ref(), "fuzz") else {
        return;
    };
    for e in entries {
        let content = e["content"].as_str().expect("content is text");
        if e.get("encoding").is_some() {
            base64::engine::general_purpose::STANDARD
                .decode(content)
                .expect("b64 content decodes");
        }
        if let Some(p) = e.get("permissions") {
            u32::from_str_radix(p.as_str().unwrap(), 8).expect("octal mode");
        }
    }
});
