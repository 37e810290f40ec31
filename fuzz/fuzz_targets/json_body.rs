//! JSON request bodies (`Params::parse(BodyKind::Json, ..)`), and `BodyKind::of` on the same
//! bytes read as a `Content-Type`.
//!
//! Properties: no panic; every failure is `invalid_request`; the parser agrees with serde_json:
//! what it accepts is exactly the object serde_json reads (same names, equal members), what
//! serde_json refuses as an object it refuses too, and it refuses an object serde_json reads only
//! for a duplicated member.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use silent_refresh::core::server::http::{BodyKind, Params};
use silent_refresh::core::server::AuthError;

fuzz_target!(|data: &[u8]| {
    if let Ok(ct) = std::str::from_utf8(data) {
        let _ = BodyKind::of(Some(ct));
    }
    let ours = Params::parse(BodyKind::Json, data);
    let reference = serde_json::from_slice::<Map<String, Value>>(data);
    match ours {
        Ok(params) => {
            let map = reference.expect("accepted a body serde_json refuses as an object");
            assert!(
                params.names().eq(map.keys().map(String::as_str)),
                "member names differ"
            );
            for (name, value) in &map {
                match value {
                    Value::Null => assert_eq!(params.str(name), Ok(None)),
                    Value::String(s) => {
                        assert_eq!(params.str(name), Ok(Some(s.as_str())));
                        let _ = params.required(name, "missing");
                    }
                    Value::Object(m) => assert_eq!(params.object(name), Ok(Some(m))),
                    _ => assert!(params.str(name).is_err() && params.object(name).is_err()),
                }
            }
        }
        Err(AuthError::InvalidRequest(why)) => {
            // serde_json's Map keeps the last of duplicated members, so the only reason to refuse
            // an object it reads is a duplicate. (A duplicate may also be reported for a body
            // whose syntax breaks after it: still 400 invalid_request.)
            if reference.is_ok() {
                assert_eq!(
                    why, "duplicated parameter",
                    "refused an object serde_json reads"
                );
            }
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
