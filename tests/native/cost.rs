//! What each operation costs on Cloudflare's price list: the storage operations of login,
//! refresh, logout, logout-all and `/api/me`, in each `ROTATION_STORE`, with and without DPoP,
//! counted with instrumented stores around the real service on the path the Worker takes
//! (`src/worker/handlers.rs` and `rotation_object.rs`):
//!
//! - KV mode: every call runs over the Worker's KV ([`rotation::execute`]);
//! - strict mode: a rotation call is one request to the subject's Durable Object, which runs the
//!   same `execute` over its SQLite table `kv(k, v, exp)` (and first sweeps expired rows before a
//!   family starts or a DPoP proof is spent, at most once a minute per live object: calls of
//!   the usage model are minutes apart, so every such call sweeps); the Worker itself reads users and epochs from KV,
//!   spends `/api/me` proofs there and copies a new epoch there;
//! - login: two throttle counters (account, address), each a Durable Object request, checked
//!   before and settled after the password check (`src/worker/throttle.rs`).
//!
//! KV is billed per key: a bulk read of three keys is three reads (one operation and one round
//! trip). SQLite rows are billed as workerd counts them (`cursor.rowsRead` / `rowsWritten`);
//! `bench/cost/sql-rows.mjs` measures those per statement of `SqlStore` in workerd itself, and
//! the rules below are its figures.
//!
//! `make cost` prints the table of docs/BENCHMARKS.md ("What it costs") and the monthly bills;
//! `cargo test --test native cost::` also checks each operation against its budget.
//!
//! CPU time is a timing, not a count: `bench/cost/cpu.mjs` measures it in workerd (the `cpu`
//! step of `make bench`). With `COST_CPU=<its JSON>` (bench/run.sh passes it to scripts/cost.sh)
//! the table gets a CPU-ms column and the Paid bill the CPU time beyond the 30 M ms included;
//! without it the bill says that CPU is not in it.

use crate::server_common::{config, run, T0};
use serde_json::Map;
use silent_refresh::core::server::config::RotationStore;
use silent_refresh::core::server::dpop::Proof;
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::rotation::{execute, Answer, Call};
use silent_refresh::core::server::store::{KvStore, MemoryStore, StoreError};
use silent_refresh::core::server::throttle::{MemoryThrottle, Scope, Throttle, Verdict};
use silent_refresh::core::server::{AuthService, Config};
use std::cell::Cell;
use std::fmt::Write as _;

// SQLite rows workerd counts for the statements of `SqlStore` and of the throttle, as
// bench/cost/sql-rows.mjs measured them in workerd, for the table `kv` as the object creates it
// (WITHOUT ROWID; an object created before that change has a rowid table, whose writes cost
// twice: the row and its primary-key index entry):
// - `SELECT k, v FROM kv WHERE k IN (...)` of one key: one row read if found, none if absent; of
//   n > 1 keys: n + the number found (the IN list is a table of its own);
// - `INSERT OR REPLACE INTO kv`, new key or existing: 1 row written;
// - `DELETE FROM kv WHERE k = ?` of an existing key: 1 read, 1 written; of an absent one: none;
// - the sweep `DELETE FROM kv WHERE exp <= ?` (no index on `exp`): every row read, each expired
//   row written;
// - a throttle call: `SELECT` (1 row read, found or not), the upsert (1 read, 1 written), and
//   `setAlarm` (billed as one row written: Cloudflare's Durable Objects pricing page).
fn rows_read_by_select(keys: u64, found: u64) -> u64 {
    if keys == 1 {
        found
    } else {
        keys + found
    }
}
const PUT_NEW: (u64, u64) = (0, 1);
const PUT_EXISTING: (u64, u64) = (0, 1);
const DELETE_EXISTING: (u64, u64) = (1, 1);
const THROTTLE_ROWS_READ: u64 = 2;
const THROTTLE_ROWS_WRITTEN: u64 = 2;

/// What a store was asked to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Count {
    /// Keys read (a bulk read counts each key: KV bills per key).
    reads: u64,
    /// Read operations (a bulk read is one).
    read_ops: u64,
    writes: u64,
    deletes: u64,
    /// SQLite rows read and written, as workerd would count them (strict mode's object).
    rows_read: u64,
    rows_written: u64,
}

impl std::ops::Sub for Count {
    type Output = Count;
    fn sub(self, o: Count) -> Count {
        Count {
            reads: self.reads - o.reads,
            read_ops: self.read_ops - o.read_ops,
            writes: self.writes - o.writes,
            deletes: self.deletes - o.deletes,
            rows_read: self.rows_read - o.rows_read,
            rows_written: self.rows_written - o.rows_written,
        }
    }
}

/// A [`MemoryStore`] that counts what it is asked to do.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    reads: Cell<u64>,
    read_ops: Cell<u64>,
    writes: Cell<u64>,
    deletes: Cell<u64>,
    rows_read: Cell<u64>,
    rows_written: Cell<u64>,
}

fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get() + n);
}

impl Counting {
    fn count(&self) -> Count {
        Count {
            reads: self.reads.get(),
            read_ops: self.read_ops.get(),
            writes: self.writes.get(),
            deletes: self.deletes.get(),
            rows_read: self.rows_read.get(),
            rows_written: self.rows_written.get(),
        }
    }

    /// The object's sweep (`DELETE FROM kv WHERE exp <= now`: no index on `exp`, so a scan of
    /// every row), as `RotationObject::run` does it.
    fn sweep(&self, now: u64) {
        let rows = self.inner.rows();
        bump(&self.rows_read, rows.len() as u64);
        for (k, exp) in rows {
            if exp.is_some_and(|e| e <= now) {
                bump(&self.rows_written, 1);
                pollster::block_on(self.inner.delete(&k)).unwrap();
            }
        }
    }

    /// Whether the table has a row for `key` (expired or not: the sweep has not run).
    fn has_row(&self, key: &str) -> bool {
        self.inner.rows().iter().any(|(k, _)| k == key)
    }

    fn rows(&self, (read, written): (u64, u64)) {
        bump(&self.rows_read, read);
        bump(&self.rows_written, written);
    }
}

impl KvStore for Counting {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get_many(&[key]).await?.pop().flatten())
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        bump(&self.reads, keys.len() as u64);
        bump(&self.read_ops, 1);
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.inner.get(k).await?);
        }
        let found = out.iter().filter(|v| v.is_some()).count() as u64;
        bump(
            &self.rows_read,
            rows_read_by_select(keys.len() as u64, found),
        );
        Ok(out)
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        bump(&self.writes, 1);
        self.rows(if self.has_row(key) {
            PUT_EXISTING
        } else {
            PUT_NEW
        });
        self.inner.put(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        bump(&self.deletes, 1);
        if self.has_row(key) {
            self.rows(DELETE_EXISTING);
        }
        self.inner.delete(key).await
    }
}

/// The login throttle's counters, each call one Durable Object request.
#[derive(Default)]
struct CountingThrottle {
    inner: MemoryThrottle,
    calls: Cell<u64>,
}

impl Throttle for CountingThrottle {
    async fn attempt(
        &self,
        scope: Scope,
        key: &str,
        address: Option<&str>,
        now: u64,
    ) -> Result<Verdict, StoreError> {
        bump(&self.calls, 1);
        self.inner.attempt(scope, key, address, now).await
    }
    async fn succeed(&self, key: &str, address: Option<&str>, now: u64) -> Result<(), StoreError> {
        bump(&self.calls, 1);
        self.inner.succeed(key, address, now).await
    }
    async fn refund(&self, scope: Scope, key: &str) -> Result<(), StoreError> {
        bump(&self.calls, 1);
        self.inner.refund(scope, key).await
    }
}

/// What one operation cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cost {
    /// Requests to the Worker (each operation is one HTTP request).
    worker_requests: u64,
    kv: Count,
    /// Durable Object requests (rotation object and throttle counters).
    do_requests: u64,
    /// SQLite rows read / written in Durable Objects.
    rows_read: u64,
    rows_written: u64,
}

/// One deployment: the Worker's KV, the subject's object (strict mode), the throttle.
struct Deployment {
    cfg: Config,
    kv: Counting,
    object: Counting,
    throttle: CountingThrottle,
    object_requests: Cell<u64>,
    jti: Cell<u64>,
}

const JKT: &str = "A7Tc0PHDZbuy1nfR-7rKOZqr7G5p0eNvQ4ugzmbIQpc";

impl Deployment {
    fn new(store: RotationStore) -> Deployment {
        let mut cfg = config();
        cfg.rotation_store = store;
        let d = Deployment {
            cfg,
            kv: Counting::default(),
            object: Counting::default(),
            throttle: CountingThrottle::default(),
            object_requests: Cell::new(0),
            jti: Cell::new(0),
        };
        let svc = AuthService::new(&d.cfg, &d.kv, Pbkdf2);
        run(svc.create_user("alice", "alice-password-1", None)).unwrap();
        d
    }

    fn strict(&self) -> bool {
        self.cfg.rotation_store == RotationStore::DurableObject
    }

    fn set_time(&self, now: u64) {
        self.kv.inner.set_time(now);
        self.object.inner.set_time(now);
    }

    fn proof(&self, dpop: bool, now: u64) -> Option<Proof> {
        dpop.then(|| {
            self.jti.set(self.jti.get() + 1);
            Proof {
                jkt: JKT.into(),
                jti: format!("jti-{}", self.jti.get()),
                iat: now,
            }
        })
    }

    /// Runs a rotation call where the Worker runs it (`Rotation::run`).
    fn call(&self, call: Call, now: u64) -> Answer {
        let worker = AuthService::new(&self.cfg, &self.kv, Pbkdf2);
        if !self.strict() {
            return run(execute(&worker, &call, now * 1000, &NoUpstream)).unwrap();
        }
        bump(&self.object_requests, 1);
        if matches!(
            call,
            Call::StartFamily { .. }
                | Call::Refresh { dpop: Some(_), .. }
                | Call::LogoutAll { dpop: Some(_), .. }
        ) {
            self.object.sweep(now);
        }
        let object = AuthService::new(&self.cfg, &self.object, Pbkdf2);
        let answer = run(execute(&object, &call, now * 1000, &NoUpstream)).unwrap();
        if let Answer::Epoch { sub, epoch } = &answer {
            run(worker.store_epoch(sub, epoch)).unwrap();
        }
        answer
    }

    /// Measures `f`.
    fn measure<T>(&self, f: impl FnOnce() -> T) -> (T, Cost) {
        let (kv0, ob0, th0, rq0) = (
            self.kv.count(),
            self.object.count(),
            self.throttle.calls.get(),
            self.object_requests.get(),
        );
        let out = f();
        let kv = self.kv.count() - kv0;
        let ob = self.object.count() - ob0;
        let throttle = self.throttle.calls.get() - th0;
        let object_requests = self.object_requests.get() - rq0;
        let cost = Cost {
            worker_requests: 1,
            kv: Count {
                rows_read: 0,
                rows_written: 0,
                ..kv
            },
            do_requests: object_requests + throttle,
            rows_read: ob.rows_read + throttle * THROTTLE_ROWS_READ,
            rows_written: ob.rows_written + throttle * THROTTLE_ROWS_WRITTEN,
        };
        (out, cost)
    }

    fn login(&self, dpop: bool, now: u64) -> (String, String, Cost) {
        self.set_time(now);
        let (r, cost) = self.measure(|| {
            let worker = AuthService::new(&self.cfg, &self.kv, Pbkdf2);
            let sub = run(worker.authenticate(
                "alice",
                "alice-password-1",
                Some("192.0.2.1"),
                &self.throttle,
                now * 1000,
            ))
            .unwrap();
            let start = Call::StartFamily {
                sub,
                claims: Map::new(),
                dpop: self.proof(dpop, now),
                epoch: None,
                upstream: None,
            };
            match self.call(start, now) {
                Answer::Issued(r) => r,
                other => panic!("login answered {other:?}"),
            }
        });
        (r.refresh_token.as_str(), r.access_token.clone(), cost)
    }

    fn refresh(&self, token: &str, dpop: bool, now: u64) -> (String, String, Cost) {
        self.set_time(now);
        let (r, cost) = self.measure(|| {
            let call = Call::Refresh {
                token: token.into(),
                dpop: self.proof(dpop, now),
            };
            match self.call(call, now) {
                Answer::Issued(r) => r,
                other => panic!("refresh answered {other:?}"),
            }
        });
        (r.refresh_token.as_str(), r.access_token.clone(), cost)
    }

    fn me(&self, access: &str, dpop: bool, now: u64) -> Cost {
        self.set_time(now);
        self.measure(|| {
            let worker = AuthService::new(&self.cfg, &self.kv, Pbkdf2);
            run(worker.verify_access(access, self.proof(dpop, now).as_ref(), now)).unwrap();
        })
        .1
    }

    fn logout(&self, token: &str, now: u64) -> Cost {
        self.set_time(now);
        self.measure(|| {
            self.call(
                Call::Logout {
                    token: token.into(),
                },
                now,
            );
        })
        .1
    }

    fn logout_all(&self, access: &str, dpop: bool, now: u64) -> Cost {
        self.set_time(now);
        self.measure(|| {
            let call = Call::LogoutAll {
                access_token: access.into(),
                dpop: self.proof(dpop, now),
            };
            assert!(matches!(self.call(call, now), Answer::Epoch { .. }));
        })
        .1
    }
}

/// The operations of one kind of session, measured in steady state: a login, 40 refreshes 15
/// minutes apart (the state a user has after a day: one family, its retired tokens kept until
/// the family's absolute expiry) of which the last is measured, `/api/me`, a logout; then a
/// login and a logout-all.
#[derive(Clone, Copy, Debug, Default)]
struct Row {
    login: Cost,
    refresh: Cost,
    me: Cost,
    logout: Cost,
    logout_all: Cost,
}

fn measure_row(store: RotationStore, dpop: bool) -> Row {
    let d = Deployment::new(store);
    let mut now = T0;
    let (mut token, _, login) = d.login(dpop, now);
    let mut access = String::new();
    let mut refresh = Cost::default();
    // The config's idle timeout is 3600 s and its absolute lifetime 10 h: 30 refreshes, 15
    // minutes apart, stay inside both.
    for _ in 0..30 {
        now += 900;
        let (t, a, c) = d.refresh(&token, dpop, now);
        token = t;
        access = a;
        refresh = c;
    }
    let me = d.me(&access, dpop, now + 1);
    let logout = d.logout(&token, now + 2);
    let (_, access2, _) = d.login(dpop, now + 3);
    let logout_all = d.logout_all(&access2, dpop, now + 4);
    Row {
        login,
        refresh,
        me,
        logout,
        logout_all,
    }
}

const OPS: [&str; 5] = ["login", "refresh", "/api/me", "logout", "logout-all"];

fn ops(r: &Row) -> [Cost; 5] {
    [r.login, r.refresh, r.me, r.logout, r.logout_all]
}

fn rows() -> Vec<(&'static str, bool, Row)> {
    let mut out = Vec::new();
    for (name, store) in [
        ("KV", RotationStore::Kv),
        ("Durable Object", RotationStore::DurableObject),
    ] {
        for dpop in [false, true] {
            out.push((name, dpop, measure_row(store, dpop)));
        }
    }
    out
}

/// The usage model of the bills: each monthly active user is active on 10 days of the month
/// (a third of them on any day), 8 hours each with 15-minute access tokens: 1 login, 32
/// refreshes (page loads restore the session with a refresh too; counted among them), 1 logout
/// every other active day, 1 logout-all a month; resource servers verify access tokens with the
/// JWKS and do not call `/api/me` (its cost per call is in the table for those that do).
const ACTIVE_DAYS: f64 = 10.0;
const DAILY: [f64; 5] = [1.0, 32.0, 0.0, 0.5, 0.1];

/// Cloudflare's published prices (see docs/BENCHMARKS.md for the pages cited).
struct Usage {
    worker_requests: f64,
    kv_reads: f64,
    kv_writes: f64,
    kv_deletes: f64,
    do_requests: f64,
    rows_read: f64,
    rows_written: f64,
    /// DO duration, GB-s: [`DO_CALL_SECONDS`] of wall time per request at 128 MB.
    do_gbs: f64,
    /// Worker CPU ms (0 when no figures were measured).
    cpu_ms: f64,
}

/// Wall time a Durable Object is held per request (an assumption: a rotation call or a throttle
/// counter update is a few SQL statements and no outgoing I/O).
const DO_CALL_SECONDS: f64 = 0.004;

fn usage_per_active_day(r: &Row, cpu: Option<&[f64; 5]>) -> Usage {
    let mut u = Usage {
        worker_requests: 0.0,
        kv_reads: 0.0,
        kv_writes: 0.0,
        kv_deletes: 0.0,
        do_requests: 0.0,
        rows_read: 0.0,
        rows_written: 0.0,
        do_gbs: 0.0,
        cpu_ms: 0.0,
    };
    if let Some(cpu) = cpu {
        u.cpu_ms = cpu.iter().zip(DAILY).map(|(ms, n)| ms * n).sum();
    }
    for (c, n) in ops(r).iter().zip(DAILY) {
        u.worker_requests += n * c.worker_requests as f64;
        u.kv_reads += n * c.kv.reads as f64;
        u.kv_writes += n * c.kv.writes as f64;
        u.kv_deletes += n * c.kv.deletes as f64;
        u.do_requests += n * c.do_requests as f64;
        u.rows_read += n * c.rows_read as f64;
        u.rows_written += n * c.rows_written as f64;
    }
    u.do_gbs = u.do_requests * DO_CALL_SECONDS * 0.125;
    u
}

/// Workers Paid: $5 a month, which includes 10 M requests, 10 M KV reads, 1 M KV writes,
/// 1 M deletes, 1 M Durable Object requests, 25 G rows read, 50 M rows written; beyond, per
/// million: $0.30, $0.50, $5, $5, $0.15, $0.001, $1; 30 M CPU ms, then $0.02 per million ms.
/// (Storage: see the notes of docs/BENCHMARKS.md.)
fn paid_bill(u: &Usage, mau: f64) -> f64 {
    let m = mau * ACTIVE_DAYS;
    let over = |used: f64, included: f64, per_million: f64| {
        ((used * m - included).max(0.0) / 1e6) * per_million
    };
    5.0 + over(u.worker_requests, 10e6, 0.30)
        + over(u.kv_reads, 10e6, 0.50)
        + over(u.kv_writes, 1e6, 5.0)
        + over(u.kv_deletes, 1e6, 5.0)
        + over(u.do_requests, 1e6, 0.15)
        + over(u.rows_read, 25e9, 0.001)
        + over(u.rows_written, 50e6, 1.0)
        + over(u.do_gbs, 400_000.0, 12.50)
        + over(u.cpu_ms, 30e6, 0.02)
}

/// Workers Free, per day: 100,000 requests, 100,000 KV reads, 1,000 writes, 1,000 deletes,
/// 100,000 Durable Object requests, 5 M rows read, 100,000 rows written. The largest number of
/// monthly active users it carries (a third of them active each day), and the limit that binds.
fn free_capacity(u: &Usage) -> (f64, &'static str) {
    let limits = [
        (u.worker_requests, 100_000.0, "Worker requests"),
        (u.kv_reads, 100_000.0, "KV reads"),
        (u.kv_writes, 1_000.0, "KV writes"),
        (u.kv_deletes, 1_000.0, "KV deletes"),
        (u.do_requests, 100_000.0, "Durable Object requests"),
        (u.rows_read, 5e6, "rows read"),
        (u.rows_written, 100_000.0, "rows written"),
        (u.do_gbs, 13_000.0, "DO duration"),
    ];
    let (dau, what) = limits
        .iter()
        .filter(|(per_user, _, _)| *per_user > 0.0)
        .map(|(per_user, limit, what)| (limit / per_user, *what))
        .fold((f64::INFINITY, ""), |a, b| if b.0 < a.0 { b } else { a });
    (dau * 30.0 / ACTIVE_DAYS, what)
}

/// CPU ms per operation measured in workerd by `bench/cost/cpu.mjs`, and where.
struct Cpu {
    /// By (store name of the table, DPoP), in the order of [`OPS`].
    ops: Vec<(&'static str, bool, [f64; 5])>,
    /// The machine and the run, for the table's caption.
    machine: String,
    /// The plausibility check of login's figure (Web Crypto's PBKDF2 against Node's).
    check: String,
}

impl Cpu {
    /// Reads the JSON of `bench/cost/cpu.mjs` (`stores.<kv|durable-object>.<bearer|dpop>.<op>.ms`).
    fn parse(json: &str) -> Result<Cpu, String> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut ops = Vec::new();
        for (name, key) in [("KV", "kv"), ("Durable Object", "durable-object")] {
            for dpop in [false, true] {
                let mut ms = [0.0; 5];
                for (i, op) in OPS.iter().enumerate() {
                    ms[i] = v["stores"][key][if dpop { "dpop" } else { "bearer" }][op]["ms"]
                        .as_f64()
                        .ok_or_else(|| format!("no CPU figure for {key}, DPoP {dpop}, {op}"))?;
                }
                ops.push((name, dpop, ms));
            }
        }
        let m = &v["machine"];
        let machine = format!(
            "{} ({} CPUs; load average {} at the end), {} × {} operations per figure ({} for login)",
            m["cpu"].as_str().unwrap_or("?"),
            m["nproc"].as_u64().unwrap_or(0),
            m["loadavg"].as_str().unwrap_or("?"),
            v["batches"].as_u64().unwrap_or(0),
            v["batch"].as_u64().unwrap_or(0),
            v["loginBatch"].as_u64().unwrap_or(0),
        );
        let login = &v["stores"]["kv"]["bearer"]["login"];
        let check = format!(
            "per login {:.1} ms of samples under Web Crypto's `deriveBits`, against {:.1} ms for Node's own PBKDF2 with the same parameters on the same machine",
            login["cryptoMs"].as_f64().unwrap_or(f64::NAN),
            v["pbkdf2NodeMs"].as_f64().unwrap_or(f64::NAN),
        );
        Ok(Cpu {
            ops,
            machine,
            check,
        })
    }

    /// From `$COST_CPU`, when set (a path that cannot be read or parsed is an error).
    fn from_env() -> Option<Cpu> {
        let path = std::env::var("COST_CPU").ok().filter(|p| !p.is_empty())?;
        let json =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("COST_CPU={path}: {e}"));
        Some(Cpu::parse(&json).unwrap_or_else(|e| panic!("COST_CPU={path}: {e}")))
    }

    fn of(&self, store: &str, dpop: bool) -> &[f64; 5] {
        &self
            .ops
            .iter()
            .find(|(s, d, _)| *s == store && *d == dpop)
            .unwrap()
            .2
    }
}

fn table(rows: &[(&'static str, bool, Row)], cpu: Option<&Cpu>) -> String {
    let mut s = String::new();
    s.push_str(HEADER);
    match cpu {
        Some(cpu) => {
            let text = CPU_MEASURED.replace("{machine}", &cpu.machine);
            let _ = write!(s, "{}", text.replace("{check}", &cpu.check));
        }
        None => s.push_str(CPU_MISSING),
    }
    s.push_str("| store | DPoP | operation | KV reads (ops) | KV writes | KV deletes | DO requests | rows read | rows written |");
    s.push_str(if cpu.is_some() {
        " CPU ms |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
    } else {
        "\n|---|---|---|---:|---:|---:|---:|---:|---:|\n"
    });
    for (store, dpop, row) in rows {
        for (i, (op, c)) in OPS.iter().zip(ops(row)).enumerate() {
            let _ = write!(
                s,
                "| {store} | {} | {op} | {} ({}) | {} | {} | {} | {} | {} |",
                if *dpop { "yes" } else { "no" },
                c.kv.reads,
                c.kv.read_ops,
                c.kv.writes,
                c.kv.deletes,
                c.do_requests,
                c.rows_read,
                c.rows_written
            );
            if let Some(cpu) = cpu {
                let _ = write!(s, " {:.2} |", cpu.of(store, *dpop)[i]);
            }
            s.push('\n');
        }
    }
    s.push_str(BILLS);
    s.push_str("| store | DPoP | 10k MAU | 100k MAU | 1M MAU | Free plan: largest MAU | binding limit |\n|---|---|---:|---:|---:|---:|---|\n");
    for (store, dpop, row) in rows {
        let u = usage_per_active_day(row, cpu.map(|c| c.of(store, *dpop)));
        let (cap, what) = free_capacity(&u);
        let _ = writeln!(
            s,
            "| {store} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {what} |",
            if *dpop { "yes" } else { "no" },
            paid_bill(&u, 10e3),
            paid_bill(&u, 100e3),
            paid_bill(&u, 1e6),
            cap
        );
    }
    s.push_str(NOTES);
    match cpu {
        Some(cpu) => {
            let _ = write!(s, "{}", CPU_NOTES);
            let over: Vec<String> = cpu
                .ops
                .iter()
                .flat_map(|(store, dpop, ms)| {
                    OPS.iter()
                        .zip(ms)
                        .filter(|(_, ms)| **ms > 10.0)
                        .map(move |(op, ms)| {
                            format!(
                                "{op} ({store}{}, {ms:.1} ms)",
                                if *dpop { ", DPoP" } else { "" }
                            )
                        })
                })
                .collect();
            if over.is_empty() {
                s.push_str(
                    "No operation measured over the Free plan's 10 ms of CPU per request.\n",
                );
            } else {
                let _ = writeln!(
                    s,
                    "Over the Free plan's 10 ms of CPU per request in this measurement: {}.",
                    over.join("; ")
                );
            }
        }
        None => s.push_str(CPU_NOT_BILLED),
    }
    s
}

const HEADER: &str = "## What it costs

Produced by `make cost` (`tests/native/cost.rs`: the real service over instrumented stores, on
the path each Worker mode takes). Per operation, as Cloudflare bills it: KV reads are per key (a
bulk read of three keys is three reads, one operation: in brackets), Durable Object (DO)
requests count the rotation object and the login throttle's two counters, and SQLite rows are
counted the way workerd counts them for each statement the objects run (measured in workerd by
`node bench/cost/sql-rows.mjs`). Every operation is also one Worker request. The refresh is
measured in steady state (the 30th of a family, 15 minutes apart: a DPoP refresh in strict
mode then sweeps the object's table, which holds the family's record and the proofs of the last
two minutes; no record per retired token). The KV
counts of a KV-mode refresh, with and without DPoP, are confirmed in workerd by counting the
calls on the Worker's KV binding (`node bench/cost/kv-calls.mjs`, in `make bench`'s `cpu` step).

";

const BILLS: &str = "
**Usage model.** Each monthly active user (MAU) is active on 10 days a month (a third of them on
any day), 8 hours a day with 15-minute access tokens: 1 login, 32 refreshes (a page load
restores the session with one of them), a logout every other active day and a logout-all every
tenth. Resource servers verify access tokens with the JWKS, so `/api/me` is not in the bill
(its cost per call is in the table, for those who call it).

**Prices** (Cloudflare's published lists, read December 2026):
[Workers](https://developers.cloudflare.com/workers/platform/pricing/) Free: 100,000 requests a
day, 10 ms CPU per request; Paid: $5 a month with 10 M requests (then $0.30 per million) and
30 M CPU ms (then $0.02 per million ms).
[Workers KV](https://developers.cloudflare.com/kv/platform/pricing/) Free: 100,000 reads, 1,000
writes and 1,000 deletes a day; Paid: 10 M reads, 1 M writes, 1 M deletes a month included, then
$0.50, $5 and $5 per million.
[Durable Objects](https://developers.cloudflare.com/durable-objects/platform/pricing/) (SQLite
storage) Free: 100,000 requests, 5 M rows read, 100,000 rows written a day, 13,000 GB-s of
duration a day, 5 GB stored; Paid: 1 M requests, 25 G rows read, 50 M rows written, 400,000 GB-s
a month included, then $0.15 per million requests, $0.001 per million rows read, $1 per million
rows written, $12.50 per million GB-s; `setAlarm` is billed as a row written.

Monthly bill on Workers Paid (USD, the $5 included) and the most MAU the Free plan carries:

";

const NOTES: &str = "
What the bills are made of: in KV mode, KV writes ($5 per million; the Free plan's 1,000 a day
is what binds): one per refresh, the family record (the token names its family; with DPoP the
proof is spent in it). In strict mode, SQLite rows written ($1 per million; the Free plan's
100,000 a day binds): one per refresh, the family's; and its DO requests ($0.15 per million), one
per refresh and five per login (the rotation object and four calls of the throttle's two
counters). Strict mode's sweep before a DPoP refresh scans the table (a few rows: the subject's
families and the proofs of the last two minutes), and rows read cost a thousandth of rows
written.

DO duration is in the bill at an assumed 4 ms of wall time per DO request (128 MB each: 0.5 GB-s
per thousand requests). Not in the bill: storage (a family record and its revocation marker, a
few hundred bytes per session until its absolute expiry; families started before addressed
tokens also keep one token hash per rotation, about 150 B each).
";

const CPU_MEASURED: &str =
    "**CPU ms** (last column): a timing, not a count. The CPU time of the Worker's isolate in
workerd on this machine's CPU, {machine}, measured by `node bench/cost/cpu.mjs` (the `cpu` step
of `make bench`): sequential requests, a V8 CPU profile of the isolate over the inspector, its
samples that are not idle × the sampling period ÷ the operations, median of batches (sample
counts, not the profile's time deltas: in workerd those add up to the wall time). Checks: {check};
every figure is below the CPU time of the whole workerd process (which also runs wrangler's
entry worker and the local KV simulator, both left out of these figures). workerd runs the
Durable Objects in the Worker's own isolate, so strict mode's figures and login's throttle
calls include the objects' CPU, which Cloudflare bills as DO duration rather than Worker CPU
ms: for those the CPU in the bill is an upper bound. Web Crypto runs on the isolate's thread
and is included (login's PBKDF2-HMAC-SHA256 at 100,000 iterations, DPoP's ES256 verification).
Cloudflare's CPUs and production runtime differ: take the figures as an order of magnitude.

";

const CPU_MISSING: &str =
    "CPU time per operation is not in this table: it is a timing, measured in workerd by
`node bench/cost/cpu.mjs` (the `cpu` step of `make bench`, which passes it here as `COST_CPU`).

";

const CPU_NOTES: &str = "
CPU time is in the Paid bill at the measured figures (30 M CPU ms a month included, then $0.02
per million ms). Login is dominated by PBKDF2 in Web Crypto (100,000 iterations); the other
operations are the Worker's wasm and the runtime's request handling, about 1 to 4 ms here.
";

const CPU_NOT_BILLED: &str = "
Not in the bill: Worker CPU time on Paid (30 M CPU ms a month included, then $0.02 per million
ms), which this run did not measure (`COST_CPU`). Login is dominated by PBKDF2 at 100,000
iterations in Web Crypto, a refresh by the Ed25519 signature; on the Free plan a login's PBKDF2
may exceed the 10 ms CPU limit per request.
";

/// Prints the cost table (`make cost`).
#[test]
fn table_of_costs() {
    // Between markers: `make cost` and bench/run.sh take the section from the test's output.
    let cpu = Cpu::from_env();
    println!(
        "<!-- cost:begin -->\n{}<!-- cost:end -->",
        table(&rows(), cpu.as_ref())
    );
}

/// Each operation's storage work has a budget: a change that adds a read or a write per
/// refresh (the operation a bill is made of) fails here and has to be argued for.
#[test]
fn operations_stay_within_their_budgets() {
    let kv = measure_row(RotationStore::Kv, false);
    let kv_dpop = measure_row(RotationStore::Kv, true);
    let strict = measure_row(RotationStore::DurableObject, false);
    let strict_dpop = measure_row(RotationStore::DurableObject, true);
    // KV mode: the family and its revocation marker in one bulk read, then the subject's
    // epoch; the family record written, alone (the token names its family: no token record).
    assert!(
        kv.refresh.kv.reads <= 3 && kv.refresh.kv.writes <= 1,
        "{:?}",
        kv.refresh
    );
    assert!(kv.refresh.kv.read_ops <= 2, "{:?}", kv.refresh);
    // DPoP adds the proof's replay-cache key to the bulk read, nothing else: the rotation
    // spends the proof in the family record it writes anyway.
    assert!(
        kv_dpop.refresh.kv.reads <= kv.refresh.kv.reads + 1
            && kv_dpop.refresh.kv.read_ops <= kv.refresh.kv.read_ops,
        "{:?}",
        kv_dpop.refresh
    );
    assert!(
        kv_dpop.refresh.kv.writes <= kv.refresh.kv.writes,
        "{:?}",
        kv_dpop.refresh
    );
    // Strict mode: a refresh is one object request and touches no KV at all.
    for r in [&strict, &strict_dpop] {
        assert_eq!(r.refresh.do_requests, 1, "{:?}", r.refresh);
        assert_eq!(r.refresh.kv, Count::default(), "{:?}", r.refresh);
    }
    // Strict mode's rows written per refresh (the larger part of its bill): the family's, with
    // DPoP the spent proof in it.
    assert!(strict.refresh.rows_written <= 1, "{:?}", strict.refresh);
    assert!(
        strict_dpop.refresh.rows_written <= 1,
        "{:?}",
        strict_dpop.refresh
    );
    // Nothing is deleted: expiry is by TTL (KV) or by the sweep (object rows, counted as written).
    for r in [&kv, &kv_dpop, &strict, &strict_dpop] {
        assert!(ops(r).iter().all(|c| c.kv.deletes == 0), "{r:?}");
    }
    // Bearer /api/me reads the epoch, once.
    assert_eq!(kv.me.kv.reads, 1);
    assert_eq!(kv.me.kv.writes, 0);
}

/// The counters count: a positive control for the table (a store that is written to and read
/// from shows it, in keys and in operations).
#[test]
fn the_counting_store_counts_keys_operations_and_rows() {
    let s = Counting::default();
    run(s.put("a", "1", None)).unwrap();
    run(s.put("a", "2", None)).unwrap();
    run(s.get_many(&["a", "b", "c"])).unwrap();
    run(s.delete("a")).unwrap();
    run(s.delete("a")).unwrap();
    let c = s.count();
    assert_eq!((c.reads, c.read_ops, c.writes, c.deletes), (3, 1, 2, 2));
    // As workerd counted the same statements (bench/cost/sql-rows.mjs): insert 0/1, replace
    // 0/1, a read of 3 keys with 1 found 4/0, a delete of an existing key 1/1, of an absent one 0/0.
    assert_eq!((c.rows_read, c.rows_written), (4 + 1, 1 + 1 + 1));
}

/// Measured CPU time goes into the table and the Paid bill: the 30 M CPU ms a month included,
/// then $0.02 per million; an operation over the Free plan's 10 ms per request is named.
#[test]
fn cpu_time_is_billed_beyond_what_paid_includes() {
    let op = |ms: f64| serde_json::json!({ "ms": ms });
    let per_store = serde_json::json!({
        "login": op(60.0), "refresh": op(1.0), "/api/me": op(1.0), "logout": op(1.0), "logout-all": op(1.0),
    });
    let json = serde_json::json!({
        "machine": { "cpu": "test CPU", "nproc": 2, "loadavg": "0.1 0.1 0.1" },
        "batches": 3, "batch": 150, "loginBatch": 20,
        "stores": {
            "kv": { "bearer": per_store, "dpop": per_store },
            "durable-object": { "bearer": per_store, "dpop": per_store },
        },
    });
    let cpu = Cpu::parse(&json.to_string()).unwrap();
    let row = measure_row(RotationStore::Kv, false);
    let without = usage_per_active_day(&row, None);
    let with = usage_per_active_day(&row, Some(cpu.of("KV", false)));
    // Per active day: 1 login at 60 ms, 32 refreshes, half a logout, a tenth of a logout-all at 1 ms.
    assert!(
        (with.cpu_ms - (60.0 + 32.0 + 0.5 + 0.1)).abs() < 1e-9,
        "{}",
        with.cpu_ms
    );
    // 10k MAU: 9.26 M CPU ms a month, inside the 30 M included.
    assert_eq!(paid_bill(&with, 10e3), paid_bill(&without, 10e3));
    // 1M MAU: 926 M ms, of which 896 M beyond: $17.92.
    let extra = paid_bill(&with, 1e6) - paid_bill(&without, 1e6);
    assert!((extra - 17.92).abs() < 1e-6, "{extra}");
    let t = table(&[("KV", false, row)], Some(&cpu));
    assert!(t.contains("| CPU ms |") && t.contains("| 60.00 |"), "{t}");
    assert!(t.contains("test CPU (2 CPUs"), "{t}");
    assert!(t.contains("Over the Free plan's 10 ms of CPU per request in this measurement: login (KV, 60.0 ms)"), "{t}");
    // Without figures the table says so, and the bill says CPU is not in it.
    let t = table(&[("KV", false, row)], None);
    assert!(
        !t.contains("CPU ms |") && t.contains("Not in the bill: Worker CPU time"),
        "{t}"
    );
    // A file without a figure is refused, not read as zero.
    assert!(Cpu::parse(r#"{"stores":{}}"#).is_err());
}
