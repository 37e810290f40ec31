//! The `Cookie` header (`http::cookie`), plus the other header-derived helpers the Worker runs on
//! request input: `origin_of` (request URL) and `cookie_secure` (loopback detection).
//!
//! Properties: no panic; an over-long header is refused; a found value is a slice of the header
//! without `;`, and a header built from it alone gives it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silent_refresh::core::server::http::{
    cookie, cookie_secure, origin_of, COOKIE_NAME, MAX_HEADER_LEN,
};
use silent_refresh::core::server::{AuthError, Config};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    // The first line of the input, when there are two, names the cookie; else the real name.
    let (name, header) = match header.split_once('\n') {
        Some((n, h)) if !n.contains(['=', ';']) && !n.trim().is_empty() && n.trim() == n => (n, h),
        _ => (COOKIE_NAME, header),
    };
    match cookie(Some(header), name) {
        Ok(Some(value)) => {
            assert!(header.len() <= MAX_HEADER_LEN);
            assert!(!value.contains(';') && header.contains(value));
            // Without surrounding quotes or spaces a value reads back as itself.
            if !value.is_empty()
                && value.trim() == value
                && !value.starts_with('"')
                && !value.ends_with('"')
            {
                assert_eq!(
                    cookie(Some(&format!("{name}={value}")), name),
                    Ok(Some(value))
                );
            }
        }
        Ok(None) => assert!(header.len() <= MAX_HEADER_LEN),
        Err(AuthError::InvalidRequest(_)) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
    assert_eq!(cookie(None, name), Ok(None));
    if let Some(origin) = origin_of(header) {
        assert!(header.starts_with(origin));
    }
    let _ = cookie_secure(&Config::default(), header);
});
