//! A recording fake of the browser for the shipped runtime (`silent_refresh::browser::runtime`):
//! the [`World`] several tabs share (clock, Web Lock, storage, channel, the session-hint cookie)
//! and a [`Fake`] host per tab. Nothing happens by itself: requests wait until the test answers
//! them, tab messages until it delivers them, timers until it advances the clock, promise
//! reactions (microtasks) until it runs them; in whatever order the test chooses.
//!
//! It does what `glue.js` does for the runtime and no more: values are [`Val`]s, a request of
//! `auth.fetch` is its URL (managed if it starts with `/api`), a JWT is written `jwt:sub:iat:exp`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use silent_refresh::browser::runtime::{Host, Inner, Settings};
use silent_refresh::core::client::interface::{Kind, Signal, KINDS};
use silent_refresh::core::client::{ClientConfig, ErrorCode, Transport};

/// A value of the fake host.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Val {
    #[default]
    Undef,
    Null,
    Bool(bool),
    Num(f64),
    Str(Rc<str>),
    /// A promise, by its index in [`World::promises`].
    Promise(usize),
    /// An object (arrays too: keys "0", "1", ...).
    Obj(Rc<Vec<(String, Val)>>),
}

impl Val {
    pub fn s(text: &str) -> Val {
        Val::Str(text.into())
    }
    pub fn obj(members: &[(&str, Val)]) -> Val {
        Val::Obj(Rc::new(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        ))
    }
    pub fn get(&self, key: &str) -> Val {
        match self {
            Val::Obj(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            _ => Val::Undef,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The `.code` of an error value.
    pub fn code(&self) -> Option<String> {
        self.get("code").str().map(str::to_owned)
    }
}

/// A JWT as the fake decodes it.
pub fn jwt(sub: &str, iat: u64, exp: u64) -> String {
    format!("jwt:{sub}:{iat}:{exp}")
}

/// A token response `{access_token, expires_in, refresh_token?}`.
pub fn tokens(access: &str, expires_in: u64, refresh: Option<&str>) -> Val {
    let mut m = vec![
        ("access_token", Val::s(access)),
        ("expires_in", Val::Num(expires_in as f64)),
    ];
    if let Some(r) = refresh {
        m.push(("refresh_token", Val::s(r)));
    }
    Val::obj(&m)
}

#[derive(Clone, Debug, PartialEq)]
pub enum PromiseState {
    Pending,
    Resolved(Val),
    Rejected(Val),
    /// Settles as the promise it was resolved with.
    Follows(usize),
}

/// A request of a client's own (`post`): endpoint 0 login, 1 refresh, 2 logout.
#[derive(Clone, Debug)]
pub struct Post {
    pub tab: usize,
    pub id: u32,
    pub which: u32,
    pub a: Val,
    #[allow(dead_code)]
    pub b: Val,
    pub answered: bool,
}

/// A request of `auth.fetch` sent: its promise, URL, token and the token's generation.
#[derive(Clone, Debug)]
pub struct Sent {
    pub tab: usize,
    pub promise: usize,
    pub url: String,
    pub access: Val,
    pub generation: u32,
    pub answered: bool,
}

/// What several tabs of one origin share, and the test's controls.
#[derive(Default)]
pub struct World {
    pub tabs: RefCell<Vec<Weak<Inner<Fake>>>>,
    pub mono: Cell<f64>,
    pub wall: Cell<f64>,
    pub promises: RefCell<Vec<PromiseState>>,
    /// Microtasks: (tab, tag, value) to dispatch.
    pub queue: RefCell<VecDeque<(usize, u32, Val)>>,
    /// The Web Lock: its holder (tab, flight id) and the waiting requests in order.
    pub lock: RefCell<(Option<TabOp>, VecDeque<TabOp>)>,
    /// Storage (body mode): the stored refresh token; whether calls fail.
    pub stored: RefCell<Option<String>>,
    pub storage_fails: Cell<bool>,
    /// New tabs' own requests go to another origin (cookie mode).
    pub cross_origin: Cell<bool>,
    /// The session hint says the session is over (`sr_session=0`).
    pub hint_over: Cell<bool>,
    /// The last token message a tab told (`Host::shared`).
    pub shared: RefCell<Val>,
    /// Channel messages not yet delivered: (to tab, data).
    pub messages: RefCell<VecDeque<(usize, Val)>>,
    pub posts: RefCell<Vec<Post>>,
    pub sent: RefCell<Vec<Sent>>,
    /// Events emitted: (tab, type, a, b).
    pub events: RefCell<Vec<(usize, &'static str, Val, Val)>>,
    /// The DPoP key forgotten: (tab, removed from its store too).
    pub dropped: RefCell<Vec<(usize, bool)>>,
    /// Every delay the timer was armed with: (tab, ms).
    pub armed: RefCell<Vec<(usize, f64)>>,
    /// Each `auth.fetch` request: (tab, the window in which the host may repeat it without the
    /// runtime, ms; 0: none).
    pub windows: RefCell<Vec<(usize, u32)>>,
}

/// An operation of a tab: (tab, operation id).
pub type TabOp = (usize, u32);

/// One tab's host.
pub struct Fake {
    pub world: Rc<World>,
    pub tab: usize,
    pub storage: bool,
    /// Deferred promises by operation id.
    deferred: RefCell<Vec<(u32, usize)>>,
    /// The armed timer's deadline (mono clock).
    pub timer: Cell<Option<f64>>,
    pub closed: Cell<bool>,
}

/// A tab's client and its world.
pub type Tab = Rc<Inner<Fake>>;

impl World {
    pub fn new() -> Rc<World> {
        let w = Rc::new(World::default());
        w.mono.set(1_000.0);
        w.wall.set(1_700_000_000_000.0);
        w
    }

    /// A new tab (client) in `mode`, with storage in body mode, the cross-tab lock, and `config`.
    pub fn tab_with(self: &Rc<Self>, mode: Transport, locks: bool, config: ClientConfig) -> Tab {
        let tab = self.tabs.borrow().len();
        let host = Fake {
            world: self.clone(),
            tab,
            storage: mode == Transport::Body,
            deferred: RefCell::new(Vec::new()),
            timer: Cell::new(None),
            closed: Cell::new(false),
        };
        let settings = Settings {
            host,
            transport: mode,
            locks,
            timeout_ms: 10_000.0,
            cross_origin: self.cross_origin.get(),
        };
        let inner = Rc::new(Inner::new(config, settings));
        self.tabs.borrow_mut().push(Rc::downgrade(&inner));
        inner
    }

    pub fn tab(self: &Rc<Self>, mode: Transport) -> Tab {
        self.tab_with(mode, true, ClientConfig::DEFAULT)
    }

    fn inner(&self, tab: usize) -> Option<Tab> {
        self.tabs.borrow()[tab].upgrade()
    }

    fn new_promise(&self, state: PromiseState) -> usize {
        let mut p = self.promises.borrow_mut();
        p.push(state);
        p.len() - 1
    }

    /// How promise `p` has settled, following promises it was resolved with.
    pub fn state(&self, value: &Val) -> PromiseState {
        let Val::Promise(mut p) = value else {
            return PromiseState::Resolved(value.clone());
        };
        loop {
            match self.promises.borrow()[p].clone() {
                PromiseState::Follows(q) => p = q,
                PromiseState::Resolved(Val::Promise(q)) => p = q,
                s => return s,
            }
        }
    }

    /// Dispatches into `tab` (if it is still alive).
    pub fn dispatch(&self, tab: usize, tag: u32, value: Val) -> Val {
        match self.inner(tab) {
            Some(me) => me.dispatch(tag, value),
            None => Val::Undef,
        }
    }

    /// Runs microtasks until there are none.
    pub fn run(&self) {
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some((tab, tag, value)) = next else { break };
            self.dispatch(tab, tag, value);
        }
    }

    /// Advances both clocks by `ms`, firing due timers in deadline order (and running
    /// microtasks after each).
    pub fn advance(&self, ms: f64) {
        let end = self.mono.get() + ms;
        loop {
            self.run();
            let due = (0..self.tabs.borrow().len())
                .filter_map(|t| Some((t, self.inner(t)?.host().timer.get()?)))
                .filter(|(_, at)| *at <= end)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((t, at)) = due else { break };
            self.wall
                .set(self.wall.get() + (at - self.mono.get()).max(0.0));
            self.mono.set(self.mono.get().max(at));
            self.inner(t).unwrap().host().timer.set(None);
            self.dispatch(t, Signal::Timer as u32, Val::Undef);
        }
        self.wall.set(self.wall.get() + (end - self.mono.get()));
        self.mono.set(end);
        self.run();
    }

    /// The requests of the client's own to endpoint `which` (0 login, 1 refresh, 2 logout).
    pub fn posts_to(&self, which: u32) -> Vec<Post> {
        self.posts
            .borrow()
            .iter()
            .filter(|p| p.which == which)
            .cloned()
            .collect()
    }

    /// Answers the oldest unanswered request to endpoint `which` with `status` and `body`
    /// (and `Retry-After`, if any); then runs microtasks. Returns the tab it was from.
    pub fn answer(&self, which: u32, status: u16, body: Val) -> usize {
        self.answer_with(which, status, body, Val::Undef)
    }

    pub fn answer_with(&self, which: u32, status: u16, body: Val, retry_after: Val) -> usize {
        let post = {
            let mut posts = self.posts.borrow_mut();
            let p = posts
                .iter_mut()
                .find(|p| p.which == which && !p.answered)
                .unwrap_or_else(|| panic!("no request to endpoint {which} to answer"));
            p.answered = true;
            p.clone()
        };
        let response = Val::obj(&[
            ("status", Val::Num(status as f64)),
            ("body", body),
            ("retryAfter", retry_after),
        ]);
        self.dispatch(post.tab, post.id * KINDS + Kind::Fulfilled as u32, response);
        self.run();
        post.tab
    }

    /// Fails the oldest unanswered request to endpoint `which` (a network error).
    pub fn fail(&self, which: u32) {
        let post = {
            let mut posts = self.posts.borrow_mut();
            let p = posts
                .iter_mut()
                .find(|p| p.which == which && !p.answered)
                .expect("a request");
            p.answered = true;
            p.clone()
        };
        self.dispatch(
            post.tab,
            post.id * KINDS + Kind::Rejected as u32,
            Val::Undef,
        );
        self.run();
    }

    /// Answers the oldest unanswered request of `auth.fetch` with `status`: a 401 to one sent
    /// with a token of a known generation goes back to the runtime, as `glue.js` hands it.
    pub fn answer_fetch(&self, status: u16) -> Sent {
        let sent = {
            let mut all = self.sent.borrow_mut();
            let s = all
                .iter_mut()
                .find(|s| !s.answered)
                .expect("a request of fetch");
            s.answered = true;
            s.clone()
        };
        let response = Val::obj(&[("status", Val::Num(status as f64))]);
        let state = if status == 401 && sent.generation != 0 {
            let request = Val::s(&sent.url);
            let handed = Val::obj(&[
                ("0", response),
                ("1", request),
                ("2", Val::Num(sent.generation as f64)),
            ]);
            match self.dispatch(sent.tab, KINDS + Kind::Handed as u32, handed) {
                Val::Promise(q) => PromiseState::Follows(q),
                v => PromiseState::Resolved(v),
            }
        } else {
            PromiseState::Resolved(response)
        };
        self.promises.borrow_mut()[sent.promise] = state;
        self.run();
        sent
    }

    /// Delivers the oldest undelivered channel message; false if there is none.
    pub fn deliver(&self) -> bool {
        let next = self.messages.borrow_mut().pop_front();
        let Some((tab, data)) = next else {
            return false;
        };
        let signal = match data.get("type").str() {
            Some(t) if t == Signal::LOGOUT_TYPE => Signal::LogoutMessage,
            _ => Signal::TokenMessage,
        };
        self.dispatch(tab, signal as u32, data);
        self.run();
        true
    }

    /// The events `tab` emitted, as (type, a, b).
    pub fn events_of(&self, tab: usize) -> Vec<(&'static str, Val, Val)> {
        self.events
            .borrow()
            .iter()
            .filter(|e| e.0 == tab)
            .map(|e| (e.1, e.2.clone(), e.3.clone()))
            .collect()
    }

    /// Grants the lock to the next waiter, if it is free.
    fn grant(&self) {
        let mut lock = self.lock.borrow_mut();
        if lock.0.is_none() {
            if let Some((tab, id)) = lock.1.pop_front() {
                lock.0 = Some((tab, id));
                self.queue.borrow_mut().push_back((
                    tab,
                    id * KINDS + Kind::Locked as u32,
                    Val::Undef,
                ));
            }
        }
    }
}

impl Fake {
    fn queue(&self, id: u32, kind: Kind, value: Val) {
        self.world
            .queue
            .borrow_mut()
            .push_back((self.tab, id * KINDS + kind as u32, value));
    }
}

impl Host for Fake {
    type Value = Val;

    fn get(target: &Val, key: &str) -> Val {
        target.get(key)
    }
    fn number(value: &Val) -> f64 {
        match value {
            Val::Num(n) => *n,
            Val::Str(s) if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !s.is_empty() => {
                s.parse().unwrap_or(f64::NAN)
            }
            _ => f64::NAN,
        }
    }
    fn text(value: &Val) -> Option<String> {
        value.str().map(|s| {
            s.chars()
                .map(|c| if c.is_ascii() { c } else { '\u{1a}' })
                .collect()
        })
    }
    fn is_string(value: &Val) -> bool {
        matches!(value, Val::Str(_))
    }
    fn is_undefined(value: &Val) -> bool {
        *value == Val::Undef
    }
    fn is_true(value: &Val) -> bool {
        *value == Val::Bool(true)
    }
    fn boolean(value: bool) -> Val {
        Val::Bool(value)
    }
    fn float(value: f64) -> Val {
        Val::Num(value)
    }
    fn null() -> Val {
        Val::Null
    }
    fn claims(token: &Val) -> Val {
        let Some(t) = token.str().filter(|t| !t.is_empty()) else {
            return Val::Undef;
        };
        let parts: Vec<&str> = t.split(':').collect();
        match parts[..] {
            ["jwt", sub, iat, exp] => Val::obj(&[
                ("0", Val::Num(exp.parse().unwrap())),
                ("1", Val::Num(iat.parse().unwrap())),
                ("2", Val::s(sub)),
            ]),
            _ => Val::obj(&[]),
        }
    }
    fn subject(token: &Val) -> Val {
        match Self::claims(token).get("2") {
            Val::Str(s) if !s.is_empty() => Val::Str(s),
            _ => Val::Undef,
        }
    }
    fn error(code: u32, status: Option<u16>, retry_after: f64, oauth: &Val) -> Val {
        let mut m = vec![("code", Val::s(ErrorCode::ALL[code as usize].code()))];
        if let Some(s) = status {
            m.push(("status", Val::Num(s as f64)));
        }
        if retry_after >= 0.0 {
            m.push(("retryAfter", Val::Num(retry_after)));
        }
        if oauth.str().is_some() {
            m.push(("oauthError", oauth.clone()));
        }
        Val::obj(&m)
    }
    fn mono(&self) -> f64 {
        self.world.mono.get()
    }
    fn wall(&self) -> f64 {
        self.world.wall.get()
    }
    fn random(&self) -> f64 {
        0.5
    }
    fn close(&self, error: &Val) {
        self.closed.set(true);
        // glue.js: the lock is held by a deferred promise, which closing rejects.
        let held = self.world.lock.borrow().0.is_some_and(|h| h.0 == self.tab);
        if held {
            self.world.lock.borrow_mut().0 = None;
            self.world.grant();
        }
        self.timer.set(None);
        for (_, p) in self.deferred.borrow_mut().drain(..) {
            let mut promises = self.world.promises.borrow_mut();
            if promises[p] == PromiseState::Pending {
                promises[p] = PromiseState::Rejected(error.clone());
            }
        }
    }
    fn defer(&self, id: u32) -> Val {
        let p = self.world.new_promise(PromiseState::Pending);
        self.deferred.borrow_mut().push((id, p));
        Val::Promise(p)
    }
    fn settle(&self, id: u32, ok: bool, value: &Val) {
        let found = {
            let mut d = self.deferred.borrow_mut();
            d.iter().position(|e| e.0 == id).map(|i| d.swap_remove(i).1)
        };
        if let Some(p) = found {
            let mut promises = self.world.promises.borrow_mut();
            if promises[p] == PromiseState::Pending {
                promises[p] = match (ok, value) {
                    (true, Val::Promise(q)) => PromiseState::Follows(*q),
                    (true, v) => PromiseState::Resolved(v.clone()),
                    (false, v) => PromiseState::Rejected(v.clone()),
                };
            }
        }
        // The Web Lock of a flight is held until its promise settles.
        let mut lock = self.world.lock.borrow_mut();
        if lock.0 == Some((self.tab, id)) {
            lock.0 = None;
            drop(lock);
            self.world.grant();
        }
    }
    fn then(&self, id: u32, value: &Val) {
        self.queue(id, Kind::Fulfilled, value.clone());
    }
    fn send(&self, request: &Val, access: &Val, generation: u32) -> Val {
        let p = self.world.new_promise(PromiseState::Pending);
        self.world.sent.borrow_mut().push(Sent {
            tab: self.tab,
            promise: p,
            url: request.str().unwrap_or("").to_owned(),
            access: access.clone(),
            generation,
            answered: false,
        });
        Val::Promise(p)
    }
    fn post(&self, id: u32, which: u32, a: &Val, b: &Val) -> Val {
        self.world.posts.borrow_mut().push(Post {
            tab: self.tab,
            id,
            which,
            a: a.clone(),
            b: b.clone(),
            answered: false,
        });
        Val::obj(&[("aborted", Val::Bool(false))])
    }
    fn json(&self, id: u32, response: &Val) -> Val {
        let body = response.get("body");
        if body == Val::Undef {
            self.queue(id, Kind::Rejected, Val::Undef);
        } else {
            self.queue(id, Kind::Fulfilled, body);
        }
        response.get("retryAfter")
    }
    fn request(&self, input: &Val, _init: &Val, access: &Val, generation: u32, left: u32) -> Val {
        self.world.windows.borrow_mut().push((self.tab, left));
        let url = input.str().unwrap_or("");
        if !url.starts_with("/api") {
            return self.send(input, &Val::Undef, 0);
        }
        if *access == Val::Null {
            let handed = Val::obj(&[("1", input.clone())]);
            return self
                .world
                .dispatch(self.tab, KINDS + Kind::Handed as u32, handed);
        }
        self.send(input, access, generation)
    }
    fn over(&self) -> bool {
        self.world.hint_over.get()
    }
    fn store(&self, id: u32, method: u32, value: &Val) -> bool {
        if !self.storage {
            return false;
        }
        if self.world.storage_fails.get() {
            self.queue(id, Kind::Rejected, Val::Undef);
            return true;
        }
        let result = match method {
            0 => self
                .world
                .stored
                .borrow()
                .as_deref()
                .map_or(Val::Null, Val::s),
            1 => {
                *self.world.stored.borrow_mut() = value.str().map(str::to_owned);
                Val::Undef
            }
            _ => {
                *self.world.stored.borrow_mut() = None;
                Val::Undef
            }
        };
        self.queue(id, Kind::Fulfilled, result);
        true
    }
    fn lock(&self, id: u32) {
        self.world.lock.borrow_mut().1.push_back((self.tab, id));
        self.world.grant();
    }
    fn drop_key(&self, gone: bool) {
        self.world.dropped.borrow_mut().push((self.tab, gone));
    }
    fn arm(&self, ms: f64) {
        self.world.armed.borrow_mut().push((self.tab, ms));
        self.timer
            .set((ms >= 0.0).then(|| self.world.mono.get() + ms));
    }
    fn tell(&self, access: &Val, lifetime: f64) {
        if self.closed.get() {
            return;
        }
        let data = if *access == Val::Undef {
            Val::obj(&[("type", Val::s(Signal::LOGOUT_TYPE))])
        } else {
            Val::obj(&[
                ("type", Val::s(Signal::TOKEN_TYPE)),
                ("access", access.clone()),
                ("lifetime", Val::Num(lifetime)),
            ])
        };
        *self.world.shared.borrow_mut() = if *access == Val::Undef {
            Val::Undef
        } else {
            data.clone()
        };
        for t in 0..self.world.tabs.borrow().len() {
            if t != self.tab {
                self.world
                    .messages
                    .borrow_mut()
                    .push_back((t, data.clone()));
            }
        }
    }
    fn shared(&self) -> Val {
        self.world.shared.borrow().clone()
    }
    fn listen(&self, _add: bool, kind: &Val, _listener: &Val) -> bool {
        matches!(kind.str(), Some("refresh" | "expired" | "error" | "logout"))
    }
    fn emit(&self, kind: u32, a: &Val, b: &Val) {
        const NAMES: [&str; 4] = ["refresh", "expired", "error", "logout"];
        self.world
            .events
            .borrow_mut()
            .push((self.tab, NAMES[kind as usize], a.clone(), b.clone()));
    }
}
