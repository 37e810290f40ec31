//! The simulation of many locations: the real `AuthService` (through `rotation::execute`, the
//! path both Worker modes take) over the models of `sim_model.rs`, in the scenarios of
//! `docs/DESIGN.md` ("What holds across locations"), for both `ROTATION_STORE` modes.
//!
//! `make simulate` prints the table of DESIGN.md (300 seeded runs per cell);
//! `cargo test simulation::` runs fewer (`SIM_TRIALS`, default 40) and checks what strict mode
//! guarantees at every delay and seed, and what the KV model makes certain.

use crate::server_common::config;
use crate::sim_model::{Kv, LOCATIONS, RTT_MS};
use silent_refresh::core::server::config::RotationStore;
use silent_refresh::core::server::error::{AuthError, RETRY_AFTER_SECONDS};
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::records::{save, user_key, UserRecord};
use silent_refresh::core::server::rotation::{execute, route_of, Answer, Call};
use silent_refresh::core::server::store::MemoryStore;
use silent_refresh::core::server::token::RefreshToken;
use silent_refresh::core::server::{AuthService, Config};
use std::fmt::Write as _;

/// Where the rotation state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Kv,
    Strict,
}

const FRA: usize = 0;
const AMS: usize = 1;
const IAD: usize = 2;
const SYD: usize = 3;
/// Virtual start (ms since the Unix epoch): 2023-11-14.
const START: u64 = 1_700_000_000_000;
/// When the scenarios act: 10 minutes after the logins, which have reached every location.
const L: u64 = START + 600_000;
/// Between two refreshes of a well-behaved client (the access-token lifetime, 900 s).
const ROUND: u64 = 900_000;
/// The delays of the table, in seconds.
const DELTAS: [u64; 6] = [0, 1, 5, 30, 59, 61];
/// A 503 is retried this often at most (after `Retry-After`).
const MAX_TRIES: u32 = 5;

#[derive(Clone, Debug)]
enum Action {
    Login,
    Refresh,
    /// Presents the token the actor held when `Hold` ran (a burst of one token).
    RefreshHeld,
    Hold,
    Logout,
    LogoutAll,
    /// Writes the user's record (what `POST /auth/users` stores; no password hashing here).
    CreateUser,
    DeleteUser,
    /// Copies another actor's current refresh token (no request).
    Steal(usize),
}

#[derive(Clone, Debug)]
struct Step {
    at: u64,
    loc: usize,
    actor: usize,
    action: Action,
    tries: u32,
}

fn step(at: u64, loc: usize, actor: usize, action: Action) -> Step {
    Step {
        at,
        loc,
        actor,
        action,
        tries: 0,
    }
}

#[derive(Clone, Debug, Default)]
struct Actor {
    token: Option<String>,
    held: Option<String>,
    access: Option<String>,
    /// The outcome of its last refresh: `Some(true)` 200, `Some(false)` refused.
    last_refresh: Option<bool>,
    refused: bool,
}

/// What one run of a scenario showed.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    /// A refresh hit the reuse branch (family revoked for reuse).
    detected: bool,
    /// A refresh answered 200 after the family was ended (logout, logout-all, deletion, reuse).
    refreshed_after_end: bool,
    /// The longest such interval (ms).
    window: u64,
    /// The attacker, or the session that was ended, still refreshed at the end.
    still_live: bool,
    /// A client that did nothing wrong got `invalid_grant` (burst, roaming).
    innocent_lost: bool,
    /// Answers `503 temporarily_unavailable`.
    unavailable: u32,
}

struct Scenario {
    name: &'static str,
    what: &'static str,
    /// Actors: the first is the user; `attacker` is the one whose continued access is bad.
    actors: usize,
    attacker: Option<usize>,
    innocent: bool,
    steps: fn(u64) -> Vec<Step>,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "replay after rotation",
            what: "victim rotates at fra; thief replays the stolen predecessor at iad Δ later; both go on refreshing every 900 s",
            actors: 2,
            attacker: Some(1),
            innocent: false,
            steps: |d| {
                vec![
                    step(START, FRA, 0, Action::Login),
                    step(L - 60_000, FRA, 1, Action::Steal(0)),
                    step(L, FRA, 0, Action::Refresh),
                    step(L + d, IAD, 1, Action::Refresh),
                    step(L + ROUND, FRA, 0, Action::Refresh),
                    step(L + d + ROUND, IAD, 1, Action::Refresh),
                    step(L + 2 * ROUND, FRA, 0, Action::Refresh),
                    step(L + d + 2 * ROUND, IAD, 1, Action::Refresh),
                ]
            },
        },
        Scenario {
            name: "thief rotates first",
            what: "thief rotates the stolen token at iad; the victim presents it at fra Δ later; both go on every 900 s",
            actors: 2,
            attacker: Some(1),
            innocent: false,
            steps: |d| {
                vec![
                    step(START, FRA, 0, Action::Login),
                    step(L - 60_000, FRA, 1, Action::Steal(0)),
                    step(L, IAD, 1, Action::Refresh),
                    step(L + d, FRA, 0, Action::Refresh),
                    step(L + ROUND, IAD, 1, Action::Refresh),
                    step(L + d + ROUND, FRA, 0, Action::Refresh),
                    step(L + 2 * ROUND, IAD, 1, Action::Refresh),
                    step(L + d + 2 * ROUND, FRA, 0, Action::Refresh),
                ]
            },
        },
        Scenario {
            name: "logout",
            what: "user logs out at fra; a copy of the current token is refreshed at iad Δ later, then every 900 s",
            actors: 2,
            attacker: Some(1),
            innocent: false,
            steps: |d| {
                vec![
                    step(START, FRA, 0, Action::Login),
                    step(L - 300_000, FRA, 0, Action::Refresh),
                    step(L - 200_000, FRA, 1, Action::Steal(0)),
                    step(L, FRA, 0, Action::Logout),
                    step(L + d, IAD, 1, Action::Refresh),
                    step(L + d + ROUND, IAD, 1, Action::Refresh),
                ]
            },
        },
        Scenario {
            name: "logout-all",
            what: "laptop logs out everywhere at fra; the phone's session (last refreshed at iad 30 s before) refreshes at iad Δ later, then every 900 s",
            actors: 2,
            attacker: Some(1),
            innocent: false,
            steps: |d| {
                vec![
                    step(START, FRA, 0, Action::Login),
                    step(START, IAD, 1, Action::Login),
                    step(L - 30_000, IAD, 1, Action::Refresh),
                    step(L, FRA, 0, Action::LogoutAll),
                    step(L + d, IAD, 1, Action::Refresh),
                    step(L + d + ROUND, IAD, 1, Action::Refresh),
                ]
            },
        },
        Scenario {
            name: "user deletion",
            what: "admin deletes the user at fra; the user's session (last refreshed at iad 30 s before) refreshes at iad Δ later, then every 900 s",
            actors: 2,
            attacker: Some(1),
            innocent: false,
            steps: |d| {
                vec![
                    step(START - 60_000, FRA, 0, Action::CreateUser),
                    step(START, FRA, 1, Action::Login),
                    step(L - 30_000, IAD, 1, Action::Refresh),
                    step(L, FRA, 0, Action::DeleteUser),
                    step(L + d, IAD, 1, Action::Refresh),
                    step(L + d + ROUND, IAD, 1, Action::Refresh),
                ]
            },
        },
        Scenario {
            name: "burst across locations",
            what: "one client sends its token 4 times, through fra, ams, iad and syd, spread evenly over Δ; then refreshes at fra 900 s later",
            actors: 1,
            attacker: None,
            innocent: true,
            steps: |d| {
                let mut s = vec![
                    step(START, FRA, 0, Action::Login),
                    step(L - 1, FRA, 0, Action::Hold),
                ];
                for (i, loc) in [FRA, AMS, IAD, SYD].into_iter().enumerate() {
                    s.push(step(L + d * i as u64 / 3, loc, 0, Action::RefreshHeld));
                }
                s.push(step(L + d + ROUND, FRA, 0, Action::Refresh));
                s
            },
        },
        Scenario {
            name: "roaming after login",
            what: "a client logs in at fra and refreshes at iad Δ later (a 401, a short access-token lifetime), then at fra 900 s later",
            actors: 1,
            attacker: None,
            innocent: true,
            steps: |d| {
                vec![
                    step(L, FRA, 0, Action::Login),
                    step(L + d, IAD, 0, Action::Refresh),
                    step(L + d + ROUND, FRA, 0, Action::Refresh),
                ]
            },
        },
    ]
}

/// The storage of one run: KV (users, and the rotation state in KV mode) and the object.
struct World<'c> {
    mode: Mode,
    cfg: &'c Config,
    kv: Kv,
    object: MemoryStore,
}

const USER: &str = "alice";

impl World<'_> {
    /// When a request sent from `loc` at `at` is decided: at once in KV mode, on arrival at
    /// the object in strict mode (half a round trip later).
    fn decided(&self, loc: usize, at: u64) -> u64 {
        match self.mode {
            Mode::Kv => at,
            Mode::Strict => at + RTT_MS[loc] / 2,
        }
    }

    /// Runs `call` where the rotation state lives, as the Worker at `loc` would, at `now` (ms).
    fn call(&self, loc: usize, now: u64, call: &Call) -> Result<Answer, AuthError> {
        self.kv.set_now(now);
        match self.mode {
            Mode::Kv => {
                let svc = AuthService::new(self.cfg, self.kv.at(loc), Pbkdf2);
                pollster::block_on(execute(&svc, call, now, &NoUpstream))
            }
            Mode::Strict => {
                // The Worker finds the object from the call: here it must be the user's one.
                let route = route_of(self.cfg, call, now / 1000)?;
                assert_eq!(
                    route,
                    Some(RefreshToken::route_of(&self.cfg.refresh_secret, USER))
                );
                self.object.set_time(now / 1000);
                let svc = AuthService::new(self.cfg, &self.object, Pbkdf2);
                pollster::block_on(execute(&svc, call, now, &NoUpstream))
            }
        }
    }

    /// A user record in KV.
    fn create_user(&self, loc: usize, now: u64) -> Result<(), AuthError> {
        self.kv.set_now(now);
        let record = UserRecord {
            sub: USER.to_string(),
            kdf: "pbkdf2-sha256-peppered".into(),
            iter: 100_000,
            salt: "c2FsdHNhbHRzYWx0c2FsdA".into(),
            hash: "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g".into(),
        };
        pollster::block_on(save(&self.kv.at(loc), &user_key(USER), &record, None))?;
        Ok(())
    }

    fn delete_user(&self, loc: usize, now: u64) -> Result<(), AuthError> {
        self.kv.set_now(now);
        // As the Worker does it: the subject from KV, the sessions ended where the rotation
        // state lives, then the user record removed (so a failed step leaves a retry to finish).
        let svc = AuthService::new(self.cfg, self.kv.at(loc), Pbkdf2);
        let sub = pollster::block_on(svc.user_subject(USER))?;
        self.call(loc, now, &Call::EndSessions { sub })?;
        self.kv.set_now(now);
        pollster::block_on(svc.remove_user(USER))?;
        Ok(())
    }

    /// Whether a family was revoked for reuse, anywhere.
    fn reuse_marked(&self) -> bool {
        match self.mode {
            Mode::Kv => self
                .kv
                .ever_written("r:")
                .iter()
                .any(|v| v.contains("\"reuse\"")),
            Mode::Strict => self
                .object
                .snapshot()
                .iter()
                .any(|(k, v)| k.starts_with("r:") && v.contains("\"reuse\"")),
        }
    }
}

fn run(cfg: &Config, mode: Mode, sc: &Scenario, delta_ms: u64, seed: u64) -> Outcome {
    let world = World {
        mode,
        cfg,
        kv: Kv::new(seed),
        object: MemoryStore::new(),
    };
    let mut actors = vec![Actor::default(); sc.actors];
    let mut queue = (sc.steps)(delta_ms);
    let mut out = Outcome::default();
    let mut ended_at: Option<u64> = None;
    while !queue.is_empty() {
        // The next step to be decided (ties: the order of the script).
        let i = (0..queue.len())
            .min_by_key(|&i| (world.decided(queue[i].loc, queue[i].at), i))
            .unwrap();
        let s = queue.remove(i);
        let now = world.decided(s.loc, s.at);
        let reply_at = now + (now - s.at);
        if let Action::Steal(from) = s.action {
            actors[s.actor].token = actors[from].token.clone();
            continue;
        }
        let a = &mut actors[s.actor];
        let result = match &s.action {
            Action::Steal(_) => unreachable!(),
            Action::Hold => {
                a.held = a.token.clone();
                continue;
            }
            Action::Login => world.call(
                s.loc,
                now,
                &Call::StartFamily {
                    sub: USER.to_string(),
                    claims: Default::default(),
                    dpop: None,
                    epoch: None,
                    upstream: None,
                },
            ),
            Action::Refresh | Action::RefreshHeld => {
                let held = if matches!(s.action, Action::Refresh) {
                    &a.token
                } else {
                    &a.held
                };
                let Some(token) = held.clone() else { continue };
                world.call(s.loc, now, &Call::Refresh { token, dpop: None })
            }
            Action::Logout => {
                let Some(token) = a.token.clone() else {
                    continue;
                };
                world.call(s.loc, now, &Call::Logout { token })
            }
            Action::LogoutAll => {
                let Some(access_token) = a.access.clone() else {
                    continue;
                };
                world.call(
                    s.loc,
                    now,
                    &Call::LogoutAll {
                        access_token,
                        dpop: None,
                    },
                )
            }
            Action::CreateUser => world.create_user(s.loc, now).map(|_| Answer::Done),
            Action::DeleteUser => world.delete_user(s.loc, now).map(|_| Answer::Done),
        };
        let a = &mut actors[s.actor];
        let is_refresh = matches!(s.action, Action::Refresh | Action::RefreshHeld);
        match result {
            Err(AuthError::TemporarilyUnavailable) => {
                out.unavailable += 1;
                if s.tries + 1 < MAX_TRIES {
                    queue.push(Step {
                        at: reply_at + RETRY_AFTER_SECONDS * 1000,
                        tries: s.tries + 1,
                        ..s
                    });
                }
            }
            Err(AuthError::InvalidGrant) if is_refresh => {
                a.last_refresh = Some(false);
                a.refused = true;
                a.token = None;
            }
            Err(e) => panic!("{}: unexpected {e:?} for {:?}", sc.name, s.action),
            Ok(Answer::Issued(r)) => {
                a.token = Some(r.refresh_token.as_str());
                a.access = Some(r.access_token);
                if is_refresh {
                    a.last_refresh = Some(true);
                    // Steps run in the order they are decided: a success after the end is
                    // one decided later (or in the same millisecond, after it).
                    if let Some(end) = ended_at {
                        out.refreshed_after_end = true;
                        out.window = out.window.max(now - end);
                    }
                }
            }
            Ok(_) => {
                if matches!(s.action, Action::Logout) {
                    a.token = None;
                }
                if matches!(
                    s.action,
                    Action::Logout | Action::LogoutAll | Action::DeleteUser
                ) {
                    ended_at.get_or_insert(now);
                }
            }
        }
        if is_refresh && !out.detected && world.reuse_marked() {
            out.detected = true;
            ended_at = Some(ended_at.map_or(now, |e| e.min(now)));
        }
    }
    if let Some(att) = sc.attacker {
        out.still_live = actors[att].last_refresh == Some(true);
    }
    out.innocent_lost = sc.innocent && actors.iter().any(|a| a.refused);
    out
}

/// The figures of one cell of the table: `trials` seeded runs.
#[derive(Debug, Default)]
struct Cell {
    detected: u32,
    refreshed_after_end: u32,
    window: u64,
    still_live: u32,
    innocent_lost: u32,
    unavailable: u32,
}

fn cell(cfg: &Config, mode: Mode, sc: &Scenario, delta_s: u64, trials: u32) -> Cell {
    let mut c = Cell::default();
    for seed in 0..trials as u64 {
        let o = run(cfg, mode, sc, delta_s * 1000, seed * 7919 + delta_s);
        c.detected += o.detected as u32;
        c.refreshed_after_end += o.refreshed_after_end as u32;
        c.window = c.window.max(o.window);
        c.still_live += o.still_live as u32;
        c.innocent_lost += o.innocent_lost as u32;
        c.unavailable += o.unavailable;
    }
    c
}

fn pct(n: u32, of: u32) -> String {
    format!("{:.0} %", 100.0 * n as f64 / of as f64)
}

fn trials() -> u32 {
    std::env::var("SIM_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(40)
}

#[test]
fn table() {
    let cfg = config();
    let strict = Config {
        rotation_store: RotationStore::DurableObject,
        ..config()
    };
    let trials = trials();
    let mut text = String::new();
    writeln!(
        text,
        "{trials} seeded runs per cell; grace {} s; locations {LOCATIONS:?}, RTT to the object {RTT_MS:?} ms\n",
        cfg.grace
    )
    .unwrap();
    let mut cells = Vec::new();
    for sc in scenarios() {
        for d in DELTAS {
            for mode in [Mode::Kv, Mode::Strict] {
                let c = if mode == Mode::Kv { &cfg } else { &strict };
                cells.push((sc.name, d, mode, cell(c, mode, &sc, d, trials)));
            }
        }
    }
    let get = |name: &str, d: u64, mode: Mode| {
        &cells
            .iter()
            .find(|(n, dd, m, _)| *n == name && *dd == d && *m == mode)
            .unwrap()
            .3
    };
    // One row per scenario, measure and mode; one column per Δ.
    let heads: Vec<String> = DELTAS.iter().map(|d| format!("Δ = {d} s")).collect();
    writeln!(
        text,
        "| scenario | measure | mode | {} |",
        heads.join(" | ")
    )
    .unwrap();
    writeln!(text, "|---|---|---|{}", "---|".repeat(DELTAS.len())).unwrap();
    type Measure = (&'static str, fn(&Cell, u32) -> String);
    let detected: Measure = ("reuse detected", |c, n| pct(c.detected, n));
    let live: Measure = ("thief still refreshing at the end", |c, n| {
        pct(c.still_live, n)
    });
    let ended: Measure = ("ended family refreshed (longest after the end)", |c, n| {
        if c.refreshed_after_end == 0 {
            "0 %".into()
        } else {
            format!(
                "{} ({:.0} s)",
                pct(c.refreshed_after_end, n),
                c.window as f64 / 1000.0
            )
        }
    });
    let ended_live: Measure = ("ended session still refreshing at the end", |c, n| {
        pct(c.still_live, n)
    });
    let lost: Measure = ("innocent session lost", |c, n| pct(c.innocent_lost, n));
    let busy: Measure = ("503 answers per run", |c, n| {
        format!("{:.1}", c.unavailable as f64 / n as f64)
    });
    for sc in scenarios() {
        let measures: Vec<Measure> = match (sc.attacker, sc.innocent) {
            (Some(_), _) if sc.name.contains("rotat") => vec![detected, live, busy],
            (Some(_), _) => vec![ended, ended_live],
            _ if sc.name.starts_with("burst") => vec![lost, detected, ended, busy],
            _ => vec![lost],
        };
        for (label, f) in measures {
            for mode in [Mode::Kv, Mode::Strict] {
                let row: Vec<String> = DELTAS
                    .iter()
                    .map(|&d| f(get(sc.name, d, mode), trials))
                    .collect();
                let m = if mode == Mode::Kv {
                    "kv"
                } else {
                    "durable-object"
                };
                writeln!(
                    text,
                    "| {} | {label} | {m} | {} |",
                    sc.name,
                    row.join(" | ")
                )
                .unwrap();
            }
        }
    }
    text.push_str("\nScenarios:\n");
    for sc in scenarios() {
        writeln!(text, "- {}: {}", sc.name, sc.what).unwrap();
    }
    println!("{text}");

    for (name, d, mode, c) in &cells {
        if *mode == Mode::Strict {
            // Strict mode: an ended family is never refreshed, at any delay, in any run.
            assert_eq!(c.refreshed_after_end, 0, "{name} Δ={d}: {c:?}");
            // An innocent client loses its session only by re-presenting a token more than the
            // grace window after its first use (the burst spread over 30 s or more): that is
            // reuse, by definition.
            let beyond_grace = *name == "burst across locations" && d * 2 / 3 > cfg.grace;
            let lost = if beyond_grace { trials } else { 0 };
            if *name == "burst across locations" || *name == "roaming after login" {
                assert_eq!(c.innocent_lost, lost, "{name} Δ={d}: {c:?}");
            }
            assert_eq!(c.unavailable, 0, "{name} Δ={d}: {c:?}");
        }
    }
    for name in ["replay after rotation", "thief rotates first"] {
        for d in DELTAS {
            let strict = get(name, d, Mode::Strict);
            if d > cfg.grace {
                // Past the grace window a replay is reuse: detected, and the thief is out.
                assert_eq!(strict.detected, trials, "{name} Δ={d}");
                assert_eq!(strict.still_live, 0, "{name} Δ={d}");
            } else {
                // Inside it, a replay is the grace replay in both modes: the thief rides along.
                assert_eq!(strict.detected, 0, "{name} Δ={d}");
                assert_eq!(strict.still_live, trials, "{name} Δ={d}");
            }
        }
        // KV: at once, the other location cannot have seen the rotation: never detected there.
        assert_eq!(get(name, 0, Mode::Kv).detected, 0, "{name}");
    }
    // KV: 61 s after the rotation every location has the family record (no miss to cache).
    assert_eq!(get("replay after rotation", 61, Mode::Kv).detected, trials);
    // KV: a logout is invisible elsewhere at once; the model makes that certain.
    assert_eq!(get("logout", 0, Mode::Kv).refreshed_after_end, trials);
}
