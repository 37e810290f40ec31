//! The preflight: what `make preflight ENV=<name>` checks before `wrangler deploy`.
//!
//! Input is a [`Deployment`]: the wrangler environment as wrangler itself resolves it (vars,
//! bindings, migrations, assets, observability; `scripts/preflight.mjs` reads it with
//! wrangler's own config reader) and the secrets file that will be uploaded. [`check`] runs the
//! Worker's own validation ([`Config::from_vars`], the code the Worker runs per isolate) and
//! then what only a deploy can get wrong: a loopback or plain-http `ISSUER`, the demo user or
//! the demo site, `COOKIE_SECURE=never`, loopback entries in `ALLOWED_ORIGINS`, a placeholder
//! KV namespace id, missing bindings or migrations, unknown variable names (with the closest
//! known one), secrets in plain-text `[vars]`, and lifetimes that contradict each other. Every
//! problem is one [`Problem`], printed as one line; no line contains a secret's value.

use crate::core::server::config::{is_loopback_origin, Config, RotationStore, Var};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The KV binding the Worker reads (`src/worker`: `KV_BINDING`).
pub const KV_BINDING: &str = "REFRESH_TOKENS";
/// The Durable Object binding and class of strict mode.
pub const ROTATION_BINDING: (&str, &str) = ("ROTATION", "RotationObject");
/// The Durable Object binding and class of the login throttle.
pub const THROTTLE_BINDING: (&str, &str) = ("LOGIN_THROTTLE", "LoginThrottle");

/// A KV namespace binding.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct KvNamespace {
    /// The binding name.
    pub binding: String,
    /// The namespace id (32 hex digits for a real one).
    #[serde(default)]
    pub id: Option<String>,
}

/// A Durable Object binding.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ObjectBinding {
    /// The binding name.
    pub name: String,
    /// The class.
    pub class_name: String,
    /// Another Worker that exports the class (`None`: this one).
    #[serde(default)]
    pub script_name: Option<String>,
}

/// A Durable Object migration.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Migration {
    /// Its tag.
    #[serde(default)]
    pub tag: String,
    /// Classes created with SQLite storage.
    #[serde(default)]
    pub new_sqlite_classes: Vec<String>,
    /// Classes created with the older key-value storage.
    #[serde(default)]
    pub new_classes: Vec<String>,
    /// Classes deleted.
    #[serde(default)]
    pub deleted_classes: Vec<String>,
}

/// A wrangler environment about to be deployed, and its secrets.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Deployment {
    /// The environment's name (`None`: the top level).
    #[serde(default)]
    pub env: Option<String>,
    /// Its `[vars]`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The secrets file's entries.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Its KV namespaces.
    #[serde(default)]
    pub kv_namespaces: Vec<KvNamespace>,
    /// Its Durable Object bindings.
    #[serde(default)]
    pub durable_objects: Vec<ObjectBinding>,
    /// Its migrations.
    #[serde(default)]
    pub migrations: Vec<Migration>,
    /// The `[assets]` directory, if any.
    #[serde(default)]
    pub assets: Option<String>,
    /// Whether `[observability]` is enabled.
    #[serde(default)]
    pub observability: bool,
}

/// One problem: the part at fault and what is wrong. `Display` is the printed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// A variable, secret, binding or section name.
    pub part: String,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.part, self.message)
    }
}

/// Every problem of `d`, in a stable order; empty when it is safe to deploy.
pub fn check(d: &Deployment) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |part: &str, message: String| {
        out.push(Problem {
            part: part.to_string(),
            message,
        })
    };
    for (name, from_vars) in d
        .vars
        .keys()
        .map(|n| (n, true))
        .chain(d.secrets.keys().map(|n| (n, false)))
    {
        match Var::of_name(name) {
            None => problem(
                name,
                match closest(name) {
                    Some(known) => format!("unknown variable (did you mean {known}?)"),
                    None => "unknown variable".into(),
                },
            ),
            Some(v) if v.is_secret() && from_vars => problem(
                name,
                "is a secret in plain-text [vars]: remove it there and upload it with `wrangler secret bulk`".into(),
            ),
            Some(_) => {}
        }
    }
    let get = |name: &str| d.secrets.get(name).or_else(|| d.vars.get(name)).cloned();
    // The Worker's own validation, as it runs in every isolate.
    let (cfg, refused) = match Config::from_vars(get) {
        Ok(cfg) => (Some(cfg), None),
        Err(e) => {
            let line = e.to_string();
            let rule = line
                .strip_prefix(e.variable.name())
                .unwrap_or(&line)
                .trim_start();
            problem(e.variable.name(), rule.to_string());
            (None, Some(e.variable))
        }
    };
    if let Some(issuer) = get(Var::Issuer.name()).map(|s| s.trim().to_string()) {
        if is_loopback_origin(&issuer) {
            problem(
                "ISSUER",
                "is a loopback origin: a deploy needs its public https origin (local values belong to `make dev`)".into(),
            );
        } else if !issuer.starts_with("https://") {
            problem("ISSUER", "must be an https origin in a deploy".into());
        }
    }
    if refused != Some(Var::DemoUser)
        && get(Var::DemoUser.name()).is_some_and(|v| !v.trim().is_empty())
    {
        problem(
            "DEMO_USER",
            "is set: the demo user is for local development only (a live public account otherwise); remove it".into(),
        );
    }
    if refused != Some(Var::CookieSecure)
        && get(Var::CookieSecure.name()).is_some_and(|v| v.trim() == "never")
    {
        problem(
            "COOKIE_SECURE",
            "is \"never\": only for local development on loopback; use \"auto\" or \"always\""
                .into(),
        );
    }
    if let Some(origins) = get(Var::AllowedOrigins.name()) {
        for (index, o) in origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .enumerate()
        {
            if is_loopback_origin(o) {
                problem(
                    "ALLOWED_ORIGINS",
                    format!("entry {index} ({o}) is a loopback origin: local development only"),
                );
            } else if o.starts_with("http://") {
                problem(
                    "ALLOWED_ORIGINS",
                    format!("entry {index} ({o}) is plain http: cookies and tokens would cross the network in clear"),
                );
            }
        }
    }
    if let Some(cfg) = &cfg {
        lifetimes(cfg, &mut problem);
    }
    bindings(d, cfg.as_ref(), &mut problem);
    if let Some(dir) = &d.assets {
        problem(
            "[assets]",
            format!("serves {dir} (the demo site): local development only; remove [assets] from this environment"),
        );
    }
    if !d.observability {
        problem(
            "[observability]",
            "is not enabled: the security events (README, \"Security events\") would not be kept; set enabled = true".into(),
        );
    }
    out
}

fn lifetimes(cfg: &Config, problem: &mut impl FnMut(&str, String)) {
    if cfg.access_ttl > cfg.refresh_idle {
        problem(
            "ACCESS_TTL_SECONDS",
            format!(
                "({}) is longer than REFRESH_IDLE_SECONDS ({}): an access token would outlive the idle session that issued it",
                cfg.access_ttl, cfg.refresh_idle
            ),
        );
    }
    if cfg.leeway >= cfg.access_ttl {
        problem(
            "LEEWAY_SECONDS",
            format!(
                "({}) is not below ACCESS_TTL_SECONDS ({}): the clock leeway would more than double every access token's life",
                cfg.leeway, cfg.access_ttl
            ),
        );
    }
    if cfg.grace >= cfg.access_ttl {
        problem(
            "GRACE_SECONDS",
            format!(
                "({}) is not below ACCESS_TTL_SECONDS ({}): a replayed retired token would be honoured for longer than an access token lives",
                cfg.grace, cfg.access_ttl
            ),
        );
    }
}

fn bindings(d: &Deployment, cfg: Option<&Config>, problem: &mut impl FnMut(&str, String)) {
    match d.kv_namespaces.iter().find(|k| k.binding == KV_BINDING) {
        None => problem(
            KV_BINDING,
            "KV binding is missing (an [env.*] inherits no bindings): add [[env.<name>.kv_namespaces]]".into(),
        ),
        Some(k) => {
            let id = k.id.as_deref().unwrap_or("");
            if id.len() != 32 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
                problem(
                    KV_BINDING,
                    format!("KV namespace id \"{id}\" is a placeholder, not an id (32 hex digits): `wrangler kv namespace create REFRESH_TOKENS`"),
                );
            }
        }
    }
    let strict = cfg.map_or_else(
        || {
            d.vars
                .get(Var::RotationStore.name())
                .is_some_and(|v| v.trim() == "durable-object")
        },
        |c| c.rotation_store == RotationStore::DurableObject,
    );
    let mut wanted = vec![THROTTLE_BINDING];
    if strict {
        wanted.push(ROTATION_BINDING);
    }
    for (name, class) in wanted {
        match d.durable_objects.iter().find(|b| b.name == name) {
            None => problem(
                name,
                format!("Durable Object binding is missing: add [[durable_objects.bindings]] name = \"{name}\", class_name = \"{class}\" to this environment"),
            ),
            Some(b) if b.class_name != class => problem(
                name,
                format!("binds class \"{}\", not \"{class}\"", b.class_name),
            ),
            Some(_) => {}
        }
    }
    for b in d.durable_objects.iter().filter(|b| b.script_name.is_none()) {
        let created_sqlite = d
            .migrations
            .iter()
            .any(|m| m.new_sqlite_classes.contains(&b.class_name));
        let created_kv = d
            .migrations
            .iter()
            .any(|m| m.new_classes.contains(&b.class_name));
        let deleted = d
            .migrations
            .iter()
            .any(|m| m.deleted_classes.contains(&b.class_name));
        if deleted || !(created_sqlite || created_kv) {
            problem(
                &b.name,
                format!("no migration creates class {} (add it to new_sqlite_classes of a [[migrations]] entry)", b.class_name),
            );
        } else if !created_sqlite {
            problem(
                &b.name,
                format!(
                    "class {} must be SQLite-backed (new_sqlite_classes, not new_classes)",
                    b.class_name
                ),
            );
        }
    }
}

/// The known variable closest to `name` (edit distance at most a third of its length, at least
/// 2), for "did you mean".
pub fn closest(name: &str) -> Option<&'static str> {
    let limit = (name.len() / 3).max(2);
    Var::ALL
        .iter()
        .map(|v| (distance(&name.to_ascii_uppercase(), v.name()), v.name()))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance of two ASCII-ish strings (by bytes).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
