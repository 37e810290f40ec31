//! Sessions and the server's secrets: what rotating `REFRESH_SECRET` does (every session ends, in
//! both stores), ending a subject's sessions after a rotation (it reaches every live session),
//! the deployment-wide end (`SESSIONS_NOT_BEFORE`), successors bound to a per-family random
//! value (the secret and an old token alone compute nothing), `REQUIRE_DPOP`, and account
//! changes that a retry finishes.
//!
//! Strict mode is run as the Worker runs it: `rotation::route_of` picks the object, one
//! `MemoryStore` per route stands for one Durable Object, and `rotation::execute` runs the call.

use crate::server_common::{config, family_of, key_bytes, run, CLIENT_IP, T0};
use serde_json::Map;
use silent_refresh::core::server::config::RotationStore;
use silent_refresh::core::server::dpop::{DpopError, Proof};
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::records::Epoch;
use silent_refresh::core::server::rotation::{execute, route_of, Answer, Call};
use silent_refresh::core::server::secret::Secret;
use silent_refresh::core::server::store::{Fault, FaultyStore, MemoryStore};
use silent_refresh::core::server::throttle::MemoryThrottle;
use silent_refresh::core::server::token::{RefreshToken, ROUTE_LEN};
use silent_refresh::core::server::{AuthError, AuthService, Config, KvStore, TokenResponse};
use std::collections::HashMap;

const MS: u64 = 1000;

/// Starts a family as the version before the family value wrote it: chained, no value, no
/// secret id.
fn start_legacy(cfg: &Config, store: &MemoryStore, sub: &str, now: u64) -> String {
    crate::server_common::start_chained(cfg, store, sub, now, false)
}

fn rotated(cfg: &mut Config, seed: u8) {
    cfg.refresh_secret = Secret::new(key_bytes(seed));
}

fn refresh(cfg: &Config, store: &MemoryStore, token: &str, now: u64) -> Result<String, AuthError> {
    store.set_time(now);
    let svc = AuthService::new(cfg, store, Pbkdf2);
    run(svc.refresh(token, None, now * MS, &NoUpstream)).map(|r| r.refresh_token.as_str())
}

fn start(cfg: &Config, store: &MemoryStore, sub: &str, now: u64) -> TokenResponse {
    store.set_time(now);
    let svc = AuthService::new(cfg, store, Pbkdf2);
    run(svc.create_session(sub, Map::new(), None, now)).unwrap()
}

/// Strict mode's objects: one store per route, created on first use.
#[derive(Default)]
struct Objects(HashMap<[u8; ROUTE_LEN], MemoryStore>);

impl Objects {
    /// Runs `call` in the object the Worker would send it to, at `now` (seconds).
    fn call(&mut self, cfg: &Config, call: Call, now: u64) -> Result<Answer, AuthError> {
        let Some(route) = route_of(cfg, &call, now)? else {
            return Ok(Answer::Done);
        };
        // KV mode: one store for everything.
        let route = match cfg.rotation_store {
            RotationStore::Kv => [0; ROUTE_LEN],
            RotationStore::DurableObject => route,
        };
        let store = self.0.entry(route).or_default();
        store.set_time(now);
        let svc = AuthService::new(cfg, &*store, Pbkdf2);
        run(execute(&svc, &call, now * MS, &NoUpstream))
    }

    fn start(&mut self, cfg: &Config, sub: &str, now: u64) -> TokenResponse {
        let call = Call::StartFamily {
            sub: sub.into(),
            claims: Map::new(),
            dpop: None,
            epoch: None,
            upstream: None,
        };
        match self.call(cfg, call, now).unwrap() {
            Answer::Issued(r) => r,
            other => panic!("tokens expected, got {other:?}"),
        }
    }

    fn refresh(&mut self, cfg: &Config, token: &str, now: u64) -> Result<String, AuthError> {
        let call = Call::Refresh {
            token: token.into(),
            dpop: None,
        };
        match self.call(cfg, call, now)? {
            Answer::Issued(r) => Ok(r.refresh_token.as_str()),
            other => panic!("tokens expected, got {other:?}"),
        }
    }

    fn end(&mut self, cfg: &Config, sub: &str, now: u64) {
        let call = Call::EndSessions { sub: sub.into() };
        assert!(matches!(
            self.call(cfg, call, now),
            Ok(Answer::Epoch { .. })
        ));
    }
}

fn strict() -> Config {
    Config {
        rotation_store: RotationStore::DurableObject,
        ..config()
    }
}

#[test]
fn rotating_the_refresh_secret_ends_every_session_in_kv_mode() {
    let mut cfg = config();
    let store = MemoryStore::new();
    let t0 = start(&cfg, &store, "alice", T0).refresh_token.as_str();
    let t1 = refresh(&cfg, &store, &t0, T0 + 1).unwrap();
    // A family from before the secret id existed, refreshed once under the old secret: marked.
    let old = start_legacy(&cfg, &store, "bob", T0);
    let old1 = refresh(&cfg, &store, &old, T0 + 1).unwrap();
    rotated(&mut cfg, 43);
    assert_eq!(
        refresh(&cfg, &store, &t1, T0 + 2),
        Err(AuthError::InvalidGrant)
    );
    // The grace replay of the predecessor too.
    assert_eq!(
        refresh(&cfg, &store, &t0, T0 + 2),
        Err(AuthError::InvalidGrant)
    );
    assert_eq!(
        refresh(&cfg, &store, &old1, T0 + 2),
        Err(AuthError::InvalidGrant)
    );
    // New sessions live under the new secret.
    let n0 = start(&cfg, &store, "alice", T0 + 3).refresh_token.as_str();
    assert!(refresh(&cfg, &store, &n0, T0 + 4).is_ok());
}

#[test]
fn rotating_the_refresh_secret_ends_every_session_in_strict_mode_even_unmarked_ones() {
    let mut cfg = strict();
    let mut objects = Objects::default();
    let t0 = objects.start(&cfg, "alice", T0).refresh_token.as_str();
    let t1 = objects.refresh(&cfg, &t0, T0 + 1).unwrap();
    // A family from before the secret id existed, never refreshed since: only its route tells.
    let route = RefreshToken::route_of(&cfg.refresh_secret, "alice");
    let old = start_legacy(&cfg, objects.0.entry(route).or_default(), "alice", T0);
    rotated(&mut cfg, 43);
    assert_eq!(
        objects.refresh(&cfg, &t1, T0 + 2),
        Err(AuthError::InvalidGrant)
    );
    assert_eq!(
        objects.refresh(&cfg, &old, T0 + 2),
        Err(AuthError::InvalidGrant)
    );
    let n0 = objects.start(&cfg, "alice", T0 + 3).refresh_token.as_str();
    assert_ne!(
        RefreshToken::parse(&n0).unwrap().route(),
        route,
        "a new object"
    );
    assert!(objects.refresh(&cfg, &n0, T0 + 4).is_ok());
}

#[test]
fn after_a_rotation_ending_a_subjects_sessions_reaches_every_live_session() {
    for mode in [RotationStore::Kv, RotationStore::DurableObject] {
        let mut cfg = Config {
            rotation_store: mode,
            ..config()
        };
        let mut objects = Objects::default();
        let before = objects.start(&cfg, "alice", T0).refresh_token.as_str();
        rotated(&mut cfg, 43);
        let after = objects.start(&cfg, "alice", T0 + 1).refresh_token.as_str();
        let after = objects.refresh(&cfg, &after, T0 + 2).unwrap();
        objects.end(&cfg, "alice", (T0 + 3) * MS);
        for (what, token) in [("before", &before), ("after", &after)] {
            assert_eq!(
                objects.refresh(&cfg, token, T0 + 4),
                Err(AuthError::InvalidGrant),
                "{mode:?}: session started {what} the rotation"
            );
        }
    }
}

#[test]
fn a_stolen_secret_and_an_old_token_do_not_give_the_live_token() {
    for mode in [RotationStore::Kv, RotationStore::DurableObject] {
        let cfg = Config {
            rotation_store: mode,
            ..config()
        };
        let mut objects = Objects::default();
        let t0 = objects.start(&cfg, "alice", T0).refresh_token.as_str();
        let t1 = objects.refresh(&cfg, &t0, T0 + 1).unwrap();
        let old = RefreshToken::parse(&t0).unwrap();
        // What the secret and the token give: the next generation tagged without the family's
        // value (none, or zeros), and the earlier derivation, routed or not.
        let secret = &cfg.refresh_secret;
        let guesses = [
            old.next_addressed(secret, &[]).unwrap().as_str(),
            old.next_addressed(secret, &[0; 32]).unwrap().as_str(),
            old.successor(secret, None).as_str(),
            old.successor_routed(secret, None).as_str(),
        ];
        assert!(
            !guesses.contains(&t1),
            "{mode:?}: derived from secret + token"
        );
        // Positive control: with the family's value (kept only in its record) it is derivable,
        // so the value is what the attacker lacks.
        let store = objects.0.values().next().unwrap();
        assert_eq!(
            crate::server_common::expected_successor(&cfg, store, &t0),
            t1
        );
        // Grace replays stay idempotent: the same successor, twice.
        assert_eq!(objects.refresh(&cfg, &t0, T0 + 2).unwrap(), t1);
        assert_eq!(objects.refresh(&cfg, &t0, T0 + 3).unwrap(), t1);
    }
}

#[test]
fn families_from_before_the_family_value_keep_their_derivation_and_their_replays() {
    let cfg = config();
    let store = MemoryStore::new();
    let t0 = start_legacy(&cfg, &store, "alice", T0);
    let t1 = refresh(&cfg, &store, &t0, T0 + 1).unwrap();
    let legacy = RefreshToken::parse(&t0)
        .unwrap()
        .successor(&cfg.refresh_secret, None)
        .as_str();
    assert_eq!(
        t1, legacy,
        "the earlier derivation, so no live session is lost at deploy"
    );
    assert_eq!(
        refresh(&cfg, &store, &t0, T0 + 2).unwrap(),
        t1,
        "grace replay"
    );
    let t2 = refresh(&cfg, &store, &t1, T0 + 3).unwrap();
    let (_, fam) = family_of(&store, &t2);
    assert!(
        fam.k.is_none() && fam.sk.is_some(),
        "marked with its secret by the rotation"
    );
}

#[test]
fn sessions_not_before_ends_every_earlier_session_and_access_token_in_both_stores() {
    for mode in [RotationStore::Kv, RotationStore::DurableObject] {
        let mut cfg = Config {
            rotation_store: mode,
            ..config()
        };
        let mut objects = Objects::default();
        let kv = MemoryStore::new();
        let old = objects.start(&cfg, "alice", T0);
        let other = objects.start(&cfg, "bob", T0 + 5);
        let other_t1 = objects
            .refresh(&cfg, &other.refresh_token.as_str(), T0 + 6)
            .unwrap();
        {
            let svc = AuthService::new(&cfg, &kv, Pbkdf2);
            assert!(run(svc.verify_access(&old.access_token, None, T0 + 1)).is_ok());
        }
        cfg.sessions_not_before = T0 + 10;
        assert_eq!(
            objects.refresh(&cfg, &old.refresh_token.as_str(), T0 + 11),
            Err(AuthError::InvalidGrant),
            "{mode:?}"
        );
        assert_eq!(
            objects.refresh(&cfg, &other_t1, T0 + 11),
            Err(AuthError::InvalidGrant),
            "{mode:?}: started before, refreshed before: over too"
        );
        let svc = AuthService::new(&cfg, &kv, Pbkdf2);
        assert_eq!(
            run(svc.verify_access(&old.access_token, None, T0 + 11)).unwrap_err(),
            AuthError::InvalidToken
        );
        let new = objects.start(&cfg, "alice", T0 + 10);
        assert!(run(svc.verify_access(&new.access_token, None, T0 + 11)).is_ok());
        assert!(objects
            .refresh(&cfg, &new.refresh_token.as_str(), T0 + 11)
            .is_ok());
    }
}

#[test]
fn a_first_login_in_a_new_object_starts_at_kvs_epoch() {
    // After a rotation the subject's new object has no epoch; KV's copy (where access tokens
    // are checked) has the one of the last logout-all. The Worker sends it with StartFamily.
    let cfg = strict();
    let kv = MemoryStore::new();
    let epoch = Epoch {
        n: 1_700_000_000_123,
        at: T0,
    };
    run(kv.put("e:alice", &serde_json::to_string(&epoch).unwrap(), None)).unwrap();
    let mut objects = Objects::default();
    let call = Call::StartFamily {
        sub: "alice".into(),
        claims: Map::new(),
        dpop: None,
        epoch: Some(epoch),
        upstream: None,
    };
    let Ok(Answer::Issued(r)) = objects.call(&cfg, call, T0) else {
        panic!("tokens expected")
    };
    let svc = AuthService::new(&cfg, &kv, Pbkdf2);
    assert!(run(svc.verify_access(&r.access_token, None, T0 + 1)).is_ok());
    assert!(objects
        .refresh(&cfg, &r.refresh_token.as_str(), T0 + 1)
        .is_ok());
}

fn proof(jti: &str, now: u64) -> Proof {
    Proof {
        jkt: "A7Tc0PHDZbuy1nfR-7rKOZqr7G5p0eNvQ4ugzmbIQpc".into(),
        jti: jti.into(),
        iat: now,
    }
}

#[test]
fn require_dpop_refuses_sessions_without_a_proof_and_unbound_families() {
    let mut cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let bearer = start(&cfg, &store, "alice", T0).refresh_token.as_str();
    cfg.require_dpop = true;
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let missing = AuthError::InvalidDpopProof(DpopError::Missing);
    let before = store.snapshot().len();
    assert_eq!(
        run(svc.create_session("alice", Map::new(), None, T0)).unwrap_err(),
        missing
    );
    let throttle = MemoryThrottle::new();
    assert_eq!(
        run(svc.login(
            "carol",
            "correct horse",
            CLIENT_IP,
            &throttle,
            None,
            T0 * MS
        ))
        .unwrap_err(),
        missing
    );
    assert_eq!(
        run(svc.refresh(&bearer, None, T0 * MS, &NoUpstream)).unwrap_err(),
        missing
    );
    assert_eq!(
        run(svc.refresh(&bearer, Some(&proof("p1", T0)), T0 * MS, &NoUpstream)).unwrap_err(),
        missing,
        "a proof does not bind a Bearer family after the fact"
    );
    // Login's throttle records aside, nothing was written.
    assert_eq!(store.snapshot().len(), before);
    let bound = run(svc.login(
        "carol",
        "correct horse",
        CLIENT_IP,
        &throttle,
        Some(&proof("p2", T0)),
        T0 * MS,
    ))
    .unwrap();
    assert!(bound.dpop_bound);
    let next = run(svc.refresh(
        &bound.refresh_token.as_str(),
        Some(&proof("p3", T0)),
        T0 * MS,
        &NoUpstream,
    ))
    .unwrap();
    assert!(next.dpop_bound);
}

#[test]
fn deleting_an_unknown_user_answers_like_changing_its_password() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    assert_eq!(
        run(svc.delete_user("ghost", T0 * MS)).unwrap_err(),
        AuthError::NoSuchUser
    );
    assert_eq!(
        run(svc.set_password("ghost", "battery staple", T0 * MS)).unwrap_err(),
        AuthError::NoSuchUser
    );
}

#[test]
fn an_account_change_that_fails_midway_is_finished_by_its_retry() {
    // Every store operation of the deletion and the password change fails once in turn; the
    // retry must end every session (and the change must be done).
    for change in ["delete", "password"] {
        let mut n = 0;
        loop {
            let cfg = config();
            let store = FaultyStore::new();
            store.inner.set_time(T0);
            let svc = AuthService::new(&cfg, &store, Pbkdf2);
            run(svc.create_user("carol", "correct horse", None)).unwrap();
            let throttle = MemoryThrottle::new();
            let r = run(svc.login(
                "carol",
                "correct horse",
                CLIENT_IP,
                &throttle,
                None,
                T0 * MS,
            ))
            .unwrap();
            let ops = store.op_count();
            store.fail_nth(n, Fault::Fail);
            let act = || match change {
                "delete" => run(svc.delete_user("carol", (T0 + 1) * MS)).map(|_| ()),
                _ => run(svc.set_password("carol", "battery staple", (T0 + 1) * MS)).map(|_| ()),
            };
            let first = act();
            let used = store.op_count() - ops;
            if first.is_ok() {
                // The fault fell after the last operation: every step was tried.
                assert!(
                    n >= used,
                    "{change}: a fault at operation {n} went unnoticed"
                );
                break;
            }
            assert_eq!(first, Err(AuthError::TemporarilyUnavailable));
            act().unwrap_or_else(|e| panic!("{change}: retry after a fault at op {n}: {e:?}"));
            store.inner.set_time(T0 + 2);
            assert_eq!(
                run(svc.refresh(&r.refresh_token.as_str(), None, (T0 + 2) * MS, &NoUpstream))
                    .unwrap_err(),
                AuthError::InvalidGrant,
                "{change}: fault at operation {n}"
            );
            n += 1;
        }
    }
}

#[test]
fn the_new_variables_are_read_and_checked() {
    use silent_refresh::core::server::access::SigningKey;
    use silent_refresh::core::server::config::{Rule, Var};
    let key = SigningKey::generate("k1");
    let base = HashMap::from([
        (
            "SIGNING_KEYS",
            serde_json::json!([key.private_jwk()]).to_string(),
        ),
        (
            "REFRESH_SECRET",
            silent_refresh::core::b64::encode(&key_bytes(9)),
        ),
        (
            "PASSWORD_PEPPER",
            silent_refresh::core::b64::encode(&key_bytes(10)),
        ),
        ("ISSUER", "https://auth.example".to_string()),
    ]);
    let build = |extra: &[(&'static str, &str)]| {
        let mut v = base.clone();
        v.extend(extra.iter().map(|(k, x)| (*k, x.to_string())));
        Config::from_vars(|name| v.get(name).cloned())
    };
    let d = build(&[]).unwrap();
    assert!(!d.require_dpop);
    assert_eq!(d.sessions_not_before, 0);
    assert_eq!(d.route_rate_limit, 100);
    let c = build(&[
        ("REQUIRE_DPOP", "on"),
        ("SESSIONS_NOT_BEFORE", "1765000000"),
        ("ROUTE_RATE_LIMIT", "0"),
    ])
    .unwrap();
    assert!(c.require_dpop);
    assert_eq!(c.sessions_not_before, 1_765_000_000);
    assert_eq!(c.route_rate_limit, 0);
    let e = build(&[("SESSIONS_NOT_BEFORE", "1765000000000")]).unwrap_err();
    assert_eq!(
        (e.variable, e.rule),
        (
            Var::SessionsNotBefore,
            Rule::OutOfRange {
                min: 0,
                max: 9_999_999_999
            }
        ),
        "milliseconds refused"
    );
    let e = build(&[("REQUIRE_DPOP", "yes")]).unwrap_err();
    assert_eq!(e.variable, Var::RequireDpop);
    let e = build(&[("ROUTE_RATE_LIMIT", "-1")]).unwrap_err();
    assert_eq!(
        (e.variable, e.rule),
        (Var::RouteRateLimit, Rule::NotAnInteger)
    );
}
