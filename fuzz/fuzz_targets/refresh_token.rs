//! The refresh-token decoder (`RefreshToken::parse`).
//!
//! Properties: no panic; the only error is `invalid_request`; accepted text is canonical (the
//! token prints back as exactly that text) and its KV key and successor are well formed. Both
//! the raw input and `srt_` + input are tried, so the fuzzer reaches the decoder quickly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silent_refresh::core::server::secret::Secret;
use silent_refresh::core::server::token::{RefreshToken, TOKEN_LEN};
use silent_refresh::core::server::AuthError;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for candidate in [text.to_string(), format!("srt_{text}")] {
        match RefreshToken::parse(&candidate) {
            Ok(token) => {
                assert_eq!(candidate.len(), TOKEN_LEN);
                assert_eq!(token.as_str(), candidate, "accepted a non-canonical token");
                let key = token.key();
                assert!(key.starts_with("t:") && key.len() == 45);
                let next = token.successor(&Secret::new(vec![7; 32]));
                assert_eq!(RefreshToken::parse(&next.as_str()), Ok(next));
            }
            Err(e) => assert_eq!(e, AuthError::InvalidRequest("malformed refresh token")),
        }
    }
});
