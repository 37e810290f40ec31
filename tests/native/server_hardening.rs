//! Native tests of the hardening of the server core: login throttling, account changes that end
//! sessions, the monotonic epoch, peppered and upgraded password hashes, and `invalid_grant` for
//! every refresh token that is not a live one.

use crate::server_common::{config, run, T0};
use serde_json::Map;
use silent_refresh::core::b64;
use silent_refresh::core::server::password::{PasswordHasher, Pbkdf2, HASH_LEN};
use silent_refresh::core::server::records::{Epoch, UserRecord};
use silent_refresh::core::server::store::MemoryStore;
use silent_refresh::core::server::throttle::{
    account_key, address_key, Counter, MemoryThrottle, Policy, Scope, Verdict,
};
use silent_refresh::core::server::{AuthError, AuthService, KvStore};
use std::cell::Cell;

const MS: u64 = 1000;
const NOW: u64 = T0 * MS;

/// Pbkdf2 that counts the iterations it ran.
#[derive(Default)]
struct Counting {
    iterations: Cell<u64>,
}

impl PasswordHasher for &Counting {
    async fn derive(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; HASH_LEN], AuthError> {
        self.iterations
            .set(self.iterations.get() + u64::from(iterations));
        Pbkdf2.derive(password, salt, iterations).await
    }
}

fn user(store: &MemoryStore, name: &str) -> UserRecord {
    serde_json::from_str(&store.snapshot()[&format!("u:{name}")]).unwrap()
}

#[test]
fn the_account_policy_gives_free_attempts_then_doubling_delays_up_to_a_cap() {
    let p = Policy::of(Scope::Account);
    assert_eq!((1..=p.free).map(|n| p.delay_ms(n)).max(), Some(0));
    assert_eq!(p.delay_ms(p.free + 1), p.base_delay_ms);
    assert_eq!(p.delay_ms(p.free + 2), 2 * p.base_delay_ms);
    assert_eq!(p.delay_ms(p.free + 3), 4 * p.base_delay_ms);
    assert_eq!(p.delay_ms(u32::MAX), p.max_delay_ms);
    assert!(
        Policy::of(Scope::Address).free > p.free,
        "addresses are shared (NAT)"
    );
}

#[test]
fn a_refused_attempt_changes_nothing_so_hammering_does_not_extend_a_block() {
    let p = Policy::of(Scope::Account);
    let mut c = Counter::default();
    for i in 0..=p.free {
        assert_eq!(c.attempt(&p, NOW + u64::from(i), None), Verdict::Allowed);
    }
    let blocked = c.clone();
    for i in 0..100 {
        assert!(matches!(
            c.attempt(&p, NOW + 10 + i, None),
            Verdict::Refused { .. }
        ));
    }
    assert_eq!(c, blocked);
    assert_eq!(c.attempt(&p, blocked.blocked_until, None), Verdict::Allowed);
}

#[test]
fn a_counter_is_forgotten_after_a_quiet_period() {
    let p = Policy::of(Scope::Account);
    let mut c = Counter::default();
    for i in 0..p.free {
        c.attempt(&p, NOW + u64::from(i), None);
    }
    c.attempt(&p, NOW + 10 + p.forget_after_ms, None);
    assert_eq!(c.failures, 1);
}

#[test]
fn a_known_address_passes_the_accounts_block_and_an_unknown_one_does_not() {
    let p = Policy::of(Scope::Account);
    let mut c = Counter::default();
    c.succeed(NOW, Some("i:192.0.2.1"));
    for i in 0..=p.free + 3 {
        c.attempt(&p, NOW + 1 + u64::from(i), Some("i:198.51.100.7"));
    }
    assert!(matches!(
        c.attempt(&p, NOW + 20, Some("i:198.51.100.7")),
        Verdict::Refused { .. }
    ));
    assert_eq!(
        c.attempt(&p, NOW + 20, Some("i:192.0.2.1")),
        Verdict::Allowed
    );
}

#[test]
fn ipv6_addresses_are_counted_by_their_64_prefix_and_v4_mapped_as_v4() {
    assert_eq!(
        address_key(Some("2001:db8:1:2:aaaa::1")),
        address_key(Some("2001:db8:1:2:ffff:ffff:ffff:ffff"))
    );
    assert_ne!(
        address_key(Some("2001:db8:1:2::1")),
        address_key(Some("2001:db8:1:3::1"))
    );
    assert_eq!(
        address_key(Some("::ffff:192.0.2.9")),
        address_key(Some("192.0.2.9"))
    );
    assert_eq!(address_key(None), address_key(Some("not an address")));
}

#[test]
fn throttled_login_attempts_are_refused_with_retry_after_and_cost_no_password_hashing() {
    let cfg = config();
    let store = MemoryStore::new();
    let hasher = Counting::default();
    let svc = AuthService::new(&cfg, &store, &hasher);
    let throttle = MemoryThrottle::new();
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let free = Policy::of(Scope::Account).free;
    for i in 0..=free {
        let e = run(svc.login(
            "carol",
            "wrong",
            Some("192.0.2.1"),
            &throttle,
            NOW + u64::from(i),
        ));
        assert_eq!(e.unwrap_err(), AuthError::InvalidCredentials);
    }
    let before = hasher.iterations.get();
    let refused = run(svc.login(
        "carol",
        "correct horse",
        Some("192.0.2.1"),
        &throttle,
        NOW + 10,
    ));
    let AuthError::TooManyAttempts(seconds) = refused.unwrap_err() else {
        panic!("not throttled");
    };
    assert!(seconds >= 1);
    assert_eq!(
        hasher.iterations.get(),
        before,
        "no hashing for a refused attempt"
    );
    let e = AuthError::TooManyAttempts(seconds);
    assert_eq!((e.status(), e.code()), (429, "too_many_attempts"));
    assert_eq!(e.headers(), vec![("Retry-After", seconds.to_string())]);
}

#[test]
fn a_successful_login_resets_the_accounts_counter() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let throttle = MemoryThrottle::new();
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let free = Policy::of(Scope::Account).free;
    for i in 0..free - 1 {
        let e = run(svc.login(
            "carol",
            "wrong",
            Some("192.0.2.1"),
            &throttle,
            NOW + u64::from(i),
        ));
        assert_eq!(e.unwrap_err(), AuthError::InvalidCredentials);
    }
    // The failures were counted, so the reset below is one.
    assert_eq!(throttle.counter(&account_key("carol")).failures, free - 1);
    run(svc.login(
        "carol",
        "correct horse",
        Some("192.0.2.1"),
        &throttle,
        NOW + 10,
    ))
    .unwrap();
    assert_eq!(throttle.counter(&account_key("carol")).failures, 0);
}

#[test]
fn one_address_guessing_many_accounts_is_stopped_by_the_address_limit() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let throttle = MemoryThrottle::new();
    let free = Policy::of(Scope::Address).free;
    for i in 0..=free {
        let e = run(svc.login(
            &format!("user{i}"),
            "guess",
            Some("203.0.113.5"),
            &throttle,
            NOW + u64::from(i),
        ));
        assert_eq!(e.unwrap_err(), AuthError::InvalidCredentials);
    }
    let e = run(svc.login(
        "fresh-account",
        "guess",
        Some("203.0.113.5"),
        &throttle,
        NOW + 100,
    ));
    assert!(matches!(e.unwrap_err(), AuthError::TooManyAttempts(_)));
    // Another address is not affected.
    let e = run(svc.login(
        "fresh-account",
        "guess",
        Some("203.0.113.6"),
        &throttle,
        NOW + 100,
    ));
    assert_eq!(e.unwrap_err(), AuthError::InvalidCredentials);
}

#[test]
fn unknown_and_stale_users_cost_the_same_iterations_as_current_ones() {
    let cfg = config();
    let store = MemoryStore::new();
    let hasher = Counting::default();
    let svc = AuthService::new(&cfg, &store, &hasher);
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let cost = |name: &str| {
        let before = hasher.iterations.get();
        let e = run(svc.login(name, "wrong", None, &MemoryThrottle::new(), NOW));
        assert_eq!(e.unwrap_err(), AuthError::InvalidCredentials, "{name}");
        hasher.iterations.get() - before
    };
    let current = cost("carol");
    assert_eq!(current, u64::from(cfg.pbkdf2_iterations));
    assert_eq!(cost("nobody"), current);
    // A record of the earlier, cheaper scheme.
    let mut stale = user(&store, "carol");
    stale.iter = 1000;
    run(store.put("u:carol", &serde_json::to_string(&stale).unwrap(), None)).unwrap();
    assert_eq!(cost("carol"), current);
}

#[test]
fn a_kv_copy_alone_cannot_check_a_password_without_the_pepper() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let u = user(&store, "carol");
    assert_eq!(u.kdf, "pbkdf2-sha256-peppered");
    let salt = b64::decode(&u.salt).unwrap();
    let unpeppered = run(Pbkdf2.derive(b"correct horse", &salt, u.iter)).unwrap();
    assert_ne!(
        b64::encode(&unpeppered),
        u.hash,
        "the right password alone does not match"
    );
}

#[test]
fn an_unpeppered_low_iteration_hash_still_logs_in_and_is_upgraded() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let salt = [5u8; 16];
    let old = run(Pbkdf2.derive(b"correct horse", &salt, 1000)).unwrap();
    let record = UserRecord {
        sub: "carol".into(),
        kdf: "pbkdf2-sha256".into(),
        iter: 1000,
        salt: b64::encode(&salt),
        hash: b64::encode(&old),
    };
    run(store.put("u:carol", &serde_json::to_string(&record).unwrap(), None)).unwrap();
    run(svc.login("carol", "correct horse", None, &MemoryThrottle::new(), NOW)).unwrap();
    let upgraded = user(&store, "carol");
    assert_eq!(upgraded.kdf, "pbkdf2-sha256-peppered");
    assert_eq!(upgraded.iter, cfg.pbkdf2_iterations);
    assert_ne!(upgraded.salt, record.salt);
    run(svc.login(
        "carol",
        "correct horse",
        None,
        &MemoryThrottle::new(),
        NOW + 1,
    ))
    .unwrap();
    assert_eq!(
        run(svc.login("carol", "wrong", None, &MemoryThrottle::new(), NOW + 2)).unwrap_err(),
        AuthError::InvalidCredentials
    );
}

#[test]
fn deleting_a_user_ends_its_sessions_and_recreating_it_does_not_revive_them() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let r = run(svc.login("carol", "correct horse", None, &MemoryThrottle::new(), NOW)).unwrap();
    assert_eq!(run(svc.delete_user("carol", NOW + 5)).unwrap(), "carol");
    run(svc.create_user("carol", "another horse", None)).unwrap();
    assert_eq!(
        run(svc.refresh(&r.refresh_token.as_str(), NOW + 10)).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert_eq!(
        run(svc.verify_access(&r.access_token, T0)).unwrap_err(),
        AuthError::InvalidToken
    );
    let fresh = run(svc.login(
        "carol",
        "another horse",
        None,
        &MemoryThrottle::new(),
        NOW + 20,
    ))
    .unwrap();
    run(svc.refresh(&fresh.refresh_token.as_str(), NOW + 30)).unwrap();
}

#[test]
fn setting_a_password_ends_every_session_and_only_the_new_password_works() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let r = run(svc.login("carol", "correct horse", None, &MemoryThrottle::new(), NOW)).unwrap();
    run(svc.set_password("carol", "battery staple", NOW + 5)).unwrap();
    assert_eq!(
        run(svc.refresh(&r.refresh_token.as_str(), NOW + 6)).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert_eq!(
        run(svc.login(
            "carol",
            "correct horse",
            None,
            &MemoryThrottle::new(),
            NOW + 7
        ))
        .unwrap_err(),
        AuthError::InvalidCredentials
    );
    run(svc.login(
        "carol",
        "battery staple",
        None,
        &MemoryThrottle::new(),
        NOW + 8,
    ))
    .unwrap();
    assert_eq!(
        run(svc.set_password("nobody", "battery staple", NOW)).unwrap_err(),
        AuthError::NoSuchUser
    );
}

#[test]
fn ending_a_subjects_sessions_leaves_other_subjects_alone() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let a = run(svc.create_session("alice", Map::new(), T0)).unwrap();
    let b = run(svc.create_session("bob", Map::new(), T0)).unwrap();
    run(svc.end_sessions("alice", NOW + 1)).unwrap();
    assert_eq!(
        run(svc.refresh(&a.refresh_token.as_str(), NOW + 2)).unwrap_err(),
        AuthError::InvalidGrant
    );
    run(svc.refresh(&b.refresh_token.as_str(), NOW + 2)).unwrap();
    assert!(run(svc.end_sessions("bad\u{0}sub", NOW)).is_err());
}

#[test]
fn the_epoch_never_moves_backwards_even_from_a_stale_read() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let first = run(svc.end_sessions("alice", NOW + 5_000)).unwrap();
    // A writer that read nothing (a stale KV read elsewhere) a moment later.
    let stale = MemoryStore::new();
    let other = AuthService::new(&cfg, &stale, Pbkdf2);
    let second = run(other.end_sessions("alice", NOW + 5_001)).unwrap();
    assert!(second.n > first.n, "{second:?} after {first:?}");
    // Same instant, store ahead of the clock: still forward.
    let ahead = run(svc.end_sessions("alice", NOW)).unwrap();
    assert!(ahead.n > first.n);
    let stored: Epoch = serde_json::from_str(&store.snapshot()["e:alice"]).unwrap();
    assert_eq!(stored, ahead);
}

#[test]
fn every_refresh_token_that_is_not_a_live_one_is_invalid_grant() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let r = run(svc.create_session("alice", Map::new(), T0)).unwrap();
    let live = r.refresh_token.as_str();
    for bad in [
        "x".to_string(),
        live[..live.len() - 1].to_string(),
        format!("{live}A"),
        live.replace("srt_", "rt_"),
        r.access_token.clone(),
        format!("srt_{}", "A".repeat(43)),
        "opaque-token-of-another-server".to_string(),
    ] {
        assert_eq!(
            run(svc.refresh(&bad, NOW)).unwrap_err(),
            AuthError::InvalidGrant,
            "{bad}"
        );
    }
    run(svc.refresh(&live, NOW)).unwrap();
}

#[test]
fn successful_logins_never_slow_their_address_down() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let throttle = MemoryThrottle::new();
    let free = Policy::of(Scope::Address).free;
    for i in 0..free + 10 {
        let name = format!("office{i}");
        run(svc.create_user(&name, "correct horse", None)).unwrap();
        run(svc.login(
            &name,
            "correct horse",
            Some("192.0.2.50"),
            &throttle,
            NOW + u64::from(i),
        ))
        .unwrap();
    }
    assert_eq!(
        throttle.counter(&address_key(Some("192.0.2.50"))).failures,
        0
    );
}
