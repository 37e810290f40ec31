//! Base64url (`core::b64`) as a property: `decode(encode(b)) == b` for any bytes, the encoding
//! has the unpadded length and alphabet, and decoding is canonical (any text it accepts is
//! exactly the encoding of what it decodes to), never panicking on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silent_refresh::core::b64;

fuzz_target!(|data: &[u8]| {
    let text = b64::encode(data);
    assert_eq!(text.len(), (data.len() * 4).div_ceil(3));
    assert!(text
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    assert_eq!(b64::decode(&text).as_deref(), Some(data));
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(bytes) = b64::decode(s) {
            assert_eq!(b64::encode(&bytes), s, "accepted a non-canonical encoding");
        }
    }
});
