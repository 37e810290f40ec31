//! Login throttling in a Durable Object: one object per counter key (an account or a client
//! address), so every isolate and location sees one counter, and the object's single thread
//! makes "check the block, then count the attempt" atomic. The decision itself is the core's
//! [`Counter`]; this module only stores it (SQLite storage, one row) and carries calls.
//!
//! Protocol between the Worker and the object (internal, never exposed): `POST` to the path of a
//! [`CounterCall`] (`/attempt`, `/succeed` or `/refund`) with
//! `{"scope":<Scope::name>,"address":...}`; `/attempt` answers
//! `{"retry_after_ms":n,"if_correct":b}` (0: allowed, counted; `if_correct`: the account's
//! [`Verdict::IfCorrect`]). Any other path is refused (400) without touching the counter, and
//! the Worker takes any answer but 200 for a failure.
//!
//! The object outlives its alarm: the alarm forgets the counter by deleting its row, never the
//! table (an instance stays loaded after its alarm and is not constructed again), and every
//! call makes sure the table exists before it reads.

use crate::core::server::store::StoreError;
use crate::core::server::throttle::{
    Counter, CounterCall, Policy, Scope, Throttle, Verdict, KNOWN_ADDRESS_MS,
};
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

#[derive(Default, Serialize, Deserialize)]
struct Answer {
    retry_after_ms: u64,
    #[serde(default)]
    if_correct: bool,
}

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT NOT NULL)";

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
        let sql = self.state.storage().sql();
        sql.exec(CREATE_TABLE, None)?;
        let rows: Vec<Row> = sql
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
        let _ = state.storage().sql().exec(CREATE_TABLE, None);
        LoginThrottle { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let Some(op) = CounterCall::from_path(&req.path()) else {
            return Response::error("unknown call", 400);
        };
        let call: Call = req.json().await?;
        let Some(scope) = Scope::from_name(&call.scope) else {
            return Response::error("unknown scope", 400);
        };
        let now = Date::now().as_millis();
        // No await between load and save: the check and the count are one step.
        let mut counter = self.load()?;
        let answer = match op {
            CounterCall::Attempt => {
                match counter.attempt(&Policy::of(scope), now, call.address.as_deref()) {
                    Verdict::Allowed => Answer::default(),
                    Verdict::Refused { retry_after_ms } => Answer {
                        retry_after_ms,
                        if_correct: false,
                    },
                    Verdict::IfCorrect { retry_after_ms } => Answer {
                        retry_after_ms,
                        if_correct: true,
                    },
                }
            }
            CounterCall::Refund => {
                counter.refund(&Policy::of(scope));
                Answer::default()
            }
            CounterCall::Succeed => {
                counter.succeed(now, call.address.as_deref());
                Answer::default()
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
        Response::from_json(&answer)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        // The row, not the table: this instance may stay loaded and serve the next attempt
        // without running its constructor again.
        self.state
            .storage()
            .sql()
            .exec("DELETE FROM counter", None)?;
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
        op: CounterCall,
        scope: Scope,
        key: &str,
        address: Option<&str>,
    ) -> Result<Answer, StoreError> {
        let fail = |what: &str, e: worker::Error| {
            worker::console_error!("throttle {} {what}: {e}", op.path());
            StoreError::Unavailable
        };
        let stub = self.0.get_by_name(key).map_err(|e| fail("stub", e))?;
        let body = serde_json::to_string(&Call {
            scope: scope.name().into(),
            address: address.map(String::from),
        })
        .map_err(|_| StoreError::Corrupt)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init(&format!("https://throttle{}", op.path()), &init)
            .map_err(|e| fail("request", e))?;
        let mut res = stub
            .fetch_with_request(req)
            .await
            .map_err(|e| fail("fetch", e))?;
        if res.status_code() != 200 {
            worker::console_error!("throttle {}: status {}", op.path(), res.status_code());
            return Err(StoreError::Unavailable);
        }
        res.json().await.map_err(|e| fail("answer", e))
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
        Ok(
            match self.call(CounterCall::Attempt, scope, key, address).await? {
                Answer {
                    retry_after_ms: 0, ..
                } => Verdict::Allowed,
                Answer {
                    retry_after_ms,
                    if_correct: true,
                } => Verdict::IfCorrect { retry_after_ms },
                Answer { retry_after_ms, .. } => Verdict::Refused { retry_after_ms },
            },
        )
    }

    async fn refund(&self, scope: Scope, key: &str) -> Result<(), StoreError> {
        self.call(CounterCall::Refund, scope, key, None)
            .await
            .map(|_| ())
    }

    async fn succeed(&self, key: &str, address: Option<&str>, _now: u64) -> Result<(), StoreError> {
        self.call(CounterCall::Succeed, Scope::Account, key, address)
            .await
            .map(|_| ())
    }
}
