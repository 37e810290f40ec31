//! The numbers and names the two halves of the browser package exchange: the Rust adapter
//! (`src/browser`) and its JavaScript plumbing (`src/browser/glue.js`). They are defined here
//! once. names.js carries a generated copy between `// <interface>` and `// </interface>`, which
//! `cargo test` checks (tests/native/client_interface.rs; its ignored test `rewrite_names_js`
//! rewrites it when asked for by name), together with the names defined elsewhere: the events and
//! their sources ([`EventKind::NAMES`], [`Source::NAMES`]), the endpoints ([`Endpoint`]), the
//! error codes and messages ([`ErrorCode::ALL`]), the option defaults
//! ([`ClientConfig::DEFAULT`], [`options`](crate::core::client::options)), the wire names
//! ([`protocol`](crate::core::protocol)) and what DPoP proofs share with the Worker's check
//! (src/core/server/dpop.rs). The same test checks the option names and defaults the
//! TypeScript declarations document.
//!
//! [`EventKind::NAMES`]: crate::core::client::EventKind::NAMES
//! [`Source::NAMES`]: crate::core::client::Source::NAMES
//! [`Endpoint`]: crate::core::client::Endpoint
//! [`ErrorCode::ALL`]: crate::core::client::ErrorCode::ALL
//! [`ClientConfig::DEFAULT`]: crate::core::client::ClientConfig::DEFAULT

/// The methods of the public `AuthClient`: JavaScript calls the client's function with
/// `method as u32` and up to two arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Method {
    /// `login(username, password)`.
    Login,
    /// `setSession(tokens)`.
    SetSession,
    /// `restore()`.
    Restore,
    /// `fetch(input, init)`.
    Fetch,
    /// `refresh()`.
    Refresh,
    /// `logout()`.
    Logout,
    /// `on(type, listener)`.
    On,
    /// `off(type, listener)`.
    Off,
    /// `dispose()` and `free()`.
    Dispose,
    /// `signedIn`.
    SignedIn,
    /// `expiresAt`.
    ExpiresAt,
    /// `nextRefreshAt`.
    NextRefreshAt,
    /// `refreshCount` (the last).
    RefreshCount,
}

impl Method {
    /// Every method, by its number.
    pub const ALL: [Method; 13] = [
        Method::Login,
        Method::SetSession,
        Method::Restore,
        Method::Fetch,
        Method::Refresh,
        Method::Logout,
        Method::On,
        Method::Off,
        Method::Dispose,
        Method::SignedIn,
        Method::ExpiresAt,
        Method::NextRefreshAt,
        Method::RefreshCount,
    ];
}

/// What a callback of an operation reports: JavaScript calls the dispatcher with
/// `tag = id * KINDS + kind` (`id` the operation's, never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// A promise of the operation fulfilled, with its value.
    Fulfilled,
    /// A promise of the operation rejected.
    Rejected,
    /// The Web Lock the operation asked for is held.
    Locked,
    /// A request of `fetch` handed over to Rust: `[response, request, generation]`.
    Handed,
}

/// `tag = id * KINDS + kind`.
pub const KINDS: u32 = 4;

impl Kind {
    /// Every kind, by its number.
    pub const ALL: [Kind; KINDS as usize] =
        [Kind::Fulfilled, Kind::Rejected, Kind::Locked, Kind::Handed];
}

/// The client's own callbacks (operation id 0): `tag` is the signal's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Signal {
    /// The timer fired.
    Timer,
    /// A wake-up event; the value is whether it was `online`.
    Wake,
    /// A logout message from another tab (a hint: see
    /// [`Engine::logout_hint`](crate::core::client::Engine::logout_hint)).
    LogoutMessage,
    /// A token message from another tab (a hint: see
    /// [`Engine::adopt`](crate::core::client::Engine::adopt)); the value is its data.
    TokenMessage,
}

impl Signal {
    /// Every signal, by its number.
    pub const ALL: [Signal; 4] = [
        Signal::Timer,
        Signal::Wake,
        Signal::LogoutMessage,
        Signal::TokenMessage,
    ];
    /// The `type` of a tab message (on the BroadcastChannel) that is [`Signal::TokenMessage`]:
    /// `{type, access, lifetime}`, another tab's access token and its lifetime (ms, -1 if unknown).
    pub const TOKEN_TYPE: &'static str = "token";
    /// The `type` of a tab message that is [`Signal::LogoutMessage`]: `{type}`.
    pub const LOGOUT_TYPE: &'static str = "logout";
}

/// The storage's methods, by the number the adapter passes (the JavaScript calls the storage's
/// method of that name, or Web Storage's `...Item`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum StorageMethod {
    /// Read the refresh token.
    Get,
    /// Store it.
    Set,
    /// Remove it.
    Remove,
}

impl StorageMethod {
    /// The storage's methods, by number.
    pub const NAMES: [&'static str; 3] = ["get", "set", "remove"];
}

/// What JavaScript reads from the options for Rust once it has checked them (the array Rust
/// reads, by index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Slot {
    /// `refreshMargin` (`undefined`: the default).
    RefreshMargin,
    /// `retryBaseDelay`.
    RetryBaseDelay,
    /// `retryMaxDelay`.
    RetryMaxDelay,
    /// `maxRefreshesPerMinute`.
    MaxRefreshesPerMinute,
    /// `requestTimeout`.
    RequestTimeout,
    /// Whether `mode` is `"body"`.
    BodyMode,
    /// Whether the Web Lock is used (`crossTab` and the Web Locks API is there).
    Locks,
    /// Whether the client's own requests go to another origin than the page's in cookie mode
    /// (see [`reported`](crate::core::client::classify::reported)).
    CrossOrigin,
    /// `sessionEndingStatuses` as a [`StatusSet`](crate::core::client::StatusSet): its bits
    /// for 400-431 (`undefined`: the default set).
    SessionEndingLow,
    /// The same for 432-463.
    SessionEndingHigh,
}

impl Slot {
    /// Every slot, by its index.
    pub const ALL: [Slot; 10] = [
        Slot::RefreshMargin,
        Slot::RetryBaseDelay,
        Slot::RetryMaxDelay,
        Slot::MaxRefreshesPerMinute,
        Slot::RequestTimeout,
        Slot::BodyMode,
        Slot::Locks,
        Slot::CrossOrigin,
        Slot::SessionEndingLow,
        Slot::SessionEndingHigh,
    ];

    /// The slot's index as a property key (a constant string, cheaper for the adapter to pass
    /// than a number).
    pub const fn key(self) -> &'static str {
        match self {
            Slot::RefreshMargin => "0",
            Slot::RetryBaseDelay => "1",
            Slot::RetryMaxDelay => "2",
            Slot::MaxRefreshesPerMinute => "3",
            Slot::RequestTimeout => "4",
            Slot::BodyMode => "5",
            Slot::Locks => "6",
            Slot::CrossOrigin => "7",
            Slot::SessionEndingLow => "8",
            Slot::SessionEndingHigh => "9",
        }
    }

    /// The options copied as they are into the first slots, in slot order.
    pub const OPTIONS: [&'static str; 5] = [
        "refreshMargin",
        "retryBaseDelay",
        "retryMaxDelay",
        "maxRefreshesPerMinute",
        "requestTimeout",
    ];
}

/// The events a caller can listen to, in the order of [`EventKind::NAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A new access token.
    Refresh,
    /// The session ended.
    Expired,
    /// A refresh failed; the session is kept.
    Error,
    /// Signed out.
    Logout,
}

impl EventKind {
    /// The events' names (`on(name, listener)`), by `kind as usize`.
    pub const NAMES: [&'static str; 4] = ["refresh", "expired", "error", "logout"];
}

/// Where a `refresh` or `logout` event comes from, in the order of [`Source::NAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A refresh request of this client.
    Network,
    /// Another tab's refresh (its access token, adopted: [`Engine::adopt`]).
    Tab,
    /// `restore()`.
    Restore,
    /// `logout()` here.
    Local,
}

impl Source {
    /// The sources' names, by `source as usize`.
    pub const NAMES: [&'static str; 4] = ["network", "tab", "restore", "local"];
}

/// The client's own endpoints, by the index `glue.js` keeps their URLs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `loginPath`.
    Login,
    /// `refreshPath`.
    Refresh,
    /// `logoutPath`.
    Logout,
}
