//! Form request bodies (`Params::parse(BodyKind::Form, ..)`) and `form_decode`.
//!
//! Properties: no panic; every failure is `invalid_request`; an accepted form, re-encoded with
//! every byte outside the unreserved set percent-encoded, parses to the same parameters; and
//! `form_decode` inverts that encoding for any string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silent_refresh::core::server::http::{form_decode, BodyKind, Params};
use silent_refresh::core::server::AuthError;

/// application/x-www-form-urlencoded, conservatively: only `A-Za-z0-9-._*` stay as they are.
fn encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._*".contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    match Params::parse(BodyKind::Form, data) {
        Ok(params) => {
            let names: Vec<&str> = params.names().collect();
            let mut again = Vec::new();
            for name in &names {
                assert!(!name.is_empty(), "empty parameter name accepted");
                let value = params
                    .str(name)
                    .expect("form values are strings")
                    .expect("present");
                again.push(format!("{}={}", encode(name), encode(value)));
            }
            let reparsed = Params::parse(BodyKind::Form, again.join("&").as_bytes())
                .expect("re-encoded form refused");
            assert_eq!(reparsed, params, "re-encoded form parses differently");
        }
        Err(AuthError::InvalidRequest(_)) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
    let text = String::from_utf8_lossy(data);
    assert_eq!(
        form_decode(&encode(&text)).as_deref(),
        Ok(&*text),
        "form_decode(encode(s)) != s"
    );
    let _ = form_decode(&text);
});
