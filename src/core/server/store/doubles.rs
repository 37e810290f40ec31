//! The stores of the native tests (feature `testing`, never in a shipped build): an in-memory
//! [`MemoryStore`] with its own clock and a log of operations, and [`FaultyStore`], which breaks
//! chosen operations.

use super::{KvStore, StoreError, MIN_TTL};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// One store operation, as recorded by [`MemoryStore`] and targeted by [`FaultyStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A `get` of the key.
    Get(String),
    /// A `put` of the key.
    Put(String),
    /// A `delete` of the key.
    Delete(String),
}

impl Op {
    /// The key the operation touched.
    pub fn key(&self) -> &str {
        match self {
            Op::Get(k) | Op::Put(k) | Op::Delete(k) => k,
        }
    }
}

/// An in-memory [`KvStore`] with its own settable clock for TTLs and a log of operations.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RefCell<HashMap<String, (String, Option<u64>)>>,
    now: Cell<u64>,
    log: RefCell<Vec<Op>>,
}

impl MemoryStore {
    /// An empty store whose clock reads 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the store's clock (Unix seconds), which decides TTL expiry.
    pub fn set_time(&self, now: u64) {
        self.now.set(now);
    }

    /// A copy of the live entries (key → value), for assertions.
    pub fn snapshot(&self) -> HashMap<String, String> {
        let now = self.now.get();
        self.entries
            .borrow()
            .iter()
            .filter(|(_, (_, exp))| exp.is_none_or(|e| now < e))
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    /// The TTL deadline (absolute store time) of `key`, if any.
    pub fn expiry(&self, key: &str) -> Option<u64> {
        self.entries.borrow().get(key).and_then(|(_, e)| *e)
    }

    /// Every stored entry, expired ones included (what a table holds before a sweep): key and
    /// TTL deadline.
    pub fn rows(&self) -> Vec<(String, Option<u64>)> {
        self.entries
            .borrow()
            .iter()
            .map(|(k, (_, e))| (k.clone(), *e))
            .collect()
    }

    /// The operations performed so far.
    pub fn ops(&self) -> Vec<Op> {
        self.log.borrow().clone()
    }

    /// Forgets the operation log.
    pub fn clear_ops(&self) {
        self.log.borrow_mut().clear();
    }
}

impl KvStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.log.borrow_mut().push(Op::Get(key.to_string()));
        let now = self.now.get();
        Ok(self
            .entries
            .borrow()
            .get(key)
            .filter(|(_, exp)| exp.is_none_or(|e| now < e))
            .map(|(v, _)| v.clone()))
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.log.borrow_mut().push(Op::Put(key.to_string()));
        assert!(
            ttl.is_none_or(|t| t >= MIN_TTL),
            "TTL below KV's minimum for {key}"
        );
        let exp = ttl.map(|t| self.now.get() + t);
        self.entries
            .borrow_mut()
            .insert(key.to_string(), (value.to_string(), exp));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.log.borrow_mut().push(Op::Delete(key.to_string()));
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
}

/// What [`FaultyStore`] does to the operation it is told to break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fails before doing anything.
    Fail,
    /// Answers 429 before doing anything.
    RateLimit,
    /// Times out; a write is not performed.
    Timeout,
    /// Times out after the write was performed (the ambiguous case).
    TimeoutAfterWrite,
}

/// A [`MemoryStore`] that breaks chosen operations: by position (the n-th operation from now)
/// or every operation once switched [`down`](FaultyStore::set_down).
#[derive(Debug, Default)]
pub struct FaultyStore {
    /// The healthy store underneath.
    pub inner: MemoryStore,
    count: Cell<usize>,
    plan: RefCell<Vec<(usize, Fault)>>,
    down: Cell<Option<Fault>>,
}

impl FaultyStore {
    /// A healthy store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Breaks the operation that is the `n`-th (0-based) counted from now.
    pub fn fail_nth(&self, n: usize, fault: Fault) {
        self.plan.borrow_mut().push((self.count.get() + n, fault));
    }

    /// Breaks every operation with `fault` (`None`: recovers).
    pub fn set_down(&self, fault: Option<Fault>) {
        self.down.set(fault);
    }

    /// Number of operations attempted so far (failed ones included).
    pub fn op_count(&self) -> usize {
        self.count.get()
    }

    fn fault_now(&self) -> Option<Fault> {
        let n = self.count.get();
        self.count.set(n + 1);
        if let Some(f) = self.down.get() {
            return Some(f);
        }
        let mut plan = self.plan.borrow_mut();
        let pos = plan.iter().position(|(at, _)| *at == n)?;
        Some(plan.remove(pos).1)
    }
}

fn error_of(fault: Fault) -> StoreError {
    match fault {
        Fault::Fail => StoreError::Unavailable,
        Fault::RateLimit => StoreError::RateLimited,
        Fault::Timeout | Fault::TimeoutAfterWrite => StoreError::Timeout,
    }
}

impl KvStore for FaultyStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self.fault_now() {
            Some(f) => Err(error_of(f)),
            None => self.inner.get(key).await,
        }
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        match self.fault_now() {
            Some(Fault::TimeoutAfterWrite) => {
                self.inner.put(key, value, ttl).await?;
                Err(StoreError::Timeout)
            }
            Some(f) => Err(error_of(f)),
            None => self.inner.put(key, value, ttl).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.fault_now() {
            Some(Fault::TimeoutAfterWrite) => {
                self.inner.delete(key).await?;
                Err(StoreError::Timeout)
            }
            Some(f) => Err(error_of(f)),
            None => self.inner.delete(key).await,
        }
    }
}
