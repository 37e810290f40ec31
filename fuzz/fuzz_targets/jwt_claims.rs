//! The browser package's JWT claim reader (`claims::read_times`, `read_times_json`).
//!
//! Properties: no panic on any token or payload; a token built around a payload reads exactly as
//! the payload does; and every JSON object that serde_json reads, with `exp`/`iat` absent or
//! unsigned integers, no duplicated member and no deeper nesting than the reader allows, is read
//! with the same `exp` and `iat` (the reader may be more lenient, never stricter).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use silent_refresh::core::b64;
use silent_refresh::core::claims::{read_times, read_times_json, ClaimsError, TokenTimes};
use std::fmt;

/// A JSON object's members in order, duplicates kept.
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// What a correct reader must find, or `None` when the input is outside the property.
fn expected(json: &[u8]) -> Option<TokenTimes> {
    // `\u` escapes can spell a claim name the reader compares raw; nesting beyond its limit is
    // refused by design (both documented in src/core/claims.rs).
    if json.windows(2).any(|w| w == b"\\u")
        || json.iter().filter(|&&c| c == b'[' || c == b'{').count() > 32
    {
        return None;
    }
    let Members(members) = serde_json::from_slice(json).ok()?;
    let mut times = TokenTimes::default();
    let mut seen = Vec::new();
    for (name, value) in &members {
        if seen.contains(&name) {
            return None; // RFC 7519 lets a reader refuse duplicated claims
        }
        seen.push(name);
        match name.as_str() {
            "exp" => times.exp = Some(value.as_u64()?),
            "iat" => times.iat = Some(value.as_u64()?),
            _ => {}
        }
    }
    Some(times)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(times) = read_times(text) {
            let _ = times.lifetime();
        }
    }
    let payload = read_times_json(data);
    if let Some(times) = payload {
        let _ = times.lifetime();
    }
    let token = format!("eyJhbGciOiJFZERTQSJ9.{}.c2ln", b64::encode(data));
    let via_token = read_times(&token);
    if data.is_empty() {
        assert_eq!(
            via_token,
            Err(ClaimsError::NotAJwt),
            "empty payload segment"
        );
    } else if token.len() <= silent_refresh::core::claims::MAX_TOKEN_LEN {
        assert_eq!(
            via_token.ok(),
            payload,
            "token and payload read differently"
        );
        if payload.is_none() {
            assert_eq!(via_token, Err(ClaimsError::BadPayload));
        }
    } else {
        assert_eq!(via_token, Err(ClaimsError::NotAJwt));
    }
    if let Some(want) = expected(data) {
        assert_eq!(payload, Some(want), "valid claims read wrongly");
    }
});
