//! `make preflight ENV=<name>`'s checker: reads a [`Deployment`] (JSON, on stdin; written by
//! `scripts/preflight.mjs` from the wrangler environment and the secrets file) and runs
//! [`check`], the Worker's own configuration validation plus the checks of a deploy. Prints one
//! line per problem and exits 1 when there is any; prints "ok" and exits 0 otherwise.

use silent_refresh::core::server::preflight::{check, Deployment};
use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("preflight: cannot read the deployment from stdin: {e}");
        return ExitCode::from(2);
    }
    let deployment: Deployment = match serde_json::from_str(&input) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("preflight: the deployment is not valid JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let env = deployment
        .env
        .clone()
        .unwrap_or_else(|| "(top level)".into());
    let problems = check(&deployment);
    for p in &problems {
        println!("preflight [{env}] {p}");
    }
    if problems.is_empty() {
        println!("preflight [{env}] ok: the configuration passes the Worker's validation and the deploy checks");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "preflight [{env}] {} problem(s): fix them before `wrangler deploy`",
            problems.len()
        );
        ExitCode::from(1)
    }
}
