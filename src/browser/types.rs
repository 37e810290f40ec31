//! The package's TypeScript declarations (`silent_refresh.d.ts`), which wasm-bindgen writes from
//! this custom section: the public class `AuthClient` (JavaScript in `client.js`), its options,
//! events and errors. `tests/native/client_interface.rs` checks them against the runtime's names.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/// <reference lib="esnext.disposable" />
/** Where the refresh token lives: an HttpOnly cookie (same-origin apps) or JSON bodies. */
export type AuthMode = "cookie" | "body";

/** Persistence for the refresh token in body mode. `localStorage`/`sessionStorage` work as is. */
export interface TokenStorage {
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
  set(key: string, value: string): void | Promise<void>;
  remove(key: string): void | Promise<void>;
}

/** Web Storage's shape (`localStorage`, `sessionStorage`), declared here so that no DOM library is needed. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Options of `new AuthClient(options)`. Durations are milliseconds. */
export interface AuthClientOptions {
  /** Origin (and path prefix) of the auth endpoints, "" for the page's origin; default "". */
  baseUrl?: string;
  /** Refresh-token transport; default "cookie". */
  mode?: AuthMode;
  /** Refresh this long before expiry; default max(60 s, 10% of the token lifetime), never more than half of it. */
  refreshMargin?: number;
  /** Timeout of the client's own requests (login, refresh, logout); default 10000. */
  requestTimeout?: number;
  /** First retry delay after a failed refresh, doubled per failure (with jitter); default 1000. */
  retryBaseDelay?: number;
  /** Cap of the retry delay; default 60000. */
  retryMaxDelay?: number;
  /** Circuit breaker: refresh requests allowed in any 60 s window; default 10. */
  maxRefreshesPerMinute?: number;
  /** The fetch function used for every request; default globalThis.fetch. */
  fetch?: (request: Request) => Promise<Response>;
  /** Body mode: persistence of the refresh token; default memory only. */
  storage?: TokenStorage | WebStorageLike;
  /** One refresh across tabs (Web Lock + BroadcastChannel: the new access token, never a refresh token, also kept in localStorage as `<channelName>:token` until it expires or a logout; a tab takes it only if signed in as the same subject); default true. */
  crossTab?: boolean;
  /** Name of the Web Lock and BroadcastChannel, prefix of the storage key; default "silent-refresh". */
  channelName?: string;
  /** Path of the login endpoint under `baseUrl` (with or without its leading `/`; a full URL is taken as it is); default "/auth/login". */
  loginPath?: string;
  /** Path of the refresh endpoint under `baseUrl`; default "/auth/refresh". */
  refreshPath?: string;
  /** Path of the logout endpoint under `baseUrl`; default "/auth/logout". */
  logoutPath?: string;
  /** Origins to which `fetch` attaches the access token; default the origin of `baseUrl`. */
  bearerOrigins?: string[];
  /** DPoP (RFC 9449): bind the session to a non-extractable P-256 key kept in IndexedDB, with a proof on every request of the client and, for DPoP-bound tokens, on `auth.fetch`; default on in body mode where the key can be stored (else Bearer), off in cookie mode; `true`: also where it cannot be stored (a key for the page's lifetime: the session ends with the page); `false`: never. */
  dpop?: boolean;
  /** Refresh request encoding; default "form" (RFC 6749: `grant_type=refresh_token&refresh_token=…`, no token in cookie mode); "json": the same members as JSON. */
  refreshEncoding?: "form" | "json";
  /** `client_id` sent with refresh requests (a public OAuth 2 client); default none. */
  clientId?: string;
  /** `scope` sent with refresh requests; default none. */
  scope?: string;
  /** Refresh statuses that end the session, 400-463 (`400 invalid_grant` always does); default [401]. */
  sessionEndingStatuses?: number[];
  /** Turns a login or refresh success body into a token response (e.g. `{accessToken}` to `{access_token}`); default none. */
  mapTokenResponse?: (body: any) => TokenResponse;
  /** Body mode: `logout()` revokes there with RFC 7009's form (`token`, `token_type_hint`, `client_id`) instead of `logoutPath`; default none. */
  revokePath?: string;
  /** Full URL of the token (refresh) endpoint, e.g. an OAuth 2 provider's: the same as `refreshPath` given as a URL (set one of the two); with `issuer`, also where `handleRedirectCallback()` exchanges the code; default none (with `issuer`: from discovery). */
  tokenEndpoint?: string;
  /** Cookie mode: with the refresh endpoint on the page's origin, no `sr_session` hint cookie means no session (`restore()` sends nothing); `false` for a server that sets no hint; default true. */
  sessionHint?: boolean;
  /**
   * Sign in through an OpenID Connect provider from the browser (`loginWithRedirect`, needs
   * `mode: "body"`, `clientId`, and usually `bearerOrigins`): the provider's issuer, exactly as
   * its discovery document (`<issuer>/.well-known/openid-configuration`) states it. Refreshes and
   * (without `revokePath`) logout then go to its token and revocation endpoints. Without it,
   * `loginWithRedirect` goes through the Worker's `/auth/authorize`.
   */
  issuer?: string;
  /** The provider's authorization endpoint (with `tokenEndpoint`: no discovery request); default from discovery. */
  authorizationEndpoint?: string;
  /** The provider's `end_session_endpoint` for `logout({ federated: true })`; default from discovery. */
  endSessionEndpoint?: string;
  /** `redirect_uri` registered at the provider, the page that calls `handleRedirectCallback()`; default the current page (origin and path). */
  redirectUri?: string;
  /** `audience` of the authorization request (Auth0's API identifier); default none. */
  audience?: string;
  /** `resource` of the authorization request (RFC 8707); default none. */
  resource?: string;
}

/** Options of `loginWithRedirect`. */
export interface RedirectLoginOptions {
  /** Where the app goes once signed in (a same-origin path); default the current page. */
  returnTo?: string;
  /** Provider road: the scope asked for; default the option `scope`, else "openid" (with `offline_access`, `prompt=consent` is added, as OpenID Connect Core says). */
  scope?: string;
  /** Provider road: more parameters of the authorization request (`prompt`, `login_hint`, `ui_locales`, ...). */
  params?: Record<string, string>;
}

/** What `handleRedirectCallback()` resolves to. */
export interface RedirectResult {
  /** The `returnTo` given to `loginWithRedirect` (the Worker's road: the page the Worker returned to). */
  returnTo: string;
  /** Provider road: the ID token's claims (as `getUser()`). */
  user?: IdTokenClaims;
  /** The Worker's road: whether `restore()` found the session. */
  signedIn?: boolean;
}

/** The claims of the ID token (OpenID Connect Core 2 and 5.1), as the provider sent them. */
export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat?: number;
  name?: string;
  email?: string;
  [claim: string]: unknown;
}

/** Options of `logout`. */
export interface LogoutOptions {
  /** Also end the session at the provider: the browser goes to its `end_session_endpoint` (with `id_token_hint`), if it has one. Without `issuer` (the Worker signs in through its provider): to the `end_session_url` of the Worker's logout answer. */
  federated?: boolean;
  /** With `federated` and `issuer`: `post_logout_redirect_uri`, registered at the provider (the Worker's road: the Worker's UPSTREAM_POST_LOGOUT_REDIRECT). */
  returnTo?: string;
}

/** A token response, as returned by POST /auth/login or /auth/sessions. */
export interface TokenResponse {
  access_token: string;
  /** Lifetime in seconds (a number or a decimal string); if absent, read from the JWT's exp - iat; an opaque token without it is refreshed after a 401 only. */
  expires_in?: number | string;
  /** Body mode only; a refresh answer without one keeps the current refresh token. */
  refresh_token?: string;
  token_type?: string;
}

/** The stable `.code` of every error the client throws or reports. */
export type AuthErrorCode =
  | "ERR_NETWORK" | "ERR_TIMEOUT" | "ERR_SERVER" | "ERR_REJECTED" | "ERR_BAD_RESPONSE"
  | "ERR_SESSION_EXPIRED" | "ERR_NOT_SIGNED_IN" | "ERR_INVALID_CREDENTIALS"
  | "ERR_REFRESH_LIMIT" | "ERR_DISPOSED" | "ERR_INVALID_OPTIONS" | "ERR_STORAGE"
  | "ERR_TOO_MANY_ATTEMPTS" | "ERR_CROSS_ORIGIN_COOKIE" | "ERR_NOT_INITIALIZED"
  // Sign-in through a redirect (`handleRedirectCallback`): no sign-in pending in this tab (a
  // replayed callback, or one this tab did not start); `state` differs; `iss` differs (RFC 9207);
  // the provider (`oauthError`) or the Worker (`?auth_error=`, as `oauthError`) refused; an ID
  // token claim fails (`claim` names it).
  | "ERR_NO_PENDING_LOGIN" | "ERR_LOGIN_STATE" | "ERR_LOGIN_ISSUER" | "ERR_LOGIN_REJECTED" | "ERR_ID_TOKEN"
  // `init()` could not load the wasm (its message names the fix, `cause` is the original error).
  | "ERR_WASM_LOAD";

/**
 * The class of every error the client throws or reports (`e instanceof AuthError`): a stable
 * code, and for an error an HTTP answer caused, its status and the server's OAuth `error` value.
 */
export class AuthError extends Error {
  constructor(code: AuthErrorCode, message?: string, status?: number, oauthError?: string);
  name: "AuthError";
  code: AuthErrorCode;
  status?: number;
  oauthError?: string;
  /**
   * ERR_INVALID_OPTIONS from the constructor: the option at fault (`"bearerOrigins[1]"` for an
   * element, `"options"` for the object itself); the message says the rule it breaks.
   */
  option?: string;
  /**
   * ERR_TOO_MANY_ATTEMPTS (login refused with 429 by the login throttle): how long to wait, in
   * ms, from the server's Retry-After (up to 15 minutes); absent if the server did not say.
   */
  retryAfter?: number;
  /** ERR_ID_TOKEN: the claim that failed its check ("iss", "aud", "azp", "exp", "nonce", or "id_token" if there is none). */
  claim?: string;
}

/** A new access token: from a refresh request, another tab's refresh, or restore(). */
export interface RefreshEvent { type: "refresh"; source: "network" | "tab" | "restore"; expiresAt?: number }
/**
 * The session ended: the server no longer accepts the refresh token, or (after another tab's
 * logout) the shared storage holds none.
 */
export interface ExpiredEvent { type: "expired"; error: AuthError }
/** A refresh failed but the session is kept; retried in `retryIn` ms. */
export interface AuthErrorEvent { type: "error"; error: AuthError; retryIn?: number }
/** Signed out here with logout(). (Another tab's logout reaches this one as `expired`.) */
export interface LogoutEvent { type: "logout"; source: "local" }
/** A session starts: `login()`, `setSession()` (and `handleRedirectCallback()`), or `restore()` (also the lazy one, after another tab signed in). */
export interface SessionEvent { type: "session"; source: "login" | "setSession" | "restore" }
/** After every other event: the state after it, and the event that caused it (for UI bindings). */
export interface ChangeEvent {
  type: "change";
  signedIn: boolean;
  expiresAt?: number;
  event: RefreshEvent | ExpiredEvent | AuthErrorEvent | LogoutEvent | SessionEvent;
}

export interface AuthEventMap {
  refresh: RefreshEvent;
  expired: ExpiredEvent;
  error: AuthErrorEvent;
  logout: LogoutEvent;
  session: SessionEvent;
  change: ChangeEvent;
}
export type AuthEventType = keyof AuthEventMap;
export type AuthEvent = AuthEventMap[AuthEventType];
export type AuthEventListener = (event: AuthEvent) => void;



/**
 * A client that keeps an access token fresh and attaches it to requests.
 */
export class AuthClient {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Removes every timer, listener and channel; the session is dropped from memory (a stored
     * refresh token or the cookie stays). Every later call fails with `ERR_DISPOSED`.
     */
    dispose(): void;
    /**
     * `fetch` with `Authorization: Bearer <access token>`: same arguments, same `Response`,
     * same errors. Refreshes first if the token is due; after a 401, one refresh and one replay.
     */
    fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
    /**
     * Signs in with a username and password (POST loginPath). Rejects with
     * ERR_INVALID_CREDENTIALS (401), ERR_TOO_MANY_ATTEMPTS (429, the login throttle: `retryAfter`
     * says how long to wait, in ms), or the network and server errors of a refresh.
     */
    login(username: string, password: string): Promise<void>;
    /**
     * Signs out here and in every tab, then revokes the session on the server; resolves to
     * whether the server confirmed. With `federated`, then goes to the provider's
     * `end_session_endpoint` to end its session too (with `issuer`; without it, to the
     * `end_session_url` the Worker's logout answered, if any).
     */
    logout(options?: LogoutOptions): Promise<boolean>;
    /**
     * Signs in through a redirect. With the option `issuer`: to the provider's authorization
     * endpoint (code flow, PKCE S256, `state` and `nonce` kept in sessionStorage for this one
     * redirect). Without it: to the Worker's `<baseUrl>/auth/authorize?return_to=`, which signs in
     * through its provider and comes back with the refresh cookie. The page that comes back calls
     * `handleRedirectCallback()`. Loads a separate chunk (silent_refresh_oidc.js) on first use.
     */
    loginWithRedirect(options?: RedirectLoginOptions): Promise<void>;
    /**
     * On the page the redirect came back to (`url`, default `location.href`, whose callback
     * parameters it removes from the address bar): with `issuer`, checks `state` (then spends
     * it), `iss` and the ID token (`iss`, `aud`, `azp`, `exp`, `nonce`), exchanges the code (with
     * a DPoP proof when DPoP is on) and starts the session as `setSession`; without it, throws
     * the Worker's `?auth_error=` as `ERR_LOGIN_REJECTED` (the code in `oauthError`), else
     * `restore()`s. Rejects with the codes of `AuthErrorCode`.
     */
    handleRedirectCallback(url?: string): Promise<RedirectResult>;
    /** While signed in: the claims of the ID token of the last `handleRedirectCallback()` (with `issuer`), if any. */
    getUser(): Promise<IdTokenClaims | undefined>;
    /**
     * Creates a client. Throws an `AuthError` `ERR_INVALID_OPTIONS` for a bad option or an
     * unknown one (`error.option` names it, the message says the rule or the closest known name).
     */
    constructor(options?: AuthClientOptions);
    /**
     * Removes a listener added with `on`.
     */
    off<K extends AuthEventType>(kind: K, listener: (event: AuthEventMap[K]) => void): void;
    /**
     * Subscribes `listener` to `"refresh"`, `"expired"`, `"error"`, `"logout"`, `"session"` or
     * `"change"`.
     */
    on<K extends AuthEventType>(kind: K, listener: (event: AuthEventMap[K]) => void): void;
    /**
     * Refreshes now (joining a refresh in flight); resolves once a new token is held.
     */
    refresh(): Promise<void>;
    /**
     * Looks for an existing session (the refresh cookie, or a stored refresh token) and signs in
     * with it; resolves to whether one was found. In cookie mode it resolves `false` without a
     * request when the page can read the Worker's session hint and it says the session is over
     * (`sr_session=0`, see docs/PROTOCOL.md). Cookie mode also restores lazily: the first managed
     * `fetch` or `refresh()` of a signed-out client restores first (once per page, not when the
     * hint says `sr_session=0`), and a signed-out tab that hears another tab's token restores
     * with its own cookie. Body mode reads `storage` only here.
     */
    restore(): Promise<boolean>;
    /**
     * Starts a session from a token response obtained elsewhere (e.g. a server-side login, or an
     * OAuth 2 code exchange made with `dpopFetch`). A `token_type` of "DPoP" says its tokens are
     * bound to this client's key.
     */
    setSession(tokens: TokenResponse): void;
    /**
     * `fetch(input, init)` with a DPoP proof (RFC 9449) by this client's key, made and stored if
     * there is none (as at login), and one retry if the server asks for a nonce; no access
     * token. For a token request this package does not make itself, such as an OAuth 2
     * authorization-code exchange, so that the tokens it returns are bound to the key the client
     * uses afterwards (`setSession`). Without a key (DPoP off, no WebCrypto, or where the key
     * cannot be stored and `dpop` is not `true`) the request goes without a proof.
     */
    dpopFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
    /**
     * When the access token expires (Unix ms, for display), if known.
     */
    readonly expiresAt: number | undefined;
    /**
     * When the next refresh (or retry) is scheduled (Unix ms, for display), if any.
     */
    readonly nextRefreshAt: number | undefined;
    /**
     * Number of refresh requests this client has sent.
     */
    readonly refreshCount: number;
    /**
     * Whether a session is held.
     */
    readonly signedIn: boolean;
    /**
     * Same as `signedIn`.
     */
    readonly isAuthenticated: boolean;
    /**
     * The access token `fetch` would attach now, refreshed first when one is due (for clients
     * that do not use fetch: WebSocket, EventSource, axios); `undefined` when signed out.
     */
    getAccessToken(): Promise<string | undefined>;
}"#;
