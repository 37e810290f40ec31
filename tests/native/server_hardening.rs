//! Native tests of the hardening of the server core: login throttling, account changes that end
//! sessions, the monotonic epoch, peppered and upgraded password hashes, and `invalid_grant` for
//! every refresh token that is not a live one.

use crate::server_common::{config, run, CLIENT_IP, T0};
use serde_json::Map;
use silent_refresh::core::b64;
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::{PasswordHasher, Pbkdf2, HASH_LEN};
use silent_refresh::core::server::records::{Epoch, UserRecord};
use silent_refresh::core::server::store::MemoryStore;
use silent_refresh::core::server::throttle::{
    account_key, address_keys, Counter, CounterCall, MemoryThrottle, Policy, Scope, Verdict,
};
use silent_refresh::core::server::{AuthError, AuthService, Config, KvStore};
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

/// A hasher that does no work (tests of throttling with many attempts on unknown users).
struct NoWork;

impl PasswordHasher for NoWork {
    async fn derive(&self, _: &[u8], _: &[u8], _: u32) -> Result<[u8; HASH_LEN], AuthError> {
        Ok([0; HASH_LEN])
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
fn a_known_address_may_check_its_password_through_the_accounts_block_within_its_own_limit() {
    let p = Policy::of(Scope::Account);
    let mut c = Counter::default();
    c.succeed(NOW, Some("i:192.0.2.1"));
    for i in 0..=p.free + 3 {
        c.attempt(&p, NOW + 1 + u64::from(i), Some("i:198.51.100.7"));
    }
    let stranger = c.attempt(&p, NOW + 20, Some("i:198.51.100.7"));
    let Verdict::Refused { retry_after_ms } = stranger else {
        panic!("a stranger passed the block: {stranger:?}");
    };
    // The known address gets the same wait (a wrong password is answered like the stranger's
    // refusal), but may check the password, within its own limit.
    for i in 0..Policy::of(Scope::Known).free {
        assert_eq!(
            c.attempt(&p, NOW + 20, Some("i:192.0.2.1")),
            Verdict::IfCorrect { retry_after_ms },
            "known attempt {i}"
        );
    }
    let before = c.clone();
    let mut known_refused = 0;
    for _ in 0..3 {
        if c.attempt(&p, NOW + 20, Some("i:192.0.2.1")) == (Verdict::Refused { retry_after_ms }) {
            known_refused += 1;
        }
    }
    assert!(known_refused >= 2, "the known address's own limit holds");
    assert_eq!(
        c.failures, before.failures,
        "the account's count is unchanged"
    );
}

#[test]
fn ipv6_addresses_are_counted_by_their_64_56_and_48_prefixes_and_v4_mapped_as_v4() {
    let keys = |ip: &str| address_keys(Some(ip)).expect(ip);
    assert_eq!(
        keys("2001:db8:1:2:aaaa::1"),
        vec![
            (Scope::Address, "i:2001:db8:1:2::/64".to_string()),
            (Scope::Prefix56, "i:2001:db8:1::/56".to_string()),
            (Scope::Prefix48, "i:2001:db8:1::/48".to_string()),
        ]
    );
    assert_eq!(
        keys("2001:db8:1:2:aaaa::1"),
        keys("2001:db8:1:2:ffff:ffff:ffff:ffff")
    );
    let (a, b) = (keys("2001:db8:1:2::1"), keys("2001:db8:1:3::1"));
    assert_ne!(a[0], b[0]);
    assert_eq!(a[1..], b[1..], "one /56, one /48");
    let c = keys("2001:db8:1:1ff::1");
    assert_eq!(
        (c[1] != a[1], c[2] == a[2]),
        (true, true),
        "another /56 of the /48"
    );
    assert_eq!(keys("::ffff:192.0.2.9"), keys("192.0.2.9"));
    assert_eq!(
        keys("192.0.2.9"),
        vec![(Scope::Address, "i:192.0.2.9".to_string())]
    );
    let budgets: Vec<u32> = a.iter().map(|(s, _)| Policy::of(*s).free).collect();
    assert!(
        budgets.windows(2).all(|w| w[0] < w[1]),
        "growing budgets: {budgets:?}"
    );
    // No address, or something else: no key at all (never one counter shared by everyone).
    for bad in [
        None,
        Some(""),
        Some("not an address"),
        Some("192.0.2.9\u{2000}"),
        Some("1.2.3.4, 5.6.7.8"),
    ] {
        assert_eq!(address_keys(bad), None, "{bad:?}");
    }
}

#[test]
fn a_login_without_a_client_address_is_refused_and_counts_nothing() {
    let cfg = config();
    let store = MemoryStore::new();
    let hasher = Counting::default();
    let svc = AuthService::new(&cfg, &store, &hasher);
    let throttle = MemoryThrottle::new();
    for ip in [None, Some("unknown"), Some("")] {
        let e = run(svc.login("demo", "demo-password", ip, &throttle, None, NOW)).unwrap_err();
        assert!(matches!(e, AuthError::InvalidRequest(_)), "{ip:?}: {e:?}");
        assert_eq!(e.status(), 400);
    }
    assert_eq!(throttle.counter(&account_key("demo")), Counter::default());
    assert_eq!(hasher.iterations.get(), 0);
}

#[test]
fn an_address_already_refused_does_not_count_against_the_accounts_it_names() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let throttle = MemoryThrottle::new();
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let attacker = Some("203.0.113.66");
    // The attacker's address uses its budget on other accounts and is refused from then on.
    let mut t = NOW;
    for i in 0..=Policy::of(Scope::Address).free {
        t += 1;
        let e = run(svc.login(&format!("other{i}"), "guess", attacker, &throttle, None, t));
        assert_eq!(e.unwrap_err(), AuthError::InvalidCredentials);
    }
    for _ in 0..50 {
        t += 1;
        let e = run(svc.login("carol", "guess", attacker, &throttle, None, t)).unwrap_err();
        assert!(matches!(e, AuthError::TooManyAttempts(_)), "{e:?}");
    }
    assert_eq!(
        throttle.counter(&account_key("carol")).failures,
        0,
        "refused attempts never reached the account's counter"
    );
    run(svc.login(
        "carol",
        "correct horse",
        Some("198.51.100.200"),
        &throttle,
        None,
        t + 1,
    ))
    .unwrap();
}

#[test]
fn one_ipv6_site_rotating_its_64s_is_stopped_by_the_56_and_48_budgets() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, NoWork);
    let throttle = MemoryThrottle::new();
    let mut t = NOW;
    let attempt = |ip: String, t: u64| {
        run(svc.login(&format!("u{t}"), "guess", Some(&ip), &throttle, None, t))
    };
    // A fresh /64 for every guess, all in one /56: the /56's budget stops them (its free
    // attempts and the one that sets the first delay pass).
    let per56 = Policy::of(Scope::Prefix56).free + 1;
    for i in 0..per56 {
        t += 1;
        let e = attempt(format!("2001:db8:7:{i:x}::1"), t).unwrap_err();
        assert_eq!(e, AuthError::InvalidCredentials, "{i}");
    }
    t += 1;
    assert!(matches!(
        attempt("2001:db8:7:ee::1".into(), t),
        Err(AuthError::TooManyAttempts(_))
    ));
    // Further /56s of the same /48 have room, until the /48's budget is spent.
    let mut allowed = per56;
    let mut refused_at = None;
    'sites: for hi in 1..=0xffu32 {
        for lo in 0..per56 {
            t += 1;
            let ip = format!("2001:db8:7:{:x}::1", hi << 8 | lo);
            match attempt(ip.clone(), t) {
                Err(AuthError::InvalidCredentials) => allowed += 1,
                Err(AuthError::TooManyAttempts(_)) => {
                    refused_at = Some(ip);
                    break 'sites;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(allowed, Policy::of(Scope::Prefix48).free + 1);
    // A refused wider prefix takes the narrower counts back: the /64 and /56 refused by
    // their /48 keep their budgets.
    let keys = address_keys(refused_at.as_deref()).unwrap();
    assert_eq!(throttle.counter(&keys[0].1).failures, 0);
    let fifty_six = throttle.counter(&keys[1].1).failures;
    t += 1;
    assert!(matches!(
        attempt(keys[0].1.trim_start_matches("i:").replace("/64", "1"), t),
        Err(AuthError::TooManyAttempts(_))
    ));
    assert_eq!(throttle.counter(&keys[1].1).failures, fifty_six);
    // Another /48 is not affected.
    assert_eq!(
        attempt("2001:db8:8::1".into(), t + 1).unwrap_err(),
        AuthError::InvalidCredentials
    );
}

#[test]
fn a_wrong_password_from_a_known_address_is_answered_like_a_strangers_and_the_right_one_logs_in() {
    let cfg = config();
    let store = MemoryStore::new();
    let hasher = Counting::default();
    let svc = AuthService::new(&cfg, &store, &hasher);
    let throttle = MemoryThrottle::new();
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let home = Some("192.0.2.1");
    run(svc.login("carol", "correct horse", home, &throttle, None, NOW)).unwrap();
    // Someone else holds the account blocked.
    let mut t = NOW;
    for i in 0..=Policy::of(Scope::Account).free + 2 {
        t += 1;
        let _ = run(svc.login(
            "carol",
            "guess",
            Some(&format!("198.51.100.{i}")),
            &throttle,
            None,
            t,
        ));
    }
    t += 1;
    let answer = |ip: Option<&str>| {
        let before = hasher.iterations.get();
        let e = run(svc.login("carol", "wrong", ip, &throttle, None, t)).unwrap_err();
        (e, hasher.iterations.get() - before)
    };
    let stranger = answer(Some("203.0.113.9"));
    let known = answer(home);
    assert!(
        matches!(stranger.0, AuthError::TooManyAttempts(_)),
        "{stranger:?}"
    );
    assert_eq!(
        known, stranger,
        "same answer, same hashing work: nothing tells the address is known"
    );
    assert_eq!(stranger.1, u64::from(cfg.pbkdf2_iterations));
    // The right password: refused from a stranger, logs in from the known address.
    assert!(matches!(
        run(svc.login(
            "carol",
            "correct horse",
            Some("203.0.113.9"),
            &throttle,
            None,
            t
        )),
        Err(AuthError::TooManyAttempts(_))
    ));
    run(svc.login("carol", "correct horse", home, &throttle, None, t)).unwrap();
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
            None,
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
        None,
        NOW + 10,
    ));
    let AuthError::TooManyAttempts(seconds) = refused.unwrap_err() else {
        panic!("not throttled");
    };
    assert!(seconds >= 1);
    // Refused by the account (the address allowed and paid for the attempt): the same
    // hashing as a check, so the time does not tell a known address's answer from this one.
    assert_eq!(
        hasher.iterations.get() - before,
        u64::from(cfg.pbkdf2_iterations)
    );
    // Refused by the address: no hashing at all.
    let mut t = NOW + 20;
    for i in 0..=Policy::of(Scope::Address).free {
        t += 1;
        let _ = run(svc.login(
            &format!("x{i}"),
            "w",
            Some("192.0.2.77"),
            &throttle,
            None,
            t,
        ));
    }
    let before = hasher.iterations.get();
    let refused = run(svc.login("carol", "w", Some("192.0.2.77"), &throttle, None, t + 1));
    assert!(matches!(refused, Err(AuthError::TooManyAttempts(_))));
    assert_eq!(
        hasher.iterations.get(),
        before,
        "no hashing for a refused address"
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
            None,
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
        None,
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
            None,
            NOW + u64::from(i),
        ));
        assert_eq!(e.unwrap_err(), AuthError::InvalidCredentials);
    }
    let e = run(svc.login(
        "fresh-account",
        "guess",
        Some("203.0.113.5"),
        &throttle,
        None,
        NOW + 100,
    ));
    assert!(matches!(e.unwrap_err(), AuthError::TooManyAttempts(_)));
    // Another address is not affected.
    let e = run(svc.login(
        "fresh-account",
        "guess",
        Some("203.0.113.6"),
        &throttle,
        None,
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
        let e = run(svc.login(name, "wrong", CLIENT_IP, &MemoryThrottle::new(), None, NOW));
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
    run(svc.login(
        "carol",
        "correct horse",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        NOW,
    ))
    .unwrap();
    let upgraded = user(&store, "carol");
    assert_eq!(upgraded.kdf, "pbkdf2-sha256-peppered");
    assert_eq!(upgraded.iter, cfg.pbkdf2_iterations);
    assert_ne!(upgraded.salt, record.salt);
    run(svc.login(
        "carol",
        "correct horse",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        NOW + 1,
    ))
    .unwrap();
    assert_eq!(
        run(svc.login(
            "carol",
            "wrong",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            NOW + 2
        ))
        .unwrap_err(),
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
    let r = run(svc.login(
        "carol",
        "correct horse",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        NOW,
    ))
    .unwrap();
    assert_eq!(run(svc.delete_user("carol", NOW + 5)).unwrap(), "carol");
    run(svc.create_user("carol", "another horse", None)).unwrap();
    assert_eq!(
        run(svc.refresh(&r.refresh_token.as_str(), None, NOW + 10, &NoUpstream)).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert_eq!(
        run(svc.verify_access(&r.access_token, None, T0)).unwrap_err(),
        AuthError::InvalidToken
    );
    let fresh = run(svc.login(
        "carol",
        "another horse",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        NOW + 20,
    ))
    .unwrap();
    run(svc.refresh(&fresh.refresh_token.as_str(), None, NOW + 30, &NoUpstream)).unwrap();
}

#[test]
fn setting_a_password_ends_every_session_and_only_the_new_password_works() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let r = run(svc.login(
        "carol",
        "correct horse",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
        NOW,
    ))
    .unwrap();
    run(svc.set_password("carol", "battery staple", NOW + 5)).unwrap();
    assert_eq!(
        run(svc.refresh(&r.refresh_token.as_str(), None, NOW + 6, &NoUpstream)).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert_eq!(
        run(svc.login(
            "carol",
            "correct horse",
            CLIENT_IP,
            &MemoryThrottle::new(),
            None,
            NOW + 7,
        ))
        .unwrap_err(),
        AuthError::InvalidCredentials
    );
    run(svc.login(
        "carol",
        "battery staple",
        CLIENT_IP,
        &MemoryThrottle::new(),
        None,
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
    let a = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    let b = run(svc.create_session("bob", Map::new(), None, T0)).unwrap();
    run(svc.end_sessions("alice", NOW + 1)).unwrap();
    assert_eq!(
        run(svc.refresh(&a.refresh_token.as_str(), None, NOW + 2, &NoUpstream)).unwrap_err(),
        AuthError::InvalidGrant
    );
    run(svc.refresh(&b.refresh_token.as_str(), None, NOW + 2, &NoUpstream)).unwrap();
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
    let r = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
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
            run(svc.refresh(&bad, None, NOW, &NoUpstream)).unwrap_err(),
            AuthError::InvalidGrant,
            "{bad}"
        );
    }
    run(svc.refresh(&live, None, NOW, &NoUpstream)).unwrap();
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
            None,
            NOW + u64::from(i),
        ))
        .unwrap();
    }
    assert_eq!(
        throttle
            .counter(&address_keys(Some("192.0.2.50")).unwrap()[0].1)
            .failures,
        0
    );
}

#[test]
fn cookie_names_are_compared_exactly_and_only_ascii_space_and_tab_are_optional() {
    use silent_refresh::core::server::http::{cookie, SECURE_COOKIE_NAME as NAME};
    fn get(h: &str) -> Result<Option<String>, AuthError> {
        cookie(Some(h), NAME).map(|v| v.map(String::from))
    }
    let mine = Ok(Some("mine".to_string()));
    // Every space Rust's trim() would remove that is not ASCII space or tab (U+00A0, U+2000,
    // U+3000, U+FEFF is not one...): a name with it is another name, so a sibling subdomain's
    // planted cookie is never read as ours, nor counted as a duplicate of ours.
    let unicode_spaces: Vec<char> = (0..=0x10FFFFu32)
        .filter_map(char::from_u32)
        .filter(|c| c.is_whitespace() && *c != ' ' && *c != '\t')
        .collect();
    assert!(unicode_spaces.contains(&'\u{2000}') && unicode_spaces.contains(&'\u{a0}'));
    for ws in unicode_spaces {
        for planted in [format!("{ws}{NAME}=evil"), format!("{NAME}{ws}=evil")] {
            assert_eq!(get(&planted), Ok(None), "{planted:?}");
            assert_eq!(get(&format!("{planted}; {NAME}=mine")), mine, "{planted:?}");
            assert_eq!(get(&format!("{NAME}=mine;{planted}")), mine, "{planted:?}");
        }
    }
    // A nameless pair whose value looks like our cookie, and pairs that are not tokens.
    for planted in [
        format!("={NAME}=evil"),
        NAME.to_string(),
        format!("x y={NAME}=evil"),
        format!("\"{NAME}\"=evil"),
    ] {
        assert_eq!(get(&planted), Ok(None), "{planted:?}");
        assert_eq!(get(&format!("{planted}; {NAME}=mine")), mine, "{planted:?}");
    }
    // ASCII space and tab around a pair are fine; a real duplicate is refused.
    assert_eq!(get(&format!("a=1;\t {NAME} = \"mine\" \t;b=2")), mine);
    assert!(get(&format!("{NAME}=a; {NAME}=b")).is_err());
}

#[test]
fn header_values_are_trimmed_of_ascii_space_and_tab_only() {
    use silent_refresh::core::server::http::{BodyKind, Provenance};
    assert_eq!(BodyKind::of(Some(" application/json\t")), BodyKind::Json);
    assert_eq!(
        BodyKind::of(Some("application/json\u{a0}")),
        BodyKind::Other
    );
    assert_eq!(
        BodyKind::of(Some("application/json; charset=\u{2000}utf-8")),
        BodyKind::Other
    );
    let cfg = Config {
        refresh_cookie: true,
        ..config()
    };
    let check = |csrf: &str, site: Option<&str>| {
        Provenance {
            self_origin: "https://auth.example",
            origin: None,
            sec_fetch_site: site,
            csrf_header: Some(csrf),
        }
        .check_cookie_request(&cfg)
        .is_ok()
    };
    assert!(check(" 1\t", Some(" same-origin ")));
    assert!(check("1", None));
    assert!(!check("1\u{2000}", None));
    assert!(!check("\u{a0}1", Some("same-origin")));
    for site in [
        "cross-site",
        "\u{2000}same-origin",
        "same-origin\u{a0}",
        "anything",
    ] {
        assert!(!check("1", Some(site)), "{site:?}");
    }
}

#[test]
fn chained_pbkdf2_above_one_step_logs_in_refuses_a_wrong_password_and_upgrades() {
    // 300,000 iterations: three chained calls of the 100,000 workerd allows per call.
    let cfg = Config {
        pbkdf2_iterations: 300_000,
        ..config()
    };
    cfg.validate().unwrap();
    let store = MemoryStore::new();
    let hasher = Counting::default();
    let svc = AuthService::new(&cfg, &store, &hasher);
    run(svc.create_user("carol", "correct horse", None)).unwrap();
    let u = user(&store, "carol");
    assert_eq!(u.iter, 300_000);
    // The stored hash is the chain, step by step: PBKDF2 of the peppered password, then of
    // each step's output, 100,000 iterations each (docs/DESIGN.md), not one 300,000 call.
    let salt = b64::decode(&u.salt).unwrap();
    let mut input = hmac_sha256::HMAC::mac(b"correct horse", cfg.password_pepper.expose()).to_vec();
    for _ in 0..3 {
        input = run(Pbkdf2.derive(&input, &salt, 100_000)).unwrap().to_vec();
    }
    assert_eq!(b64::decode(&u.hash).unwrap(), input);
    let login =
        |pw: &str, t: u64| run(svc.login("carol", pw, CLIENT_IP, &MemoryThrottle::new(), None, t));
    let before = hasher.iterations.get();
    login("correct horse", NOW).unwrap();
    assert_eq!(hasher.iterations.get() - before, 300_000);
    assert_eq!(
        login("correct horse!", NOW).unwrap_err(),
        AuthError::InvalidCredentials
    );
    // A record written under 100,000 is upgraded to 300,000 by its next login.
    let low = Config {
        pbkdf2_iterations: 100_000,
        ..config()
    };
    let store = MemoryStore::new();
    run(AuthService::new(&low, &store, Pbkdf2).create_user("dave", "battery staple", None))
        .unwrap();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let login = |pw: &str| run(svc.login("dave", pw, CLIENT_IP, &MemoryThrottle::new(), None, NOW));
    assert_eq!(login("wrong").unwrap_err(), AuthError::InvalidCredentials);
    assert_eq!(
        user(&store, "dave").iter,
        100_000,
        "a failed login upgrades nothing"
    );
    login("battery staple").unwrap();
    assert_eq!(user(&store, "dave").iter, 300_000);
    login("battery staple").unwrap();
    assert_eq!(login("wrong").unwrap_err(), AuthError::InvalidCredentials);
}

/// The throttle object answers its three calls and refuses any other path (the Worker then
/// takes the refusal for a failure of the throttle): an unknown call never counts as a success,
/// which would reset the account's counter.
#[test]
fn the_throttle_object_knows_three_calls_and_refuses_any_other() {
    for call in CounterCall::ALL {
        assert_eq!(CounterCall::from_path(call.path()), Some(call));
    }
    // The wire names, fixed: an object and a Worker of different versions must agree.
    let paths: Vec<_> = CounterCall::ALL.iter().map(|c| c.path()).collect();
    assert_eq!(paths, ["/attempt", "/succeed", "/refund"]);
    for path in [
        "",
        "/",
        "/unknown",
        "/Attempt",
        "/succeed/",
        "/refund?x=1",
        "attempt",
        "//attempt",
        "/reset",
    ] {
        assert_eq!(CounterCall::from_path(path), None, "{path:?}");
    }
}
