//! The Rust⇄JavaScript interface of the browser package is defined once, in Rust: the block
//! between `// <interface>` and `// </interface>` in src/browser/names.js must be exactly what
//! [`render`] makes of the definitions (the ignored test [`rewrite_names_js`] rewrites it when
//! asked for by name, see [`REWRITE`]), and the TypeScript declarations must document the options
//! in their order with their defaults.

use std::fmt::Write as _;

use silent_refresh::core::client::interface::{Kind, Method, Signal, Slot, StorageMethod, KINDS};
use silent_refresh::core::client::options::{
    DefaultValue, DEFAULTS, OPTION_NAMES, STORAGE_KEY_SUFFIX,
};
use silent_refresh::core::client::{Endpoint, ErrorCode, EventKind, Source, Transport};
use silent_refresh::core::protocol;
use silent_refresh::core::server::dpop;

const GLUE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/browser/glue.js");
const NAMES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/browser/names.js");
const TYPES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/browser/types.rs");
const START: &str = "// <interface>\n";
const END: &str = "// </interface>\n";

/// `SetSession` -> `SET_SESSION`.
fn constant(name: impl std::fmt::Debug) -> String {
    let mut out = String::new();
    for (i, c) in format!("{name:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// `open` followed by `items` separated by commas, wrapped at 100 columns, then `close`.
fn wrapped(open: &str, items: &[String], close: &str) -> String {
    let mut out = String::from(open);
    let mut line = out.len();
    for (i, item) in items.iter().enumerate() {
        let item = if i + 1 == items.len() {
            format!(" {item}{close}")
        } else {
            format!(" {item},")
        };
        if line + item.len() > 100 {
            out += "\n ";
            line = 1;
        }
        line += item.len();
        out += &item;
    }
    out + "\n"
}

/// `const A = 0, B = 1, ...;`.
fn numbered<T: std::fmt::Debug + Copy>(all: &[T], number: impl Fn(T) -> u32) -> String {
    let items: Vec<String> = all
        .iter()
        .map(|&v| format!("{} = {}", constant(v), number(v)))
        .collect();
    wrapped("const", &items, ";")
}

fn strings(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The block names.js must carry.
fn render() -> String {
    let mut js = String::new();
    js += &numbered(&Method::ALL, |m| m as u32);
    js += &numbered(&Kind::ALL, |k| k as u32);
    writeln!(js, "const KINDS = {KINDS};").unwrap();
    js += &numbered(&Signal::ALL, |s| s as u32);
    let endpoints = [Endpoint::Login, Endpoint::Refresh, Endpoint::Logout];
    for (i, e) in endpoints.into_iter().enumerate() {
        assert_eq!(
            e as usize, i,
            "options.js keeps the endpoints' URLs in this order"
        );
    }
    let endpoints: Vec<String> = endpoints
        .iter()
        .map(|&e| format!("AT_{} = {}", constant(e), e as u32))
        .collect();
    js += &wrapped("const", &endpoints, ";");
    writeln!(js, "const EVENTS = {};", strings(&EventKind::NAMES)).unwrap();
    writeln!(js, "const SOURCES = {};", strings(&Source::NAMES)).unwrap();
    let storage = [
        StorageMethod::Get,
        StorageMethod::Set,
        StorageMethod::Remove,
    ];
    for (i, m) in storage.into_iter().enumerate() {
        assert_eq!(m as usize, i);
    }
    writeln!(js, "const STORAGE = {};", strings(&StorageMethod::NAMES)).unwrap();
    assert_eq!(
        Slot::BodyMode as usize,
        Slot::OPTIONS.len(),
        "after the copied options"
    );
    assert_eq!(Slot::Locks as usize, Slot::OPTIONS.len() + 1);
    writeln!(js, "const SLOTS = {};", strings(&Slot::OPTIONS)).unwrap();
    writeln!(
        js,
        "const COOKIE_MODE = {:?}, BODY_MODE = {:?};",
        Transport::Cookie.as_str(),
        Transport::Body.as_str()
    )
    .unwrap();
    let defaults: Vec<String> = DEFAULTS
        .iter()
        .map(|(name, value)| match value {
            DefaultValue::Text(s) => format!("{name}: {s:?}"),
            DefaultValue::Number(n) => format!("{name}: {n}"),
            DefaultValue::Bool(b) => format!("{name}: {b}"),
        })
        .collect();
    js += &wrapped("const DEFAULTS = {", &defaults, " };");
    writeln!(js, "const STORAGE_KEY_SUFFIX = {STORAGE_KEY_SUFFIX:?};").unwrap();
    writeln!(
        js,
        "const TOKEN_TYPE = {:?}, LOGOUT_TYPE = {:?};",
        Signal::TOKEN_TYPE,
        Signal::LOGOUT_TYPE
    )
    .unwrap();
    // What dpop.js shares with the Worker's proof check (src/core/server/dpop.rs): a proof's
    // `typ` and `alg`, its key's curve, and the scheme (the `DPoP` header and `Authorization`).
    assert_eq!(
        dpop::ALGS,
        [dpop::ALGS_PARAM],
        "one algorithm, the one dpop.js signs with"
    );
    writeln!(
        js,
        "const DPOP_TYP = {:?}, DPOP_ALG = {:?}, DPOP_CURVE = {:?}, DPOP = {:?};",
        dpop::PROOF_TYP,
        dpop::ALGS_PARAM,
        dpop::CURVE,
        dpop::SCHEME
    )
    .unwrap();
    writeln!(
        js,
        "const CSRF_HEADER = {:?}, SESSION_HINT_COOKIE = {:?};",
        protocol::CSRF_HEADER,
        protocol::SESSION_HINT_COOKIE
    )
    .unwrap();
    let mut errors = Vec::new();
    for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
        assert_eq!(code as usize, i, "ALL is in declaration order");
        let short = code.code().strip_prefix("ERR_").expect("ERR_ prefix");
        // A message that is the code's words in lower case is derived by values.js, not carried.
        let derived = short.to_lowercase().replace('_', " ");
        errors.push(if code.message() == derived {
            format!("{short:?}")
        } else {
            format!("\"{short}:{}\"", code.message())
        });
    }
    js += &wrapped("const ERRORS = [", &errors, "];");
    writeln!(
        js,
        "const INVALID_OPTIONS = {}, NOT_INITIALIZED = {};",
        ErrorCode::InvalidOptions as u32,
        ErrorCode::NotInitialized as u32
    )
    .unwrap();
    js += &wrapped(
        "const NAMES = [",
        &OPTION_NAMES.map(|n| format!("{n:?}")),
        "];",
    );
    // Every constant is exported (names.js is a module of its own).
    js.replace("\nconst ", "\nexport const ")
        .replacen("const ", "export const ", 1)
}

/// names.js and the range of its interface block.
fn names_js() -> (String, std::ops::Range<usize>) {
    let names = std::fs::read_to_string(NAMES).unwrap();
    let start = names.find(START).expect("names.js has `// <interface>`") + START.len();
    let end = start
        + names[start..]
            .find(END)
            .expect("names.js has `// </interface>`");
    (names, start..end)
}

/// Checks, and never writes (whatever the environment): `make test` must not rewrite sources.
#[test]
fn names_js_carries_the_interface_rust_defines() {
    let (names, block) = names_js();
    let want = render();
    let have = &names[block];
    if have != want {
        let first = have
            .lines()
            .zip(want.lines())
            .find(|(h, w)| h != w)
            .map_or_else(String::new, |(h, w)| {
                format!("\n  names.js: {h}\n  Rust:     {w}")
            });
        panic!(
            "src/browser/names.js's interface block differs from the Rust definitions{first}\n\
             (rewrite it with {REWRITE})"
        );
    }
}

/// How to rewrite names.js's block: this ignored test, asked for by name.
const REWRITE: &str = "UPDATE_INTERFACE=1 cargo test --test native \
     client_interface::rewrite_names_js -- --ignored --exact";

/// Rewrites names.js's interface block from the Rust definitions: runs only when asked for by
/// name with `--ignored` and `UPDATE_INTERFACE=1` (see [`REWRITE`]); `cargo test` and `make test`
/// (which never pass `--ignored`) leave it alone.
#[test]
#[ignore = "rewrites src/browser/names.js; run it by name when the interface changes"]
fn rewrite_names_js() {
    assert!(
        std::env::var_os("UPDATE_INTERFACE").is_some(),
        "rewrites src/browser/names.js only with UPDATE_INTERFACE=1: {REWRITE}"
    );
    let (names, block) = names_js();
    let updated = format!(
        "{}{}{}",
        &names[..block.start],
        render(),
        &names[block.end..]
    );
    std::fs::write(NAMES, updated).unwrap();
}

/// The members of `AuthClientOptions` in the TypeScript declarations, each with its doc comment.
fn declared_options() -> Vec<(String, String)> {
    let types = std::fs::read_to_string(TYPES).unwrap();
    let start = types
        .find("export interface AuthClientOptions {")
        .expect("AuthClientOptions");
    let body = &types[start..];
    let body = &body[..body.find("\n}").unwrap()];
    let mut members = Vec::new();
    let mut doc = String::new();
    for line in body.lines().skip(1).map(str::trim) {
        if let Some(comment) = line.strip_prefix("/**") {
            doc = comment.trim_end_matches("*/").trim().to_owned();
        } else if let Some((name, _)) = line.split_once("?:") {
            members.push((name.to_owned(), std::mem::take(&mut doc)));
        }
    }
    members
}

#[test]
fn the_declarations_document_every_option_in_order_with_its_default() {
    let declared = declared_options();
    let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names, OPTION_NAMES,
        "AuthClientOptions lists the options in order"
    );
    for (name, value) in DEFAULTS {
        let doc = &declared.iter().find(|(n, _)| n == name).unwrap().1;
        let value = match value {
            DefaultValue::Text(s) => format!("{s:?}"),
            DefaultValue::Number(n) => n.to_string(),
            DefaultValue::Bool(b) => b.to_string(),
        };
        assert!(
            doc.contains(&format!("default {value}")),
            "the declaration of {name} documents `default {value}`: {doc:?}"
        );
    }
}

#[test]
fn the_package_mangles_by_the_naming_rule_of_glue_js() {
    let build = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-browser.sh");
    let build = std::fs::read_to_string(build).unwrap();
    assert!(
        build.contains("mangle='^[a-z][A-Za-z]*_$'"),
        "scripts/build-browser.sh renames exactly the properties whose names end in `_`"
    );
    let glue = std::fs::read_to_string(GLUE).unwrap();
    // The names Rust reads from JavaScript objects by string (`get(value, "name")` in the runtime
    // and the options reader) must survive the renaming: none may end in `_`.
    let mut read = Vec::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/browser");
    let files = ["options.rs", "js.rs"]
        .map(|f| format!("{dir}/{f}"))
        .into_iter()
        .chain(
            std::fs::read_dir(format!("{dir}/runtime"))
                .unwrap()
                .map(|e| e.unwrap().path().display().to_string()),
        );
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for part in source.split("get(").skip(1) {
            // `get(target, "name")` or `.get(target, "name")`.
            let Some(args) = part.split(')').next() else {
                continue;
            };
            if let Some((_, name)) = args.split_once(", \"") {
                read.push(name.trim_end_matches('"').to_owned());
            }
        }
    }
    for must in [
        "access_token",
        "expires_in",
        "refresh_token",
        "error",
        "status",
        "access",
    ] {
        assert!(
            read.iter().any(|n| n == must),
            "the scan finds {must}: {read:?}"
        );
    }
    for name in &read {
        assert!(
            !name.ends_with('_'),
            "Rust reads `{name}`, which the build would rename"
        );
    }
    assert!(
        glue.contains("this.options ="),
        "the host's options keep their name"
    );
}

#[test]
fn requests_js_knows_a_dpop_bound_token_by_the_workers_scheme() {
    // `bound(token_type)` in requests.js: the scheme in any case (RFC 9449 §5), a literal there
    // (a pattern built from names.js's `DPOP` costs bytes), so checked here against the Worker's.
    let requests = concat!(env!("CARGO_MANIFEST_DIR"), "/src/browser/requests.js");
    let requests = std::fs::read_to_string(requests).unwrap();
    let pattern = format!("/^{}$/i.test(type)", dpop::SCHEME.to_lowercase());
    assert!(
        requests.contains(&format!("export const bound = (type) => {pattern};")),
        "requests.js's `bound` tests {pattern}"
    );
}
