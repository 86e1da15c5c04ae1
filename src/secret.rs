//! `Secret`: a token, key or password that never prints.
//!
//! `Debug` and `Display` show [`REDACTED`]; the value is reached only through [`Secret::expose`],
//! so every place that needs it is greppable. Serialisation is the plain string: only the
//! documents that must carry the value (a NodeConfig, the cluster's secrets directory) contain
//! a `Secret`, and the status and report types never do.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret prints as.
pub const REDACTED: &str = "<redacted>";

/// A secret string (token, private key PEM, password).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the few places that write or send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Accepts only a string, and reports a wrong type without quoting the input (serde's own
/// message for a number or a bool quotes it).
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        struct V;
        fn wrong_type<E: serde::de::Error>() -> E {
            E::custom("invalid type: expected a string (value not shown)")
        }
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(wrong_type())
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(wrong_type())
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(wrong_type())
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(wrong_type())
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Secret, E> {
                Err(wrong_type())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(wrong_type())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(wrong_type())
            }
        }
        d.deserialize_any(V)
    }
}

/// The schema of a plain string, so the generated schema does not change.
impl JsonSchema for Secret {
    fn schema_name() -> String {
        String::schema_name()
    }
    fn json_schema(g: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        String::json_schema(g)
    }
    fn is_referenceable() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact_serde_is_plain() {
        let s = Secret::new("K10abc::server:LEAKMARKER");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "K10abc::server:LEAKMARKER");
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, "\"K10abc::server:LEAKMARKER\"");
        let back: Secret = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_wrong_type_is_reported_without_the_value() {
        let e = serde_json::from_str::<Secret>("12345678").unwrap_err();
        assert!(!e.to_string().contains("12345678"), "{e}");
    }
}
