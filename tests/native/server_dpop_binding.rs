//! DPoP binding in the service: login and sessions bind a family to a key, refreshes of a bound
//! family need a proof by that key (a missing proof is refused, another key ends the family),
//! access tokens carry `cnf.jkt` and are refused when presented the wrong way, proofs are
//! single use. Proofs here are taken as already checked against their request (that part is
//! `server_dpop.rs`); what is tested is what the service does with their key and `jti`.

use crate::server_common::{config, puts, run, CLIENT_IP, T0};
use serde_json::Map;
use silent_refresh::core::server::dpop::{DpopError, Proof};
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::records::{FamilyRecord, Revocation};
use silent_refresh::core::server::store::{MemoryStore, Op};
use silent_refresh::core::server::throttle::MemoryThrottle;
use silent_refresh::core::server::{AuthError, AuthService, KvStore};
use std::cell::Cell;

type Svc<'a> = AuthService<'a, &'a MemoryStore, Pbkdf2>;

const KEY_A: &str = "A7Tc0PHDZbuy1nfR-7rKOZqr7G5p0eNvQ4ugzmbIQpc";
const KEY_B: &str = "B3FqJ0LQ3yNwz3JcWnTu8l6u0N2vK3tQ1m8f7xYd9aE";

thread_local! {
    static JTI: Cell<u32> = const { Cell::new(0) };
}

/// A fresh proof (new `jti`) by key `jkt` at `now`.
fn proof(jkt: &str, now: u64) -> Proof {
    let n = JTI.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    Proof {
        jkt: jkt.to_string(),
        jti: format!("jti-{n}"),
        iat: now,
    }
}

fn family(store: &MemoryStore, refresh_token: &str) -> FamilyRecord {
    crate::server_common::family_of(store, refresh_token).1
}

fn revocation(store: &MemoryStore, refresh_token: &str) -> Option<Revocation> {
    let (fam, _) = crate::server_common::family_of(store, refresh_token);
    run(store.get(&format!("r:{fam}")))
        .unwrap()
        .map(|v| serde_json::from_str(&v).unwrap())
}

fn bound_session(svc: &Svc<'_>, now: u64) -> String {
    svc.store.set_time(now);
    let r = run(svc.create_session("alice", Map::new(), Some(&proof(KEY_A, now)), now)).unwrap();
    assert!(r.dpop_bound);
    r.refresh_token.as_str()
}

fn refresh(
    svc: &Svc<'_>,
    token: &str,
    dpop: Option<&Proof>,
    now: u64,
) -> Result<String, AuthError> {
    svc.store.set_time(now);
    run(svc.refresh(token, dpop, now * 1000, &NoUpstream)).map(|r| r.refresh_token.as_str())
}

#[test]
fn login_and_sessions_with_a_proof_bind_the_family_and_the_access_token() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let r = run(svc.login(
        "demo",
        "demo-password",
        CLIENT_IP,
        &MemoryThrottle::new(),
        Some(&proof(KEY_A, T0)),
        T0 * 1000,
    ))
    .unwrap();
    assert!(r.dpop_bound);
    assert_eq!(r.to_json(true)["token_type"], "DPoP");
    assert_eq!(
        family(&store, &r.refresh_token.as_str()).jkt.as_deref(),
        Some(KEY_A)
    );
    let claims = run(svc.verify_access(&r.access_token, Some(&proof(KEY_A, T0)), T0))
        .unwrap()
        .claims;
    assert_eq!(claims["cnf"]["jkt"], KEY_A);

    let s = run(svc.create_session("bob", Map::new(), Some(&proof(KEY_B, T0)), T0)).unwrap();
    assert_eq!(
        family(&store, &s.refresh_token.as_str()).jkt.as_deref(),
        Some(KEY_B)
    );

    // Without a proof everything stays Bearer.
    let plain = run(svc.login(
        "demo",
        "demo-password",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        T0 * 1000,
    ))
    .unwrap();
    assert!(!plain.dpop_bound);
    assert_eq!(plain.to_json(true)["token_type"], "Bearer");
    assert_eq!(family(&store, &plain.refresh_token.as_str()).jkt, None);
    let verified = run(svc.verify_access(&plain.access_token, None, T0)).unwrap();
    assert_eq!(verified.jkt, None);
    assert!(verified.claims.get("cnf").is_none());
}

#[test]
fn a_wrong_password_spends_no_proof_and_binds_nothing() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let p = proof(KEY_A, T0);
    let got = run(svc.login(
        "demo",
        "wrong-password",
        CLIENT_IP,
        &MemoryThrottle::new(),
        Some(&p),
        T0 * 1000,
    ));
    assert_eq!(got.unwrap_err(), AuthError::InvalidCredentials);
    assert!(!store.snapshot().keys().any(|k| k.starts_with("j:")));
}

#[test]
fn a_bound_refresh_needs_a_proof_by_the_same_key() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = bound_session(&svc, T0);

    // No proof: invalid_dpop_proof, and nothing is written (the session survives a client bug).
    store.clear_ops();
    assert_eq!(
        refresh(&svc, &t0, None, T0 + 10),
        Err(AuthError::InvalidDpopProof(DpopError::Missing))
    );
    assert!(!store.ops().iter().any(|op| matches!(op, Op::Put(_))));

    // The right key: rotated, still bound.
    let t1 = refresh(&svc, &t0, Some(&proof(KEY_A, T0 + 20)), T0 + 20).unwrap();
    assert_eq!(family(&store, &t1).jkt.as_deref(), Some(KEY_A));
    let r = run(svc.refresh(
        &t1,
        Some(&proof(KEY_A, T0 + 40)),
        (T0 + 40) * 1000,
        &NoUpstream,
    ))
    .unwrap();
    assert!(r.dpop_bound);
    assert_eq!(
        run(svc.verify_access(&r.access_token, Some(&proof(KEY_A, T0 + 40)), T0 + 40))
            .unwrap()
            .jkt
            .as_deref(),
        Some(KEY_A)
    );
}

#[test]
fn the_current_refresh_token_with_another_key_is_theft_and_ends_the_family() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = bound_session(&svc, T0);
    assert_eq!(
        refresh(&svc, &t0, Some(&proof(KEY_B, T0 + 5)), T0 + 5),
        Err(AuthError::InvalidGrant)
    );
    assert_eq!(revocation(&store, &t0).unwrap().why, "dpop_key");
    // The legitimate client, with its key, is refused too: the session is over.
    assert_eq!(
        refresh(&svc, &t0, Some(&proof(KEY_A, T0 + 6)), T0 + 6),
        Err(AuthError::InvalidGrant)
    );
}

#[test]
fn a_grace_replay_must_come_from_the_same_key() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = bound_session(&svc, T0);
    let t1 = refresh(&svc, &t0, Some(&proof(KEY_A, T0 + 1)), T0 + 1).unwrap();
    // Within the grace window, a retry by the same key gets the same successor.
    let again = refresh(&svc, &t0, Some(&proof(KEY_A, T0 + 2)), T0 + 2).unwrap();
    assert_eq!(again, t1);
    // Without a proof: refused, no revocation.
    assert_eq!(
        refresh(&svc, &t0, None, T0 + 3),
        Err(AuthError::InvalidDpopProof(DpopError::Missing))
    );
    assert!(revocation(&store, &t0).is_none());
    // By another key: refused and the family is ended.
    assert_eq!(
        refresh(&svc, &t0, Some(&proof(KEY_B, T0 + 4)), T0 + 4),
        Err(AuthError::InvalidGrant)
    );
    assert_eq!(revocation(&store, &t0).unwrap().why, "dpop_key");
    assert_eq!(
        refresh(&svc, &t1, Some(&proof(KEY_A, T0 + 5)), T0 + 5),
        Err(AuthError::InvalidGrant)
    );
}

#[test]
fn a_proof_is_single_use_at_every_endpoint() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    store.set_time(T0);
    let login = proof(KEY_A, T0);
    let r = run(svc.create_session("alice", Map::new(), Some(&login), T0)).unwrap();
    // The login proof again, for another login: a replay.
    assert_eq!(
        run(svc.create_session("alice", Map::new(), Some(&login), T0 + 1)).unwrap_err(),
        AuthError::InvalidDpopProof(DpopError::Replay)
    );
    // At the refresh endpoint.
    let p = proof(KEY_A, T0 + 2);
    let t1 = refresh(&svc, &r.refresh_token.as_str(), Some(&p), T0 + 2).unwrap();
    assert_eq!(
        refresh(&svc, &t1, Some(&p), T0 + 3),
        Err(AuthError::InvalidDpopProof(DpopError::Replay))
    );
    // At a resource.
    let q = proof(KEY_A, T0 + 4);
    assert!(run(svc.verify_access(&r.access_token, Some(&q), T0 + 4)).is_ok());
    assert_eq!(
        run(svc.verify_access(&r.access_token, Some(&q), T0 + 5)).unwrap_err(),
        AuthError::ResourceDpopProof(DpopError::Replay)
    );
}

#[test]
fn bound_access_tokens_are_refused_as_bearer_and_with_another_key() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    store.set_time(T0);
    let bound = run(svc.create_session("alice", Map::new(), Some(&proof(KEY_A, T0)), T0))
        .unwrap()
        .access_token;
    let plain = run(svc.create_session("alice", Map::new(), None, T0))
        .unwrap()
        .access_token;
    // A bound token as Bearer (RFC 9449 §7.2), or with a proof by another key.
    assert_eq!(
        run(svc.verify_access(&bound, None, T0)).unwrap_err(),
        AuthError::DpopBinding
    );
    assert_eq!(
        run(svc.verify_access(&bound, Some(&proof(KEY_B, T0)), T0)).unwrap_err(),
        AuthError::DpopBinding
    );
    // A Bearer token presented as DPoP.
    assert_eq!(
        run(svc.verify_access(&plain, Some(&proof(KEY_A, T0)), T0)).unwrap_err(),
        AuthError::DpopBinding
    );
    // Logout-all follows the same rules.
    assert_eq!(
        run(svc.logout_all(&bound, None, T0 * 1000)).unwrap_err(),
        AuthError::DpopBinding
    );
    run(svc.logout_all(&bound, Some(&proof(KEY_A, T0)), T0 * 1000)).unwrap();
    assert_eq!(
        AuthError::DpopBinding.headers(),
        vec![(
            "WWW-Authenticate",
            r#"DPoP error="invalid_token", error_description="the access token's DPoP binding does not match how it was presented", algs="ES256""#.to_string()
        )]
    );
}

#[test]
fn a_proof_for_a_bearer_family_is_spent_and_binds_nothing() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    store.set_time(T0);
    let t0 = run(svc.create_session("alice", Map::new(), None, T0))
        .unwrap()
        .refresh_token
        .as_str();
    let p = proof(KEY_A, T0 + 1);
    store.set_time(T0 + 1);
    let r = run(svc.refresh(&t0, Some(&p), (T0 + 1) * 1000, &NoUpstream)).unwrap();
    assert!(!r.dpop_bound);
    assert_eq!(family(&store, &r.refresh_token.as_str()).jkt, None);
    assert_eq!(
        refresh(&svc, &r.refresh_token.as_str(), Some(&p), T0 + 2),
        Err(AuthError::InvalidDpopProof(DpopError::Replay))
    );
}

#[test]
fn family_records_without_jkt_read_as_bearer() {
    // Records written before DPoP existed have no `jkt` member.
    let old = r#"{"sub":"a","created":1,"abs":2,"gen":0,"rotated_at":1,"ep":0}"#;
    let f: FamilyRecord = serde_json::from_str(old).unwrap();
    assert_eq!(f.jkt, None);
    assert!(!serde_json::to_string(&f).unwrap().contains("jkt"));
}

#[test]
fn the_rotation_wire_form_carries_proofs_binding_and_dpop_errors() {
    use silent_refresh::core::server::rotation::{
        decode_result, encode_result, execute, Answer, Call,
    };
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let start = Call::StartFamily {
        sub: "alice".into(),
        claims: Map::new(),
        dpop: Some(proof(KEY_A, T0)),
        epoch: None,
        upstream: None,
    };
    let wire: Call = serde_json::from_str(&serde_json::to_string(&start).unwrap()).unwrap();
    assert_eq!(wire, start);
    let issued = decode_result(&encode_result(&run(execute(
        &svc,
        &wire,
        T0 * 1000,
        &NoUpstream,
    ))))
    .unwrap();
    let Answer::Issued(r) = issued else {
        panic!("tokens expected")
    };
    assert!(r.dpop_bound);
    let token = r.refresh_token.as_str();
    let missing = Call::Refresh {
        token: token.clone(),
        dpop: None,
    };
    assert_eq!(
        decode_result(&encode_result(&run(execute(
            &svc,
            &missing,
            (T0 + 1) * 1000,
            &NoUpstream,
        ))))
        .unwrap_err(),
        AuthError::InvalidDpopProof(DpopError::Missing)
    );
    for e in [
        AuthError::InvalidDpopProof(DpopError::Replay),
        AuthError::ResourceDpopProof(DpopError::Replay),
        AuthError::DpopBinding,
    ] {
        assert_eq!(
            decode_result(&encode_result(&Err(e.clone()))).unwrap_err(),
            e
        );
    }
    // A Bearer call's wire form is unchanged (no `dpop` member).
    let plain = serde_json::to_string(&Call::Refresh { token, dpop: None }).unwrap();
    assert!(!plain.contains("dpop"));
}

#[test]
fn a_rotation_spends_its_proof_in_the_family_record_and_the_proof_stays_single_use() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = bound_session(&svc, T0);
    let p = proof(KEY_A, T0 + 1);
    store.clear_ops();
    let t1 = refresh(&svc, &t0, Some(&p), T0 + 1).unwrap();
    let (fam, _) = crate::server_common::family_of(&store, &t1);
    assert_eq!(
        puts(&store),
        [format!("f:{fam}")],
        "one write: the family, with the proof"
    );
    assert!(!store.snapshot().contains_key(&p.replay_key()), "no j: key");
    assert_eq!(family(&store, &t1).pj.len(), 1);
    // The same proof again: with the predecessor (a grace replay otherwise), with the successor.
    for token in [&t0, &t1] {
        assert_eq!(
            refresh(&svc, token, Some(&p), T0 + 2),
            Err(AuthError::InvalidDpopProof(DpopError::Replay)),
        );
    }
    // A grace replay with a fresh proof writes no family record: its proof goes to j:.
    let q = proof(KEY_A, T0 + 2);
    store.clear_ops();
    assert_eq!(refresh(&svc, &t0, Some(&q), T0 + 2).unwrap(), t1);
    assert_eq!(puts(&store), [q.replay_key()]);
    assert_eq!(
        refresh(&svc, &t1, Some(&q), T0 + 3),
        Err(AuthError::InvalidDpopProof(DpopError::Replay)),
        "a proof spent in the replay cache is refused at a rotation"
    );
    assert!(refresh(&svc, &t1, Some(&proof(KEY_A, T0 + 3)), T0 + 3).is_ok());
}

#[test]
fn a_family_keeps_a_bounded_list_of_spent_proofs_the_rest_go_to_the_replay_cache() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let mut t = bound_session(&svc, T0);
    // Nine rotations inside one proof window: eight proofs in the record, the ninth in j:.
    let mut proofs = Vec::new();
    for _ in 0..9 {
        let p = proof(KEY_A, T0 + 1);
        store.clear_ops();
        t = refresh(&svc, &t, Some(&p), T0 + 1).unwrap();
        proofs.push((p, puts(&store)));
    }
    let pj = family(&store, &t).pj;
    assert_eq!(pj.len(), 8);
    let (ninth, written) = &proofs[8];
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(
        written[0],
        ninth.replay_key(),
        "the overflow is spent first"
    );
    // Every one of the nine is refused again.
    for (p, _) in &proofs {
        assert_eq!(
            refresh(&svc, &t, Some(p), T0 + 2),
            Err(AuthError::InvalidDpopProof(DpopError::Replay)),
        );
    }
    // Once their window is over, a rotation drops them (and the record holds its own proof).
    let t2 = refresh(&svc, &t, Some(&proof(KEY_A, T0 + 200)), T0 + 200).unwrap();
    assert_eq!(family(&store, &t2).pj.len(), 1);
}
