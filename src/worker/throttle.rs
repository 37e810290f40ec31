//! Login throttling in a Durable Object: one object per counter key (an account or a client
//! address), so every isolate and location sees one counter, and the object's single thread
//! makes "check the block, then count the attempt" atomic. The decision itself is the core's
//! [`Counter`]; this module only stores it (SQLite storage, one row) and carries calls.
//!
//! Protocol between the Worker and the object (internal, never exposed): `POST /attempt`,
//! `/succeed` or `/refund` with `{"scope":"account"|"address","address":...}`; `/attempt` answers
//! `{"retry_after_ms":n}` (0: allowed, counted).

use crate::core::server::store::StoreError;
use crate::core::server::throttle::{Counter, Policy, Scope, Throttle, Verdict, KNOWN_ADDRESS_MS};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{
    durable_object, Date, Env, Method, ObjectNamespace, Request, RequestInit, Response, State,
};

/// The Durable Object binding of `wrangler.toml`.
pub const THROTTLE_BINDING: &str = "LOGIN_THROTTLE";

#[derive(Serialize, Deserialize)]
struct Call {
    scope: String,
    address: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    retry_after_ms: u64,
}

#[derive(Deserialize)]
struct Row {
    state: String,
}

/// One counter (the object's name is its key).
#[durable_object]
pub struct LoginThrottle {
    state: State,
}

impl LoginThrottle {
    fn load(&self) -> worker::Result<Counter> {
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec("SELECT state FROM counter WHERE id = 0", None)?
            .to_array()?;
        Ok(rows
            .first()
            .and_then(|r| serde_json::from_str(&r.state).ok())
            .unwrap_or_default())
    }

    fn save(&self, counter: &Counter) -> worker::Result<()> {
        let text =
            serde_json::to_string(counter).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().sql().exec(
            "INSERT INTO counter (id, state) VALUES (0, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state",
            vec![text.into()],
        )?;
        Ok(())
    }
}

impl worker::DurableObject for LoginThrottle {
    fn new(state: State, _env: Env) -> Self {
        // Synchronous SQL: nothing else runs in the object before this returns.
        let _ = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT NOT NULL)",
            None,
        );
        LoginThrottle { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let call: Call = req.json().await?;
        let scope = match call.scope.as_str() {
            "account" => Scope::Account,
            _ => Scope::Address,
        };
        let now = Date::now().as_millis();
        // No await between load and save: the check and the count are one step.
        let mut counter = self.load()?;
        let answer = match req.path().as_str() {
            "/attempt" => match counter.attempt(&Policy::of(scope), now, call.address.as_deref()) {
                Verdict::Allowed => 0,
                Verdict::Refused { retry_after_ms } => retry_after_ms,
            },
            "/refund" => {
                counter.refund(&Policy::of(scope));
                0
            }
            _ => {
                counter.succeed(now, call.address.as_deref());
                0
            }
        };
        self.save(&counter)?;
        // Forget the counter once it can no longer matter (keeps storage bounded).
        let policy = Policy::of(scope);
        let keep = if counter.known.is_empty() {
            policy.forget_after_ms
        } else {
            KNOWN_ADDRESS_MS
        };
        self.state.storage().set_alarm(keep as i64).await?;
        Response::from_json(&Answer {
            retry_after_ms: answer,
        })
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}

/// The Worker's [`Throttle`]: calls of the object named by each key.
pub struct DurableThrottle(ObjectNamespace);

impl DurableThrottle {
    /// The binding of `env`.
    pub fn from_env(env: &Env) -> Option<Self> {
        env.durable_object(THROTTLE_BINDING)
            .ok()
            .map(DurableThrottle)
    }

    async fn call(
        &self,
        op: &str,
        scope: Scope,
        key: &str,
        address: Option<&str>,
    ) -> Result<u64, StoreError> {
        let fail = |what: &str, e: worker::Error| {
            worker::console_error!("throttle {op} {what}: {e}");
            StoreError::Unavailable
        };
        let stub = self.0.get_by_name(key).map_err(|e| fail("stub", e))?;
        let body = serde_json::to_string(&Call {
            scope: match scope {
                Scope::Account => "account".into(),
                Scope::Address => "address".into(),
            },
            address: address.map(String::from),
        })
        .map_err(|_| StoreError::Corrupt)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init(&format!("https://throttle/{op}"), &init)
            .map_err(|e| fail("request", e))?;
        let mut res = stub
            .fetch_with_request(req)
            .await
            .map_err(|e| fail("fetch", e))?;
        if res.status_code() != 200 {
            worker::console_error!("throttle {op}: status {}", res.status_code());
            return Err(StoreError::Unavailable);
        }
        let answer: Answer = res.json().await.map_err(|e| fail("answer", e))?;
        Ok(answer.retry_after_ms)
    }
}

impl Throttle for DurableThrottle {
    async fn attempt(
        &self,
        scope: Scope,
        key: &str,
        address: Option<&str>,
        _now: u64,
    ) -> Result<Verdict, StoreError> {
        Ok(match self.call("attempt", scope, key, address).await? {
            0 => Verdict::Allowed,
            retry_after_ms => Verdict::Refused { retry_after_ms },
        })
    }

    async fn refund(&self, scope: Scope, key: &str) -> Result<(), StoreError> {
        self.call("refund", scope, key, None).await.map(|_| ())
    }

    async fn succeed(&self, key: &str, address: Option<&str>, _now: u64) -> Result<(), StoreError> {
        self.call("succeed", Scope::Account, key, address)
            .await
            .map(|_| ())
    }
}
