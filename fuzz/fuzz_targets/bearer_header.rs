//! The `Authorization` header (`http::bearer`).
//!
//! Properties: no panic; a token is returned only for the `Bearer` scheme, is non-empty, made of
//! token68 characters, ends the header, and reads back from a canonical `Bearer <token>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silent_refresh::core::server::http::{bearer, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    for h in [header.to_string(), format!("Bearer {header}")] {
        if let Some(token) = bearer(Some(&h)) {
            assert!(h.len() <= MAX_HEADER_LEN);
            assert!(!token.is_empty() && h.ends_with(token));
            assert!(token
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)));
            assert!(h[..h.len() - token.len()]
                .trim_end()
                .eq_ignore_ascii_case("bearer"));
            assert_eq!(bearer(Some(&format!("Bearer {token}"))), Some(token));
        }
    }
    assert_eq!(bearer(None), None);
});
