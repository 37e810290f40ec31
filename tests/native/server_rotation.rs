//! Native tests of the server core: rotation, grace replay, reuse detection, lifetimes,
//! revocation, logout-all and users, against the in-memory store with fixed clocks.

use crate::server_common::{config, puts, run, CLIENT_IP, T0};
use serde_json::{json, Map};
use silent_refresh::core::server::config::RotationStore;
use silent_refresh::core::server::events::RevokeReason;
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::{PasswordHasher, Pbkdf2};
use silent_refresh::core::server::records::{Epoch, FamilyRecord};
use silent_refresh::core::server::store::{MemoryStore, Op};
use silent_refresh::core::server::throttle::MemoryThrottle;
use silent_refresh::core::server::token::RefreshToken;
use silent_refresh::core::server::{AuthError, AuthService, Config, KvStore, TokenResponse};
use std::cell::Cell;

fn session(svc: &AuthService<'_, &MemoryStore, Pbkdf2>, sub: &str, now: u64) -> String {
    svc.store.set_time(now);
    run(svc.create_session(sub, Map::new(), None, now))
        .unwrap()
        .refresh_token
        .as_str()
}

fn refresh(
    svc: &AuthService<'_, &MemoryStore, Pbkdf2>,
    token: &str,
    now: u64,
) -> Result<String, AuthError> {
    svc.store.set_time(now);
    run(svc.refresh(token, None, (now) * 1000, &NoUpstream)).map(|r| r.refresh_token.as_str())
}

#[test]
fn rotation_issues_a_new_token_and_retires_the_old_one() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let t1 = refresh(&svc, &t0, T0 + 100).unwrap();
    assert_ne!(t0, t1);
    let t2 = refresh(&svc, &t1, T0 + 200).unwrap();
    assert_ne!(t1, t2);
    // The successor is the HMAC of the family's value and the predecessor.
    let expect = crate::server_common::expected_successor(&cfg, &store, &t1);
    assert_eq!(t2, expect);
}

#[test]
fn a_login_and_a_rotation_write_the_family_record_alone_and_a_replay_writes_nothing() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    store.clear_ops();
    let t0 = session(&svc, "alice", T0);
    let fam = RefreshToken::parse(&t0).unwrap().family_id().unwrap();
    assert_eq!(puts(&store), [format!("f:{fam}")], "a login");
    store.clear_ops();
    let t1 = refresh(&svc, &t0, T0 + 1).unwrap();
    assert_eq!(puts(&store), [format!("f:{fam}")], "a rotation");
    assert_eq!(RefreshToken::parse(&t1).unwrap().family_id(), Some(fam));
    assert!(!store.snapshot().keys().any(|k| k.starts_with("t:")));
    store.clear_ops();
    assert_eq!(refresh(&svc, &t0, T0 + 2).unwrap(), t1);
    assert!(
        store.ops().iter().all(|o| matches!(o, Op::Get(_))),
        "a replay must not write"
    );
}

#[test]
fn a_chained_family_keeps_its_form_its_replays_and_its_reuse_detection() {
    // A family started before addressed tokens: its token record, then its family record.
    for mode in [RotationStore::Kv, RotationStore::DurableObject] {
        let cfg = Config {
            rotation_store: mode,
            ..config()
        };
        let store = MemoryStore::new();
        store.set_time(T0);
        let svc = AuthService::new(&cfg, &store, Pbkdf2);
        let t0 = crate::server_common::start_chained(&cfg, &store, "alice", T0, true);
        store.clear_ops();
        let t1 = refresh(&svc, &t0, T0 + 1).unwrap();
        assert_eq!(t1.len(), t0.len(), "{mode:?}: still chained");
        assert_eq!(
            t1,
            crate::server_common::expected_successor(&cfg, &store, &t0)
        );
        let written = puts(&store);
        assert_eq!(written.len(), 2, "{mode:?}: {written:?}");
        assert_eq!(
            written[0],
            RefreshToken::parse(&t1).unwrap().key(),
            "successor first"
        );
        assert!(written[1].starts_with("f:legacy-"), "family last");
        assert_eq!(
            refresh(&svc, &t0, T0 + 2).unwrap(),
            t1,
            "{mode:?}: grace replay"
        );
        let t2 = refresh(&svc, &t1, T0 + 3).unwrap();
        assert_eq!(refresh(&svc, &t0, T0 + 100), Err(AuthError::InvalidGrant));
        assert_eq!(
            refresh(&svc, &t2, T0 + 101),
            Err(AuthError::InvalidGrant),
            "{mode:?}: reuse of the ancestor ended the family"
        );
        // Logout of a chained token ends its family.
        let u0 = crate::server_common::start_chained(&cfg, &store, "bob", T0, true);
        run(svc.logout(&u0, RevokeReason::Logout, T0 + 1, &NoUpstream)).unwrap();
        assert_eq!(refresh(&svc, &u0, T0 + 2), Err(AuthError::InvalidGrant));
    }
}

#[test]
fn a_token_made_up_on_a_known_family_is_no_token_of_it_and_changes_nothing() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let t1 = refresh(&svc, &t0, T0 + 1).unwrap();
    let before = store.snapshot();
    // Someone who saw t1 (its handle) makes up tokens of the family: an older generation, the
    // current one and the next, each with t1's tag or another; and the token of another
    // secret. None is a token of the family: `invalid_grant`, and no revocation.
    let raw = silent_refresh::core::b64::decode(&t1[4..]).unwrap();
    let mut made_up = Vec::new();
    for gen in [0u32, 1, 2, 7] {
        for flip in [false, true] {
            let mut b = raw.clone();
            b[24..28].copy_from_slice(&gen.to_be_bytes());
            if flip {
                b[47] ^= 1;
            }
            made_up.push(format!("srt_{}", silent_refresh::core::b64::encode(&b)));
        }
    }
    made_up.retain(|t| *t != t1);
    let other_secret = Config {
        refresh_secret: silent_refresh::core::server::secret::Secret::new(
            crate::server_common::key_bytes(99),
        ),
        ..config()
    };
    made_up.push(crate::server_common::expected_successor(
        &other_secret,
        &store,
        &t0,
    ));
    for t in &made_up {
        assert_eq!(
            refresh(&svc, t, T0 + 2),
            Err(AuthError::InvalidGrant),
            "{t}"
        );
        run(svc.logout(t, RevokeReason::Logout, T0 + 2, &NoUpstream)).unwrap();
    }
    assert_eq!(store.snapshot(), before, "nothing written");
    assert!(refresh(&svc, &t1, T0 + 3).is_ok(), "the family lives on");
}

#[test]
fn every_retired_generation_is_reuse_however_old() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let mut tokens = vec![session(&svc, "alice", T0)];
    for i in 1..6 {
        let next = refresh(&svc, tokens.last().unwrap(), T0 + 100 * i).unwrap();
        tokens.push(next);
    }
    // Generation 1, four rotations back and long past its own idle deadline's start.
    assert_eq!(
        refresh(&svc, &tokens[1], T0 + 1000),
        Err(AuthError::InvalidGrant)
    );
    let (fam, _) = crate::server_common::family_of(&store, &tokens[5]);
    assert!(
        store.snapshot().contains_key(&format!("r:{fam}")),
        "revoked"
    );
    assert_eq!(
        refresh(&svc, &tokens[5], T0 + 1001),
        Err(AuthError::InvalidGrant)
    );
}

fn refresh_ms(
    svc: &AuthService<'_, &MemoryStore, Pbkdf2>,
    token: &str,
    now_ms: u64,
) -> Result<TokenResponse, AuthError> {
    svc.store.set_time(now_ms / 1000);
    run(svc.refresh(token, None, now_ms, &NoUpstream))
}

#[test]
fn grace_replay_returns_the_same_successor_up_to_the_last_millisecond_of_the_window() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let rotated = T0 * 1000 + 50_123;
    let t1 = refresh_ms(&svc, &t0, rotated).unwrap();
    assert_eq!(t1.replay, None);
    let window = cfg.grace * 1000;
    for dt in [0, 1, 999, window - 1] {
        let r = refresh_ms(&svc, &t0, rotated + dt).unwrap();
        assert_eq!(r.refresh_token, t1.refresh_token, "replay at +{dt} ms");
        let replay = r.replay.expect("a grace replay is reported");
        assert_eq!((replay.generation, replay.age_ms), (1, dt));
        assert!(
            !format!("{replay:?}").contains(&t0[4..]),
            "no token in the report"
        );
    }
    // The successor still rotates normally afterwards.
    let t2 = refresh_ms(&svc, &t1.refresh_token.as_str(), rotated + window).unwrap();
    assert_ne!(t2.refresh_token, t1.refresh_token);
}

#[test]
fn a_replay_at_the_first_millisecond_after_the_window_is_reuse() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let rotated = T0 * 1000 + 400;
    let t1 = refresh_ms(&svc, &t0, rotated).unwrap();
    assert_eq!(
        refresh_ms(&svc, &t0, rotated + cfg.grace * 1000).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert_eq!(
        refresh_ms(
            &svc,
            &t1.refresh_token.as_str(),
            rotated + cfg.grace * 1000 + 1
        )
        .unwrap_err(),
        AuthError::InvalidGrant,
        "the family is revoked"
    );
}

#[test]
fn grace_zero_allows_no_replay_even_in_the_same_millisecond() {
    let cfg = Config {
        grace: 0,
        ..config()
    };
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let t1 = refresh_ms(&svc, &t0, T0 * 1000 + 5).unwrap();
    assert_eq!(
        refresh_ms(&svc, &t0, T0 * 1000 + 5).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert_eq!(
        refresh_ms(&svc, &t1.refresh_token.as_str(), T0 * 1000 + 6).unwrap_err(),
        AuthError::InvalidGrant
    );
}

#[test]
fn reuse_after_the_grace_window_revokes_the_family() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let t1 = refresh(&svc, &t0, T0 + 50).unwrap();
    assert_eq!(
        refresh(&svc, &t0, T0 + 50 + cfg.grace + 1),
        Err(AuthError::InvalidGrant)
    );
    assert!(
        store.snapshot().keys().any(|k| k.starts_with("r:")),
        "revocation marker written"
    );
    // The current token of the family is dead too.
    assert_eq!(refresh(&svc, &t1, T0 + 70), Err(AuthError::InvalidGrant));
}

#[test]
fn an_older_ancestor_is_reuse_even_inside_the_grace_window() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let t1 = refresh(&svc, &t0, T0 + 1).unwrap();
    let t2 = refresh(&svc, &t1, T0 + 2).unwrap();
    assert_eq!(refresh(&svc, &t0, T0 + 3), Err(AuthError::InvalidGrant));
    assert_eq!(refresh(&svc, &t2, T0 + 4), Err(AuthError::InvalidGrant));
}

#[test]
fn other_families_are_not_affected_by_reuse() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let a0 = session(&svc, "alice", T0);
    let b0 = session(&svc, "alice", T0);
    refresh(&svc, &a0, T0 + 1).unwrap();
    assert_eq!(refresh(&svc, &a0, T0 + 100), Err(AuthError::InvalidGrant));
    assert!(refresh(&svc, &b0, T0 + 101).is_ok());
}

#[test]
fn idle_lifetime_ends_an_unused_token_and_rotation_extends_it() {
    let cfg = config(); // idle 3600, absolute 36000
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    assert_eq!(
        refresh(&svc, &t0, T0 + 3600),
        Err(AuthError::InvalidGrant),
        "at the idle deadline"
    );
    let t0 = session(&svc, "alice", T0);
    let t1 = refresh(&svc, &t0, T0 + 3599).unwrap();
    // The successor has its own idle deadline, counted from its rotation.
    let t2 = refresh(&svc, &t1, T0 + 3599 + 3599).unwrap();
    assert_eq!(
        refresh(&svc, &t2, T0 + 3599 * 2 + 3600),
        Err(AuthError::InvalidGrant)
    );
}

#[test]
fn absolute_lifetime_is_never_extended_by_rotation() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let mut t = session(&svc, "alice", T0);
    let mut now = T0;
    while now + 3000 < T0 + cfg.refresh_absolute {
        now += 3000;
        t = refresh(&svc, &t, now).unwrap();
    }
    assert_eq!(
        refresh(&svc, &t, T0 + cfg.refresh_absolute),
        Err(AuthError::InvalidGrant)
    );
    // The family's record still holds the first deadline, and expires then.
    store.set_time(T0);
    let (fam, record) = crate::server_common::family_of(&store, &t);
    assert_eq!(record.abs, T0 + cfg.refresh_absolute);
    assert_eq!(
        store.expiry(&format!("f:{fam}")),
        Some(T0 + cfg.refresh_absolute)
    );
}

#[test]
fn logout_revokes_the_whole_family_and_is_idempotent() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let t1 = refresh(&svc, &t0, T0 + 1).unwrap();
    run(svc.logout(&t0, RevokeReason::Logout, T0 + 2, &NoUpstream)).unwrap(); // any token of the family will do
    assert_eq!(refresh(&svc, &t1, T0 + 3), Err(AuthError::InvalidGrant));
    run(svc.logout(&t1, RevokeReason::Logout, T0 + 4, &NoUpstream)).unwrap();
    let unknown = RefreshToken::generate().unwrap().as_str();
    run(svc.logout(&unknown, RevokeReason::Logout, T0, &NoUpstream)).unwrap();
    // A token that is not ours has nothing to revoke: accepted, like an unknown one.
    run(svc.logout("nope", RevokeReason::Logout, T0, &NoUpstream)).unwrap();
}

#[test]
fn revoke_accepts_anything_and_revokes_known_families() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    for junk in [
        "",
        "x",
        "eyJ.a.b",
        &RefreshToken::generate().unwrap().as_str(),
    ] {
        run(svc.logout(junk, RevokeReason::Revoke, T0, &NoUpstream)).unwrap();
    }
    assert!(refresh(&svc, &t0, T0 + 1).is_ok());
    let t1 = crate::server_common::expected_successor(&cfg, &store, &t0);
    run(svc.logout(&t1, RevokeReason::Revoke, T0 + 2, &NoUpstream)).unwrap();
    assert_eq!(refresh(&svc, &t1, T0 + 3), Err(AuthError::InvalidGrant));
}

#[test]
fn logout_all_kills_every_family_and_access_token_of_the_user_only() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let a = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    let a2 = session(&svc, "alice", T0);
    let b = run(svc.create_session("bob", Map::new(), None, T0)).unwrap();
    run(svc.verify_access(&a.access_token, None, T0)).unwrap();
    // Same second as the logins: an epoch counter, not a timestamp, decides.
    run(svc.logout_all(&a.access_token, None, (T0) * 1000)).unwrap();
    assert_eq!(
        run(svc.verify_access(&a.access_token, None, T0)).unwrap_err(),
        AuthError::InvalidToken
    );
    assert_eq!(
        refresh(&svc, &a.refresh_token.as_str(), T0),
        Err(AuthError::InvalidGrant)
    );
    assert_eq!(refresh(&svc, &a2, T0), Err(AuthError::InvalidGrant));
    // A second logout-all with the dead token is refused.
    assert_eq!(
        run(svc.logout_all(&a.access_token, None, (T0) * 1000)),
        Err(AuthError::InvalidToken)
    );
    // Bob is untouched; a new login of Alice in the same second works.
    run(svc.verify_access(&b.access_token, None, T0)).unwrap();
    assert!(refresh(&svc, &b.refresh_token.as_str(), T0 + 1).is_ok());
    let fresh = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    run(svc.verify_access(&fresh.access_token, None, T0)).unwrap();
    assert!(refresh(&svc, &fresh.refresh_token.as_str(), T0 + 1).is_ok());
    let epoch: Epoch = serde_json::from_str(&store.snapshot()["e:alice"]).unwrap();
    assert_eq!(epoch.n, T0 * 1000);
    assert_eq!(store.expiry("e:alice"), None);
}

#[test]
fn a_successor_whose_family_write_was_lost_rolls_forward() {
    // Lost update: a slow rotation of t0 overwrote the family record after t1 was rotated.
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = session(&svc, "alice", T0);
    let fam_key = store
        .snapshot()
        .keys()
        .find(|k| k.starts_with("f:"))
        .unwrap()
        .clone();
    let stale = store.snapshot()[&fam_key].clone();
    let t1 = refresh(&svc, &t0, T0 + 1).unwrap();
    run(store.put(&fam_key, &stale, Some(3600))).unwrap();
    let t2 = refresh(&svc, &t1, T0 + 2).unwrap();
    let fam: FamilyRecord = serde_json::from_str(&store.snapshot()[&fam_key]).unwrap();
    assert_eq!(fam.gen, 2);
    assert!(refresh(&svc, &t2, T0 + 3).is_ok());
}

#[test]
fn only_hashes_are_stored_and_ttls_follow_the_absolute_deadline() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let r = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    let t0 = r.refresh_token.as_str();
    let t1 = refresh(&svc, &t0, T0 + 1).unwrap();
    let dump = format!("{:?}", store.snapshot());
    // Neither token nor the family's handle (bytes 12..24: characters 16..32 of the base64url).
    for secret in [&t0, &t1, &t0[4..], &t1[4..], &t0[4 + 16..4 + 32]] {
        assert!(!dump.contains(secret), "raw token stored");
    }
    assert!(!dump.contains(&r.access_token));
    for (k, _) in store.snapshot() {
        if k.starts_with("t:") || k.starts_with("f:") {
            assert_eq!(store.expiry(&k), Some(T0 + cfg.refresh_absolute), "{k}");
        }
    }
    assert_eq!(r.refresh_expires_in, cfg.refresh_absolute);
}

#[test]
fn an_access_token_is_not_a_refresh_token_and_vice_versa() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let r = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    assert_eq!(
        run(svc.refresh(&r.access_token, None, (T0) * 1000, &NoUpstream)).unwrap_err(),
        AuthError::InvalidGrant
    );
    run(svc.logout(&r.access_token, RevokeReason::Logout, T0, &NoUpstream)).unwrap();
    assert!(refresh(&svc, &r.refresh_token.as_str(), T0 + 1).is_ok());
    assert_eq!(
        run(svc.verify_access(&r.refresh_token.as_str(), None, T0)).unwrap_err(),
        AuthError::InvalidToken
    );
    assert_eq!(
        run(svc.logout_all(&r.refresh_token.as_str(), None, (T0) * 1000)),
        Err(AuthError::InvalidToken)
    );
}

#[test]
fn custom_claims_are_carried_by_every_access_token_and_reserved_names_refused() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let claims = json!({"role": "admin", "org": {"id": 7}})
        .as_object()
        .unwrap()
        .clone();
    let r = run(svc.create_session("alice", claims, None, T0)).unwrap();
    let v = run(svc.verify_access(&r.access_token, None, T0)).unwrap();
    assert_eq!(v.claims["role"], "admin");
    let r2 = run(svc.refresh(
        &r.refresh_token.as_str(),
        None,
        (T0 + 1) * 1000,
        &NoUpstream,
    ))
    .unwrap();
    let v2 = run(svc.verify_access(&r2.access_token, None, T0 + 1)).unwrap();
    assert_eq!(v2.claims["org"]["id"], 7);
    assert_eq!(v2.sub, "alice");
    for bad in [
        json!({"sub": "root"}),
        json!({"exp": 1}),
        json!({"sr_ep": 0}),
        json!({"big": "x".repeat(5000)}),
    ] {
        let m = bad.as_object().unwrap().clone();
        assert!(matches!(
            run(svc.create_session("alice", m, None, T0)),
            Err(AuthError::InvalidRequest(_))
        ));
    }
    for bad_sub in ["", "a\nb", &"x".repeat(257)] {
        assert!(matches!(
            run(svc.create_session(bad_sub, Map::new(), None, T0)),
            Err(AuthError::InvalidRequest(_))
        ));
    }
}

/// Counts KDF runs, to show that unknown users cost the same work.
struct Counting<'a>(&'a Cell<u32>);

impl PasswordHasher for Counting<'_> {
    async fn derive(&self, p: &[u8], s: &[u8], i: u32) -> Result<[u8; 32], AuthError> {
        self.0.set(self.0.get() + 1);
        Pbkdf2.derive(p, s, i).await
    }
}

#[test]
fn login_checks_passwords_without_telling_which_part_was_wrong() {
    let cfg = config();
    let store = MemoryStore::new();
    let kdf_runs = Cell::new(0);
    let svc = AuthService::new(&cfg, &store, Counting(&kdf_runs));
    assert_eq!(
        run(svc.create_user("carol", "correct horse", None)).unwrap(),
        "carol"
    );
    assert_eq!(
        run(svc.create_user("carol", "another one", None)),
        Err(AuthError::UserExists)
    );
    kdf_runs.set(0);
    let ok = run(svc.login(
        "carol",
        "correct horse",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        (T0) * 1000,
    ))
    .unwrap();
    assert_eq!(
        run(svc.verify_access(&ok.access_token, None, T0))
            .unwrap()
            .sub,
        "carol"
    );
    assert_eq!(
        run(svc.login(
            "carol",
            "wrong horse",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            (T0) * 1000,
        ))
        .unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert_eq!(
        run(svc.login(
            "mallory",
            "correct horse",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            (T0) * 1000,
        ))
        .unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert_eq!(
        run(svc.login(
            "bad name!",
            "x",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            (T0) * 1000,
        ))
        .unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert_eq!(
        kdf_runs.get(),
        4,
        "the KDF runs once per attempt, known user or not"
    );
    assert!(matches!(
        run(svc.login(
            "",
            "x",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            (T0) * 1000
        )),
        Err(AuthError::InvalidRequest(_))
    ));
    assert!(matches!(
        run(svc.login(
            "carol",
            "",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            (T0) * 1000
        )),
        Err(AuthError::InvalidRequest(_))
    ));
    assert!(matches!(
        run(svc.login(
            "carol",
            &"x".repeat(2000),
            None,
            &MemoryThrottle::new(),
            None,
            (T0) * 1000,
        )),
        Err(AuthError::InvalidRequest(_))
    ));
    run(svc.delete_user("carol", T0 * 1000)).unwrap();
    assert_eq!(
        run(svc.login(
            "carol",
            "correct horse",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            (T0) * 1000,
        ))
        .unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert!(matches!(
        run(svc.create_user("dave", "short", None)),
        Err(AuthError::InvalidRequest(_))
    ));
    assert_eq!(
        run(svc.create_user("erin", "long enough", Some("user:42"))).unwrap(),
        "user:42"
    );
    let dump = format!("{:?}", store.snapshot());
    assert!(!dump.contains("correct horse") && !dump.contains("long enough"));
}

#[test]
fn the_demo_user_is_seeded_on_its_first_login_attempt() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    assert_eq!(
        run(svc.login(
            "demo",
            "wrong",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            (T0) * 1000,
        ))
        .unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert!(store.snapshot().contains_key("u:demo"));
    let seeded = store.snapshot()["u:demo"].clone();
    run(svc.login(
        "demo",
        "demo-password",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        (T0) * 1000,
    ))
    .unwrap();
    // Seeding is deterministic: a concurrent first login writes the same record.
    let store2 = MemoryStore::new();
    let svc2 = AuthService::new(&cfg, &store2, Pbkdf2);
    run(svc2.login(
        "demo",
        "demo-password",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        (T0) * 1000,
    ))
    .unwrap();
    assert_eq!(store2.snapshot()["u:demo"], seeded);
}

#[test]
fn admin_token_is_checked_exactly() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    svc.check_admin(Some("admin-token-0123456789")).unwrap();
    for bad in [
        None,
        Some(""),
        Some("admin-token-012345678"),
        Some("admin-token-01234567890"),
    ] {
        assert_eq!(svc.check_admin(bad), Err(AuthError::Unauthorized));
    }
}
