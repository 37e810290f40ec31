//! The refresh-token decoder (`RefreshToken::parse`).
//!
//! Properties: no panic; the only error is `invalid_grant`; accepted text is one of the two
//! forms' lengths and canonical (the token prints back as exactly that text); a chained token's
//! KV key and successor, and an addressed token's family id and successor, are well formed.
//! Both the raw input and `srt_` + input are tried, so the fuzzer reaches the decoder quickly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silent_refresh::core::server::secret::Secret;
use silent_refresh::core::server::token::{RefreshToken, ADDRESSED_TOKEN_LEN, TOKEN_LEN};
use silent_refresh::core::server::AuthError;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let secret = Secret::new(vec![7; 32]);
    for candidate in [text.to_string(), format!("srt_{text}")] {
        match RefreshToken::parse(&candidate) {
            Ok(token) => {
                assert_eq!(token.as_str(), candidate, "accepted a non-canonical token");
                if token.is_addressed() {
                    assert_eq!(candidate.len(), ADDRESSED_TOKEN_LEN);
                    assert_eq!(token.family_id().map(|f| f.len()), Some(22));
                    if let Some(next) = token.next_addressed(&secret, &[1; 32]) {
                        assert_eq!(next.generation(), token.generation().map(|g| g + 1));
                        assert!(next.authentic(&secret, &[1; 32]));
                        assert_eq!(RefreshToken::parse(&next.as_str()), Ok(next));
                    }
                } else {
                    assert_eq!(candidate.len(), TOKEN_LEN);
                    let key = token.key();
                    assert!(key.starts_with("t:") && key.len() == 45);
                    let next = token.successor(&secret, Some(&[1; 32]));
                    assert_eq!(RefreshToken::parse(&next.as_str()), Ok(next));
                }
            }
            Err(e) => assert_eq!(e, AuthError::InvalidGrant),
        }
    }
});
