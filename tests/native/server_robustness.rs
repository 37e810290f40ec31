//! No-panic checks of every parser the Worker runs on request input (body, form, cookie,
//! `Authorization`, refresh token, access token), over random and mutated inputs from a fixed
//! seed. A panic in the Worker aborts the isolate, so none of these may panic on any input; the
//! `cargo fuzz` targets (scripts/fuzz.sh) go further, this keeps a cheap guard in `cargo test`.

use crate::server_common::{config, run, T0};
use serde_json::Map;
use silent_refresh::core::server::http::{bearer, cookie, form_decode, BodyKind, Params};
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::store::MemoryStore;
use silent_refresh::core::server::token::RefreshToken;
use silent_refresh::core::server::{AuthError, AuthService};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// `seed` mutated: bytes flipped, inserted from an alphabet of interesting ones, removed.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        const SPICE: &[u8] = b"{}[]\":,%+=&;. \\\r\n\x00\xff\xc3\xa9-_/srtABCxyz019";
        let mut v = seed.to_vec();
        for _ in 0..=self.below(6) {
            let pick = SPICE[self.below(SPICE.len())];
            match self.below(4) {
                0 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v[i] = pick;
                }
                1 => {
                    let i = self.below(v.len() + 1);
                    v.insert(i, pick);
                }
                2 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v.remove(i);
                }
                _ => {
                    let n = self.below(16);
                    v.extend((0..n).map(|_| self.next() as u8));
                }
            }
        }
        v
    }
}

#[test]
fn request_parsers_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let good = RefreshToken::generate().unwrap().as_str();
    let seeds: Vec<Vec<u8>> = vec![
        format!(r#"{{"refresh_token":"{good}","grant_type":"refresh_token"}}"#).into_bytes(),
        format!("grant_type=refresh_token&refresh_token={good}").into_bytes(),
        br#"{"sub":"a","claims":{"x":[1,2,{"y":null}]}}"#.to_vec(),
        format!("a=1; sr_refresh={good}; b=\"2\"").into_bytes(),
        b"Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln".to_vec(),
        good.clone().into_bytes(),
    ];
    for i in 0..40_000 {
        let input = rng.mutate(&seeds[i % seeds.len()]);
        let _ = Params::parse(BodyKind::Json, &input);
        let _ = Params::parse(BodyKind::Form, &input);
        let text = String::from_utf8_lossy(&input);
        let _ = form_decode(&text);
        let _ = cookie(Some(&text), "sr_refresh");
        let _ = bearer(Some(&text));
        let _ = RefreshToken::parse(&text);
        let _ = BodyKind::of(Some(&text));
    }
}

#[test]
fn token_handling_never_panics_and_never_accepts_garbage() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let r = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    let access = r.access_token.clone().into_bytes();
    let refresh = r.refresh_token.as_str().into_bytes();
    let mut rng = Rng(0x0ddb_a110_cafe_f00d);
    for _ in 0..3_000 {
        let a = String::from_utf8_lossy(&rng.mutate(&access)).into_owned();
        if a != r.access_token {
            assert!(
                run(svc.verify_access(&a, None, T0)).is_err(),
                "mutated access token accepted: {a}"
            );
        }
        let t = String::from_utf8_lossy(&rng.mutate(&refresh)).into_owned();
        if t != r.refresh_token.as_str() {
            match run(svc.refresh(&t, None, (T0) * 1000, &NoUpstream)) {
                Err(AuthError::InvalidRequest(_)) | Err(AuthError::InvalidGrant) => {}
                other => panic!("mutated refresh token: {other:?}"),
            }
        }
    }
    // The real tokens were never touched by the garbage.
    run(svc.verify_access(&r.access_token, None, T0)).unwrap();
    run(svc.refresh(&r.refresh_token.as_str(), None, (T0) * 1000, &NoUpstream)).unwrap();
}
