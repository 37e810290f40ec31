//! An exhaustive small-scope check of rotation, beside the seeded simulation (`simulation.rs`):
//! the real `AuthService` (through `rotation::execute`, the path both Worker modes take) on one
//! family, for every set of up to three concurrent requests (refresh of the current token,
//! replay of its predecessor, logout, logout-all) at up to three locations, in every order,
//! with the clock passing the grace window at every point (or never), and in KV mode every
//! answer each KV read may give and every write KV may refuse (429). Nothing is sampled.
//!
//! How, and why not a model checker: the properties are about the code that ships, so the
//! explorer runs it (a second, hand-written model of rotation in `stateright` would check the
//! model, not the service). It is a stateless depth-first search over the choices the world
//! makes (which request goes next, when the clock moves, what a read returns, whether a write is
//! refused): each run replays a prefix of choices from scratch and the next run changes the last
//! choice that has an untried alternative, until none is left (as CHESS or `loom` do).
//!
//! The world: in strict mode the rotation object is one linearizable store and a call runs to
//! its end without yielding (`src/worker/rotation_object.rs`), so an interleaving is an order
//! of the calls. In KV mode a request runs at its location; each read returns any version of
//! the key written so far that is not older than what the location itself wrote or read before
//! (KV's propagation delay and negative cache can hide any later write, never the location's own
//! or one it already saw), and a write to a key another request wrote at the same instant may be
//! refused (429, one write per second per key). Requests are atomic at their location: two
//! requests' reads and writes are not interleaved with each other (a stale read already covers
//! a write another location made meanwhile; what is left out is a pair of requests that each
//! see a write the other made during its run).
//!
//! Properties, checked on every complete run:
//! - both modes: no family has two live successors (two distinct tokens of it that both refresh
//!   once everything has propagated, past the grace window);
//! - strict: an innocent session is never lost (requests that are only one client's own: a
//!   burst of its current token, or retries of the predecessor whose rotation's answer it lost,
//!   inside the grace window, all get 200 and leave it a live token);
//! - strict: every reuse outside the grace window is detected (answered `invalid_grant`, the
//!   family revoked: no live token, no later refresh answered 200), and a logout or logout-all
//!   that answered ends the family the same way;
//! - KV: what it cannot promise is printed with the first counterexample trace of each property
//!   (`cargo test --test native exhaustive::full -- --nocapture --ignored`, `make exhaustive`).

use crate::server_common::config;
use silent_refresh::core::server::config::RotationStore;
use silent_refresh::core::server::error::AuthError;
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::rotation::{execute, Answer, Call};
use silent_refresh::core::server::store::{KvStore, StoreError};
use silent_refresh::core::server::{AuthService, Config};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

/// Where the rotation state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Kv,
    Strict,
}

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Refreshes the family's current token.
    Refresh,
    /// Presents the current token's predecessor again (a client retrying after a lost answer,
    /// or a thief with a copy).
    Replay,
    /// Logs out with the current token.
    Logout,
    /// Logs out everywhere with the access token issued beside the current token.
    LogoutAll,
}

const KINDS: [Kind; 4] = [Kind::Refresh, Kind::Replay, Kind::Logout, Kind::LogoutAll];
/// Locations (0 made the login and the first rotation).
pub const LOCATIONS: usize = 3;
/// When the login happened (ms).
const START: u64 = 1_700_000_000_000;
/// When the first rotation happened: the current token's predecessor was retired then.
const ROTATED: u64 = START + 600_000;
/// When the concurrent requests start: 2 s after the rotation.
const CONCURRENT: u64 = ROTATED + 2_000;

/// One stored version of a key.
#[derive(Clone, Debug)]
struct Version {
    value: Option<String>,
    /// Expiry (ms), from the write's TTL.
    expires: Option<u64>,
    /// The request that wrote it (`None`: the setup).
    by: Option<usize>,
    at: u64,
}

/// The choices of one run: a prefix to follow, then the first alternative of each new choice.
#[derive(Default)]
struct Choices {
    prefix: Vec<usize>,
    taken: Vec<(usize, usize)>,
}

impl Choices {
    fn choose(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let i = self.taken.len();
        let c = self.prefix.get(i).copied().unwrap_or(0);
        self.taken.push((c, n));
        c
    }

    /// The prefix of the next run, `None` when every alternative was tried.
    fn next(mut self) -> Option<Vec<usize>> {
        while let Some((c, n)) = self.taken.pop() {
            if c + 1 < n {
                let mut p: Vec<usize> = self.taken.iter().map(|(c, _)| *c).collect();
                p.push(c + 1);
                return Some(p);
            }
        }
        None
    }
}

/// The storage of one run.
struct World {
    mode: Mode,
    clock: Cell<u64>,
    versions: RefCell<HashMap<String, Vec<Version>>>,
    /// Per (location, key): the oldest version the location may still read (its own write or
    /// one it read), as an index into the key's versions.
    floor: RefCell<HashMap<(usize, String), usize>>,
    choices: RefCell<Choices>,
    /// Every choice point visited (states of the search).
    states: Cell<u64>,
    trace: RefCell<Vec<String>>,
}

/// The world as the Worker at `loc` running request `req` sees it.
struct View<'w> {
    w: &'w World,
    loc: usize,
    req: Option<usize>,
}

impl World {
    fn choose(&self, n: usize) -> usize {
        if n > 1 {
            self.states.set(self.states.get() + 1);
        }
        self.choices.borrow_mut().choose(n)
    }

    fn read(&self, loc: usize, key: &str) -> Option<String> {
        let versions = self.versions.borrow();
        let vs = versions.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let latest = vs.len();
        // Candidates: the version indices a read may return; `latest` stands for "absent"
        // only when no version is forced.
        let floor = match self.mode {
            Mode::Strict => latest.checked_sub(1),
            Mode::Kv => self.floor.borrow().get(&(loc, key.to_string())).copied(),
        };
        let candidates: Vec<Option<usize>> = match floor {
            Some(f) => (f..latest).map(Some).collect(),
            None => std::iter::once(None).chain((0..latest).map(Some)).collect(),
        };
        // Newest first: the first run of the search is the one where everything propagated.
        let pick = candidates[candidates.len() - 1 - self.choose(candidates.len())];
        let now = self.clock.get();
        let value = pick.and_then(|i| {
            let v = &vs[i];
            v.value
                .clone()
                .filter(|_| v.expires.is_none_or(|e| now < e))
        });
        if let (Mode::Kv, Some(i)) = (self.mode, pick) {
            self.floor.borrow_mut().insert((loc, key.to_string()), i);
        }
        if pick != latest.checked_sub(1) {
            self.note(format!("    stale read of {} at loc {loc}", short(key)));
        }
        value
    }

    fn write(
        &self,
        loc: usize,
        req: Option<usize>,
        key: &str,
        value: Option<String>,
        ttl: Option<u64>,
    ) -> Result<(), StoreError> {
        let now = self.clock.get();
        let contended = self.mode == Mode::Kv
            && req.is_some()
            && self.versions.borrow().get(key).is_some_and(|vs| {
                vs.iter()
                    .any(|v| v.at == now && v.by.is_some() && v.by != req)
            });
        if contended && self.choose(2) == 1 {
            self.note(format!("    write of {} refused (429)", short(key)));
            return Err(StoreError::RateLimited);
        }
        let mut versions = self.versions.borrow_mut();
        let vs = versions.entry(key.to_string()).or_default();
        vs.push(Version {
            value,
            expires: ttl.map(|t| now + t * 1000),
            by: req,
            at: now,
        });
        let i = vs.len() - 1;
        let mut floor = self.floor.borrow_mut();
        if req.is_none() {
            // The setup happened long ago as far as propagation goes: every location sees it.
            for l in 0..LOCATIONS {
                floor.insert((l, key.to_string()), i);
            }
        } else {
            floor.insert((loc, key.to_string()), i);
        }
        Ok(())
    }

    fn note(&self, line: String) {
        self.trace.borrow_mut().push(line);
    }

    /// A copy where everything has propagated (every read returns the newest version).
    fn converged(&self) -> World {
        World {
            mode: Mode::Strict,
            clock: Cell::new(self.clock.get()),
            versions: RefCell::new(self.versions.borrow().clone()),
            floor: RefCell::default(),
            choices: RefCell::default(),
            states: Cell::new(0),
            trace: RefCell::default(),
        }
    }
}

fn short(key: &str) -> &str {
    &key[..key.len().min(10)]
}

impl KvStore for View<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.w.read(self.loc, key))
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.w
            .write(self.loc, self.req, key, Some(value.to_string()), ttl)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.w.write(self.loc, self.req, key, None, None)
    }
}

/// How a request was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reply {
    Issued { refresh: String },
    Done,
    InvalidGrant,
    Unavailable,
    Other(String),
}

/// The tokens of the family before the concurrent requests.
struct Family {
    predecessor: String,
    current: String,
    access: String,
}

fn call_at(cfg: &Config, w: &World, loc: usize, req: Option<usize>, call: &Call) -> Reply {
    let now = w.clock.get();
    let svc = AuthService::new(cfg, View { w, loc, req }, Pbkdf2);
    match pollster::block_on(execute(&svc, call, now, &NoUpstream)) {
        Ok(Answer::Issued(r)) => Reply::Issued {
            refresh: r.refresh_token.as_str().to_string(),
        },
        Ok(_) => Reply::Done,
        Err(AuthError::InvalidGrant) => Reply::InvalidGrant,
        Err(AuthError::TemporarilyUnavailable) => Reply::Unavailable,
        Err(e) => Reply::Other(format!("{e:?}")),
    }
}

fn setup(cfg: &Config, w: &World) -> Family {
    w.clock.set(START);
    let start = Call::StartFamily {
        sub: "alice".into(),
        claims: Default::default(),
        dpop: None,
        epoch: None,
        upstream: None,
    };
    let svc = AuthService::new(
        cfg,
        View {
            w,
            loc: 0,
            req: None,
        },
        Pbkdf2,
    );
    let Ok(Answer::Issued(first)) = pollster::block_on(execute(&svc, &start, START, &NoUpstream))
    else {
        panic!("login failed")
    };
    w.clock.set(ROTATED);
    let predecessor = first.refresh_token.as_str().to_string();
    let refresh = Call::Refresh {
        token: predecessor.clone(),
        dpop: None,
    };
    let Ok(Answer::Issued(second)) =
        pollster::block_on(execute(&svc, &refresh, ROTATED, &NoUpstream))
    else {
        panic!("first rotation failed")
    };
    Family {
        predecessor,
        current: second.refresh_token.as_str().to_string(),
        access: second.access_token,
    }
}

/// What one complete run showed.
#[derive(Debug, Default)]
struct RunResult {
    fork: bool,
    innocent_lost: bool,
    reuse_missed: bool,
    end_missed: bool,
    trace: Vec<String>,
}

/// One run of `reqs` under the choices of `w`.
fn run_once(cfg: &Config, w: &World, reqs: &[(Kind, usize)]) -> RunResult {
    let family = setup(cfg, w);
    w.trace.borrow_mut().clear();
    w.clock.set(CONCURRENT);
    let past_grace = ROTATED + cfg.grace * 1000 + 1_000;
    let mut pending: Vec<usize> = (0..reqs.len()).collect();
    let mut ticked = false;
    let mut replies: Vec<(usize, u64, Reply)> = Vec::new();
    while !pending.is_empty() {
        // The next event: one of the pending requests, or the clock passing the grace window.
        let options = pending.len() + usize::from(!ticked);
        let c = w.choose(options);
        if c == pending.len() {
            ticked = true;
            w.clock.set(past_grace);
            w.note("  clock passes the grace window".into());
            continue;
        }
        let r = pending.remove(c);
        let (kind, loc) = reqs[r];
        let call = match kind {
            Kind::Refresh => Call::Refresh {
                token: family.current.clone(),
                dpop: None,
            },
            Kind::Replay => Call::Refresh {
                token: family.predecessor.clone(),
                dpop: None,
            },
            Kind::Logout => Call::Logout {
                token: family.current.clone(),
            },
            Kind::LogoutAll => Call::LogoutAll {
                access_token: family.access.clone(),
                dpop: None,
            },
        };
        let at = w.trace.borrow().len();
        let reply = call_at(cfg, w, loc, Some(r), &call);
        w.trace.borrow_mut().insert(
            at,
            format!(
                "  #{r} {kind:?} at loc {loc}, t = rotation + {} s: {reply:?}",
                (w.clock.get() - ROTATED) / 1000
            ),
        );
        replies.push((r, w.clock.get(), reply));
    }
    // Liveness: each token the family ever had, refreshed once everything has propagated and
    // the grace window is over, each on its own copy of the world.
    let end = w.clock.get().max(past_grace) + cfg.grace * 1000 + 1_000;
    let mut tokens = vec![family.current.clone(), family.predecessor.clone()];
    for (_, _, reply) in &replies {
        if let Reply::Issued { refresh } = reply {
            tokens.push(refresh.clone());
        }
    }
    tokens.sort();
    tokens.dedup();
    let live: Vec<&String> = tokens
        .iter()
        .filter(|t| {
            let copy = w.converged();
            copy.clock.set(end);
            let call = Call::Refresh {
                token: (*t).clone(),
                dpop: None,
            };
            matches!(call_at(cfg, &copy, 0, None, &call), Reply::Issued { .. })
        })
        .collect();
    let mut out = RunResult {
        fork: live.len() > 1,
        ..RunResult::default()
    };
    // One client's own requests: a burst of its current token, or retries of the predecessor
    // after the rotation's answer was lost (a client never holds both), inside the grace window.
    let innocent = [Kind::Refresh, Kind::Replay]
        .iter()
        .any(|k| reqs.iter().all(|(r, _)| r == k))
        && !ticked;
    if innocent {
        let refused = replies
            .iter()
            .any(|(_, _, r)| !matches!(r, Reply::Issued { .. } | Reply::Unavailable));
        out.innocent_lost = refused || live.is_empty();
    }
    // The first reuse (a replay decided past the grace window) or end of the family that was
    // answered; after it no refresh may succeed and nothing may stay live.
    let ender = replies.iter().position(|(r, at, reply)| match reqs[*r].0 {
        Kind::Replay => *at >= past_grace,
        Kind::Logout | Kind::LogoutAll => *reply == Reply::Done,
        Kind::Refresh => false,
    });
    if let Some(i) = ender {
        let refreshed_after = replies[i..]
            .iter()
            .any(|(_, _, r)| matches!(r, Reply::Issued { .. }));
        let missed = refreshed_after || !live.is_empty();
        if reqs[replies[i].0].0 == Kind::Replay {
            out.reuse_missed = missed;
        } else {
            out.end_missed = missed;
        }
    }
    if out.fork {
        w.note(format!("  live at the end: {} distinct tokens", live.len()));
    }
    out.trace = w.trace.borrow().clone();
    out
}

/// The totals of exploring one mode.
#[derive(Debug, Default)]
pub struct Totals {
    /// Request sets explored.
    pub sets: u64,
    /// Complete runs (interleavings with their read and write outcomes).
    pub runs: u64,
    /// Choice points visited.
    pub states: u64,
    /// Per property: runs that broke it, and the first such run's request set and trace.
    pub broken: BTreeMap<&'static str, (u64, String)>,
}

/// Every request set of up to `max_requests` requests at up to `locations` locations.
fn request_sets(max_requests: usize, locations: usize) -> Vec<Vec<(Kind, usize)>> {
    let all: Vec<(Kind, usize)> = KINDS
        .iter()
        .flat_map(|&k| (0..locations).map(move |l| (k, l)))
        .collect();
    let mut sets = Vec::new();
    fn grow(
        all: &[(Kind, usize)],
        from: usize,
        cur: &mut Vec<(Kind, usize)>,
        max: usize,
        out: &mut Vec<Vec<(Kind, usize)>>,
    ) {
        if !cur.is_empty() {
            out.push(cur.clone());
        }
        if cur.len() == max {
            return;
        }
        for i in from..all.len() {
            cur.push(all[i]);
            grow(all, i, cur, max, out);
            cur.pop();
        }
    }
    grow(&all, 0, &mut Vec::new(), max_requests, &mut sets);
    sets
}

/// Explores every run of every request set in `mode`.
pub fn explore(mode: Mode, max_requests: usize, locations: usize) -> Totals {
    let cfg = Config {
        rotation_store: match mode {
            Mode::Kv => RotationStore::Kv,
            Mode::Strict => RotationStore::DurableObject,
        },
        ..config()
    };
    let mut t = Totals::default();
    for reqs in request_sets(max_requests, locations) {
        t.sets += 1;
        let mut prefix = Some(Vec::new());
        while let Some(p) = prefix {
            let w = World {
                mode,
                clock: Cell::new(START),
                versions: RefCell::default(),
                floor: RefCell::default(),
                choices: RefCell::new(Choices {
                    prefix: p,
                    taken: Vec::new(),
                }),
                states: Cell::new(0),
                trace: RefCell::default(),
            };
            let r = run_once(&cfg, &w, &reqs);
            t.runs += 1;
            t.states += w.states.get() + 1;
            for (name, broke) in [
                ("no family has two live successors", r.fork),
                ("an innocent session is never lost", r.innocent_lost),
                (
                    "every reuse past the grace window is detected",
                    r.reuse_missed,
                ),
                (
                    "a logout or logout-all that answered ends the family",
                    r.end_missed,
                ),
            ] {
                if broke {
                    let e = t.broken.entry(name).or_insert((0, String::new()));
                    if e.0 == 0 {
                        e.1 = format!("requests {reqs:?}\n{}", r.trace.join("\n"));
                    }
                    e.0 += 1;
                }
            }
            prefix = w.choices.into_inner().next();
        }
    }
    t
}

fn report(mode: Mode, max_requests: usize, locations: usize) -> (Totals, String) {
    let started = Instant::now();
    let t = explore(mode, max_requests, locations);
    let mut text = String::new();
    writeln!(
        text,
        "{mode:?}: up to {max_requests} concurrent requests at up to {locations} locations: {} request sets, {} runs, {} states, {:.1} s",
        t.sets,
        t.runs,
        t.states,
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    if t.broken.is_empty() {
        writeln!(text, "  every property holds in every run").unwrap();
    }
    for (name, (n, trace)) in &t.broken {
        writeln!(
            text,
            "  NOT \"{name}\": {n} runs; first counterexample:\n{trace}"
        )
        .unwrap();
    }
    (t, text)
}

/// The bounded check that runs in `cargo test`: two requests at two locations, both modes;
/// strict mode must keep every property, KV mode must not fork.
#[test]
fn bounded() {
    let (strict, text) = report(Mode::Strict, 2, 2);
    println!("{text}");
    assert!(strict.runs > 100, "{text}");
    assert!(strict.broken.is_empty(), "{text}");
    let (kv, text) = report(Mode::Kv, 2, 2);
    println!("{text}");
    assert!(
        !kv.broken.contains_key("no family has two live successors"),
        "{text}"
    );
    // What KV cannot promise is found even at this size (a positive control of the checks).
    assert!(
        kv.broken
            .contains_key("every reuse past the grace window is detected"),
        "{text}"
    );
}

/// The full check (`make exhaustive`): three requests at three locations, both modes.
#[test]
#[ignore = "minutes; run by make exhaustive"]
fn full() {
    let (strict, text) = report(Mode::Strict, 3, LOCATIONS);
    println!("{text}");
    let (kv, kv_text) = report(Mode::Kv, 3, LOCATIONS);
    println!("{kv_text}");
    assert!(strict.broken.is_empty(), "{text}");
    assert!(
        !kv.broken.contains_key("no family has two live successors"),
        "{kv_text}"
    );
}
