//! The server's operations: login, sessions, refresh (rotation, grace replay, reuse
//! detection), logout, revoke, logout-all, access-token verification and users.
//!
//! [`AuthService`] holds the config, a [`KvStore`] and a [`PasswordHasher`]; every operation
//! takes the current time `now` (Unix seconds). The refresh decision is the one of
//! `docs/DESIGN.md`; the invariant every path keeps: no token is returned unless every record
//! it depends on was written, and a failed write leaves the presented token usable.

use crate::core::b64;
use crate::core::server::access::{check_custom_claims, AccessClaims, Expectations, Verified};
use crate::core::server::config::Config;
use crate::core::server::dpop::{DpopError, KvReplayCache, Proof, ReplayCache, IAT_WINDOW};
use crate::core::server::error::AuthError;
use crate::core::server::events::{Event, RevokeReason};
use crate::core::server::identity::{check_sub, check_username};
use crate::core::server::oidc::upstream::{
    Grant, TokenAnswer, UpstreamClient, UPSTREAM_REFRESH_MARGIN,
};
use crate::core::server::oidc::AccessTokenSource;
use crate::core::server::password::{
    PasswordHasher, HASH_LEN, MAX_ITERATIONS, PBKDF2_STEP, SALT_LEN,
};
use crate::core::server::records::{
    decode, epoch_key, family_key, load, revocation_key, save, ttl_until, user_key, Epoch,
    FamilyRecord, Revocation, TokenRecord, UserRecord, MAX_SPENT_PROOFS, SPENT_PROOF_KEY_LEN,
};
use crate::core::server::secret::constant_time_eq;
use crate::core::server::store::{KvStore, StoreError};
use crate::core::server::throttle::{account_key, address_keys, Scope, Throttle, Verdict};
use crate::core::server::token::{
    fill_random, secret_id, RefreshToken, TokenForm, FAMILY_VALUE_LEN,
};
use serde_json::{Map, Value};
use std::cell::RefCell;

/// Longest password accepted (bytes).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted when creating a user (bytes).
pub const MIN_PASSWORD_LEN: usize = 8;
/// KDF name of user records written before the pepper: PBKDF2-HMAC-SHA256 of the password.
pub const KDF_UNPEPPERED: &str = "pbkdf2-sha256";
/// KDF name of user records: PBKDF2-HMAC-SHA256 of `HMAC-SHA256(PASSWORD_PEPPER, password)`,
/// chained in steps of [`PBKDF2_STEP`] iterations (the output of one step is the password of
/// the next) up to the record's `iter`.
pub const KDF: &str = "pbkdf2-sha256-peppered";

/// A successful login, session creation or refresh.
#[derive(Debug)]
pub struct TokenResponse {
    /// The access token (JWT).
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The refresh token (body or cookie, depending on the transport).
    pub refresh_token: RefreshToken,
    /// Seconds until the family's absolute deadline (the cookie's `Max-Age`).
    pub refresh_expires_in: u64,
    /// True when the family (and so the access token, `cnf.jkt`) is bound to a DPoP key.
    pub dpop_bound: bool,
    /// Set when this answer is a grace replay (for the log; carries no token).
    pub replay: Option<Replay>,
}

/// A grace replay: a retired token presented again inside the grace window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The family id (not a credential).
    pub family: String,
    /// The generation the replayed token rotated into.
    pub generation: u64,
    /// Time since that rotation (ms).
    pub age_ms: u64,
}

impl TokenResponse {
    /// The JSON body; `refresh_token` only when `with_refresh_token` (body transport).
    pub fn to_json(&self, with_refresh_token: bool) -> Value {
        let mut body = serde_json::json!({
            "access_token": self.access_token,
            "token_type": if self.dpop_bound { "DPoP" } else { "Bearer" },
            "expires_in": self.expires_in,
        });
        if with_refresh_token {
            body["refresh_token"] = Value::from(self.refresh_token.as_str());
        }
        body
    }
}

/// What a refresh found for the presented token ([`AuthService::locate`]).
struct Presented {
    /// The token's family, generation and deadlines (an addressed token's, from its family).
    t: TokenRecord,
    /// Its family.
    f: FamilyRecord,
    /// Whether the family is revoked.
    revoked: bool,
    /// The subject's logout-all epoch.
    epoch: Epoch,
    /// The family's value (`k`), decoded.
    value: Option<Vec<u8>>,
    /// Whether the request's DPoP proof was spent before (in the replay cache, or by one of the
    /// family's rotations).
    proof_spent: bool,
}

/// Whether a proof whose replay key is `key` (`None`: no proof) was spent before: its `j:` key
/// was found (`seen`), or `f` recorded it and it could still be accepted at `now`.
fn spent(f: &FamilyRecord, key: Option<&str>, seen: Option<String>, now: u64) -> bool {
    let Some(key) = key else { return false };
    seen.is_some()
        || f.pj
            .iter()
            .any(|(k, until)| *until >= now && *k == spent_proof_key(key))
}

/// What a family keeps of a proof's replay key (`j:` + 43 characters).
fn spent_proof_key(replay_key: &str) -> String {
    replay_key
        .chars()
        .skip(2)
        .take(SPENT_PROOF_KEY_LEN)
        .collect()
}

/// The family's spent proofs after a rotation with `proof` at `now`: the ones that can still be
/// accepted, plus this one when there is room (else it is answered back, to be spent in the
/// replay cache).
fn spent_proofs<'p>(
    pj: &[(String, u64)],
    proof: Option<&'p Proof>,
    now: u64,
) -> (Vec<(String, u64)>, Option<&'p Proof>) {
    let mut kept: Vec<(String, u64)> = pj
        .iter()
        .filter(|(_, until)| *until >= now)
        .cloned()
        .collect();
    match proof {
        Some(p) if kept.len() < MAX_SPENT_PROOFS => {
            kept.push((
                spent_proof_key(&p.replay_key()),
                now + p.replay_ttl(now, IAT_WINDOW),
            ));
            (kept, None)
        }
        other => (kept, other),
    }
}

/// The family value of `f`, decoded (`None`: a family started before it existed).
fn family_value(f: &FamilyRecord) -> Result<Option<Vec<u8>>, AuthError> {
    match &f.k {
        Some(k) => Ok(Some(b64::decode(k).ok_or(StoreError::Corrupt)?)),
        None => Ok(None),
    }
}

/// The server: config, store and password hasher.
#[derive(Debug)]
pub struct AuthService<'a, S, H> {
    /// The validated configuration.
    pub config: &'a Config,
    /// Storage (KV).
    pub store: S,
    /// Password KDF.
    pub hasher: H,
    /// The form of the tokens this service mints, chosen once from `config.rotation_store`.
    tokens: TokenForm,
    /// Security events recorded while running calls (see [`AuthService::take_events`]).
    events: RefCell<Vec<Event>>,
}

impl<'a, S: KvStore, H: PasswordHasher> AuthService<'a, S, H> {
    /// A service over `store` and `hasher`.
    pub fn new(config: &'a Config, store: S, hasher: H) -> Self {
        AuthService {
            config,
            store,
            hasher,
            tokens: TokenForm::of(config.rotation_store),
            events: RefCell::new(Vec::new()),
        }
    }

    /// The security events recorded since the last call (the caller logs them, once).
    pub fn take_events(&self) -> Vec<Event> {
        self.events.take()
    }

    fn record(&self, e: Event) {
        self.events.borrow_mut().push(e);
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        self.config.keys.jwks()
    }

    /// Checks the admin bearer token (constant time).
    pub fn check_admin(&self, presented: Option<&str>) -> Result<(), AuthError> {
        match presented {
            Some(p)
                if self
                    .config
                    .admin_token
                    .as_ref()
                    .is_some_and(|t| !t.is_empty() && t.matches(p.as_bytes())) =>
            {
                Ok(())
            }
            _ => Err(AuthError::Unauthorized),
        }
    }

    /// `POST /auth/login` where the rotation state is here: the Worker's two steps,
    /// [`authenticate`](Self::authenticate), then [`create_session`](Self::create_session)
    /// (which the Worker runs where the rotation state lives): a family, bound to the key of
    /// `dpop` (a proof already checked against this request) when there is one.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client_ip: Option<&str>,
        throttle: &impl Throttle,
        dpop: Option<&Proof>,
        now_ms: u64,
    ) -> Result<TokenResponse, AuthError> {
        let sub = self
            .authenticate(username, password, client_ip, throttle, now_ms)
            .await?;
        self.create_session(&sub, Map::new(), dpop, now_ms / 1000)
            .await
    }

    /// Checks a username and password and answers the user's subject. First the attempt is
    /// counted for the account and for the client's address (`client_ip`) with `throttle`:
    /// while either is blocked the answer is `too_many_attempts`, before any password hashing.
    /// Then the password is checked (the KDF runs for unknown users too, with the same
    /// parameters). A success resets the account's counter, takes its attempt back from the
    /// address's counter (successes never slow an address down) and upgrades the stored hash
    /// to the current parameters. Seeds the demo user on its first login attempt when configured. The
    /// first half of [`login`](Self::login), for when the family starts where the rotation
    /// state lives (strict mode: the subject's object).
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client_ip: Option<&str>,
        throttle: &impl Throttle,
        now_ms: u64,
    ) -> Result<String, AuthError> {
        if username.is_empty() || password.is_empty() {
            return Err(AuthError::InvalidRequest(
                "username and password are required",
            ));
        }
        if password.len() > MAX_PASSWORD_LEN || username.len() > 256 {
            return Err(AuthError::InvalidRequest("username or password too long"));
        }
        let account = account_key(username);
        let addresses = address_keys(client_ip).ok_or(AuthError::InvalidRequest(
            "the request has no client address",
        ))?;
        let counted = match self.count_address(throttle, &addresses, now_ms).await? {
            Some(wait) => return Err(too_many(wait)),
            None => {
                throttle
                    .attempt(Scope::Account, &account, Some(&addresses[0].1), now_ms)
                    .await?
            }
        };
        let user = if check_username(username).is_ok() {
            match load::<UserRecord>(&self.store, &user_key(username)).await? {
                Some(u) => Some(u),
                None => self.seed_demo_user(username).await?,
            }
        } else {
            None
        };
        let target = self.config.pbkdf2_iterations;
        let user = match (user, counted) {
            (Some(user), Verdict::Allowed | Verdict::IfCorrect { .. }) => user,
            (_, refused) => {
                // Same work as a real check, so the response time tells neither that the user
                // is unknown nor that the account refused a stranger but would have let a
                // known address check its password (the address's counters paid for it).
                self.hash(password.as_bytes(), &[0u8; SALT_LEN], target, true)
                    .await?;
                return Err(match refused {
                    Verdict::Refused { retry_after_ms } | Verdict::IfCorrect { retry_after_ms } => {
                        too_many(retry_after_ms)
                    }
                    Verdict::Allowed => AuthError::InvalidCredentials,
                });
            }
        };
        let salt = b64::decode(&user.salt).ok_or(AuthError::TemporarilyUnavailable)?;
        let expected = b64::decode(&user.hash).ok_or(AuthError::TemporarilyUnavailable)?;
        let peppered = match user.kdf.as_str() {
            KDF => true,
            KDF_UNPEPPERED => false,
            _ => {
                return Err(AuthError::ServerError(
                    "user record with an unsupported KDF",
                ))
            }
        };
        if !(1..=MAX_ITERATIONS).contains(&user.iter) {
            return Err(AuthError::ServerError(
                "user record with an unsupported KDF",
            ));
        }
        let derived = self
            .hash(password.as_bytes(), &salt, user.iter, peppered)
            .await?;
        if user.iter < target {
            // A record under the current parameters costs what the others cost: no timing
            // difference tells which accounts have not logged in since a parameter change.
            self.hash(password.as_bytes(), &salt, target - user.iter, true)
                .await?;
        }
        if !constant_time_eq(&derived, &expected) {
            return Err(match counted {
                Verdict::IfCorrect { retry_after_ms } => too_many(retry_after_ms),
                _ => AuthError::InvalidCredentials,
            });
        }
        let refunds = addresses
            .iter()
            .map(|(scope, key)| throttle.refund(*scope, key));
        let (succeeded, refunded) = futures_util::future::join(
            throttle.succeed(&account, Some(&addresses[0].1), now_ms),
            futures_util::future::join_all(refunds),
        )
        .await;
        succeeded?;
        refunded.into_iter().collect::<Result<(), _>>()?;
        if !peppered || user.iter < target {
            // Upgrade to the current parameters; a failed write only postpones it.
            let _ = self.write_user(username, password, &user.sub, target).await;
        }
        Ok(user.sub)
    }

    /// Counts a login attempt on the counters of the client's address, narrowest first, each
    /// only when the narrower ones allowed it (a refused attempt counts nowhere: the narrower
    /// counts are taken back). `Some(wait)` when one refused.
    async fn count_address(
        &self,
        throttle: &impl Throttle,
        addresses: &[(Scope, String)],
        now_ms: u64,
    ) -> Result<Option<u64>, AuthError> {
        for (i, (scope, key)) in addresses.iter().enumerate() {
            if let Verdict::Refused { retry_after_ms } | Verdict::IfCorrect { retry_after_ms } =
                throttle.attempt(*scope, key, None, now_ms).await?
            {
                let refunds = addresses[..i].iter().map(|(s, k)| throttle.refund(*s, k));
                for r in futures_util::future::join_all(refunds).await {
                    r?;
                }
                return Ok(Some(retry_after_ms));
            }
        }
        Ok(None)
    }

    /// The password hash of the current scheme: `iter` PBKDF2 iterations in chained steps of
    /// at most [`PBKDF2_STEP`], of the peppered password (or, for records of the earlier scheme,
    /// of the password itself).
    async fn hash(
        &self,
        password: &[u8],
        salt: &[u8],
        iter: u32,
        peppered: bool,
    ) -> Result<[u8; HASH_LEN], AuthError> {
        let mut input: Vec<u8> = if peppered {
            hmac_sha256::HMAC::mac(password, self.config.password_pepper.expose()).to_vec()
        } else {
            password.to_vec()
        };
        let mut left = iter;
        let mut out = [0u8; HASH_LEN];
        while left > 0 {
            let step = left.min(PBKDF2_STEP);
            out = self.hasher.derive(&input, salt, step).await?;
            input = out.to_vec();
            left -= step;
        }
        Ok(out)
    }

    /// Writes a user record with a fresh salt and the current scheme.
    async fn write_user(
        &self,
        username: &str,
        password: &str,
        sub: &str,
        iter: u32,
    ) -> Result<UserRecord, AuthError> {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let hash = self.hash(password.as_bytes(), &salt, iter, true).await?;
        let record = UserRecord {
            sub: sub.to_string(),
            kdf: KDF.into(),
            iter,
            salt: b64::encode(&salt),
            hash: b64::encode(&hash),
        };
        save(&self.store, &user_key(username), &record, None).await?;
        Ok(record)
    }

    async fn seed_demo_user(&self, username: &str) -> Result<Option<UserRecord>, AuthError> {
        let Some(demo) = self
            .config
            .demo_user
            .as_ref()
            .filter(|d| d.username == username)
        else {
            return Ok(None);
        };
        // A salt derived from the refresh secret: concurrent first logins write identical records.
        let mac = hmac_sha256::HMAC::mac(
            format!("demo-user-salt:{username}"),
            self.config.refresh_secret.expose(),
        );
        let salt = &mac[..SALT_LEN];
        let iter = self.config.pbkdf2_iterations;
        let hash = self.hash(demo.password.expose(), salt, iter, true).await?;
        let record = UserRecord {
            sub: username.to_string(),
            kdf: KDF.into(),
            iter,
            salt: b64::encode(salt),
            hash: b64::encode(&hash),
        };
        save(&self.store, &user_key(username), &record, None).await?;
        Ok(Some(record))
    }

    /// `POST /auth/sessions` (admin), and the family of a login: starts a family for `sub` with
    /// custom `claims`, bound to the key of `dpop` when there is one.
    pub async fn create_session(
        &self,
        sub: &str,
        claims: Map<String, Value>,
        dpop: Option<&Proof>,
        now: u64,
    ) -> Result<TokenResponse, AuthError> {
        check_sub(sub)?;
        check_custom_claims(&claims)?;
        self.start_family(sub, claims, dpop, None, now).await
    }

    /// The end of an OpenID provider sign-in (`GET /auth/callback`): starts a family for `sub`
    /// with `claims`, exactly as a login does, keeping the provider's tokens (`grant`) sealed in
    /// the family record. Refused (`server_error`) when no provider is configured.
    pub async fn start_upstream_session(
        &self,
        sub: &str,
        claims: Map<String, Value>,
        grant: &Grant,
        now: u64,
    ) -> Result<TokenResponse, AuthError> {
        check_sub(sub)?;
        check_custom_claims(&claims)?;
        self.start_family(sub, claims, None, Some(grant), now).await
    }

    /// Records a proof as used (its `jti`, scoped by its key) for as long as it could be
    /// accepted; a second use is [`DpopError::Replay`], reported by `refused`.
    async fn spend_proof(
        &self,
        proof: &Proof,
        now: u64,
        refused: fn(DpopError) -> AuthError,
    ) -> Result<(), AuthError> {
        let cache = KvReplayCache(&self.store);
        if cache
            .first_use(&proof.replay_key(), proof.replay_ttl(now, IAT_WINDOW))
            .await?
        {
            Ok(())
        } else {
            Err(refused(DpopError::Replay))
        }
    }

    /// Writes generation 0 of a new family: its family record, the one write (its first token
    /// is addressed: it names the family, no token record). With a proof, the family is bound
    /// to its key; without one under `REQUIRE_DPOP`, nothing starts. The family gets its random
    /// value (`k`) and the current secret's identifier (`sk`).
    async fn start_family(
        &self,
        sub: &str,
        claims: Map<String, Value>,
        dpop: Option<&Proof>,
        grant: Option<&Grant>,
        now: u64,
    ) -> Result<TokenResponse, AuthError> {
        match dpop {
            Some(proof) => {
                self.spend_proof(proof, now, AuthError::InvalidDpopProof)
                    .await?
            }
            None if self.config.require_dpop => {
                return Err(AuthError::InvalidDpopProof(DpopError::Missing))
            }
            None => {}
        }
        let epoch = load::<Epoch>(&self.store, &epoch_key(sub))
            .await?
            .unwrap_or_default();
        let mut value = [0u8; FAMILY_VALUE_LEN];
        fill_random(&mut value)?;
        let token = self
            .tokens
            .first(&self.config.refresh_secret, sub, &value)?;
        let fam = token.family_id().ok_or(StoreError::Corrupt)?;
        let up = match grant {
            None => None,
            Some(g) => Some(self.seal_grant(g, &fam)?),
        };
        let abs = now + self.config.refresh_absolute;
        let family = FamilyRecord {
            sub: sub.to_string(),
            created: now,
            abs,
            gen: 0,
            rotated_ms: now * 1000,
            ep: epoch.n,
            jkt: dpop.map(|p| p.jkt.clone()),
            k: Some(b64::encode(&value)),
            sk: Some(secret_id(&self.config.refresh_secret)),
            claims,
            up,
            pj: Vec::new(),
        };
        save(
            &self.store,
            &family_key(&fam),
            &family,
            Some(ttl_until(abs, now)),
        )
        .await?;
        let r = self.respond(&family, token, now)?;
        self.with_upstream_access(r, grant, now)
    }

    fn seal_grant(&self, grant: &Grant, fam: &str) -> Result<String, AuthError> {
        let cfg = self
            .config
            .upstream
            .as_ref()
            .ok_or(AuthError::ServerError("no OpenID provider configured"))?;
        grant.seal(cfg, fam).ok_or(AuthError::ServerError(
            "sealing the provider's tokens failed",
        ))
    }

    /// The provider's tokens of family `fam` (`None`: not a provider sign-in).
    fn open_grant(&self, f: &FamilyRecord, fam: &str) -> Result<Option<Grant>, AuthError> {
        let (Some(sealed), Some(cfg)) = (&f.up, &self.config.upstream) else {
            return Ok(None);
        };
        // Unreadable: another UPSTREAM_TOKEN_KEY, or an altered record. Fail closed.
        Grant::open(cfg, fam, sealed)
            .map(Some)
            .ok_or(AuthError::InvalidGrant)
    }

    /// With `ACCESS_TOKEN_SOURCE = "upstream"`, the answer carries the provider's access token
    /// (and its own lifetime) instead of ours.
    fn with_upstream_access(
        &self,
        mut r: TokenResponse,
        grant: Option<&Grant>,
        now: u64,
    ) -> Result<TokenResponse, AuthError> {
        let source = self.config.upstream.as_ref().map(|u| u.access_token_source);
        if let (Some(AccessTokenSource::Upstream), Some(g)) = (source, grant) {
            r.access_token = g.at.clone();
            r.expires_in = g.exp.saturating_sub(now);
        }
        Ok(r)
    }

    fn respond(
        &self,
        family: &FamilyRecord,
        refresh_token: RefreshToken,
        now: u64,
    ) -> Result<TokenResponse, AuthError> {
        let c = self.config;
        let access_token = c.keys.sign(&AccessClaims {
            issuer: &c.issuer,
            audience: &c.audience,
            subject: &family.sub,
            issued_at: now,
            ttl: c.access_ttl,
            epoch: family.ep,
            custom: &family.claims,
            jkt: family.jkt.as_deref(),
        })?;
        Ok(TokenResponse {
            access_token,
            expires_in: c.access_ttl,
            refresh_token,
            refresh_expires_in: family.abs.saturating_sub(now),
            dpop_bound: family.jkt.is_some(),
            replay: None,
        })
    }

    /// `POST /auth/refresh`: rotates the presented token (see the decision table in
    /// `docs/DESIGN.md`). `now_ms` is Unix milliseconds (the grace window is measured in ms).
    /// Any presented token that is not a live one, malformed included, is `invalid_grant`.
    /// `dpop` is the request's proof, already checked against the request.
    ///
    /// A family bound to a key needs a proof by that key for every refresh, grace replays
    /// included: without one, `invalid_dpop_proof` (nothing written); with one by another key,
    /// the family is revoked and the answer is `invalid_grant`. A refresh token shown with a
    /// proof by another key has left the client that holds the key (copied out of storage or
    /// the page), so the session is compromised and ended, as for the reuse of a retired token;
    /// the user logs in again. A proof sent for a Bearer family is checked and spent but does
    /// not bind it: a family's binding is decided once, at creation.
    ///
    /// A rotation of a family that holds the provider's tokens (an OpenID sign-in) first
    /// refreshes them at the provider through `up` ([`NoUpstream`](crate::core::server::oidc::upstream::NoUpstream) where there is none) when
    /// the provider's access token has expired (or, with `ACCESS_TOKEN_SOURCE = "upstream"`,
    /// has less than [`UPSTREAM_REFRESH_MARGIN`] left), and
    /// stores the provider's new tokens in the same write as our rotation. The provider answers
    /// `invalid_grant`: our family is revoked, `invalid_grant`. It cannot be reached or fails:
    /// `temporarily_unavailable`, nothing written, the presented token still live. A grace
    /// replay never calls the provider. Where calls on one subject are serialised (strict
    /// mode), this makes one provider refresh per rotation, however many refreshes race.
    pub async fn refresh(
        &self,
        presented: &str,
        dpop: Option<&Proof>,
        now_ms: u64,
        up: &impl UpstreamClient,
    ) -> Result<TokenResponse, AuthError> {
        let now = now_ms / 1000;
        let token = RefreshToken::parse(presented)?;
        let Presented {
            t,
            f,
            revoked,
            epoch,
            value,
            proof_spent,
        } = self.locate(&token, dpop, now).await?;
        if f.sub != t.sub || revoked {
            return Err(AuthError::InvalidGrant);
        }
        if f.ep != epoch.n && f.up.is_some() && !self.tokens.ends_list_families() {
            // Ended by logout-all or the end of the subject's sessions. Over KV those cannot
            // list the subject's families, so the provider's grant of this one is revoked now,
            // at the first refresh that finds it ended (once: the marker stops the next).
            if let Ok(Some(g)) = self.open_grant(&f, &t.fam) {
                self.mark_revoked(&t.fam, "end_sessions", f.abs, now)
                    .await?;
                up.revoke(&g, "end_sessions").await;
            }
            return Err(AuthError::InvalidGrant);
        }
        if f.ep != epoch.n || now >= f.abs || now >= t.idle {
            return Err(AuthError::InvalidGrant);
        }
        let secret = &self.config.refresh_secret;
        // Started under another REFRESH_SECRET, before the deployment-wide end of sessions, or
        // (strict mode) routed to an object the current secret does not name for its subject,
        // which no end of the subject's sessions would reach: over.
        let current_sk = secret_id(secret);
        if f.sk.as_ref().is_some_and(|sk| *sk != current_sk)
            || f.created < self.config.sessions_not_before
            || !self.tokens.reaches(&token, secret, &t.sub)
        {
            return Err(AuthError::InvalidGrant);
        }
        match (&f.jkt, dpop) {
            (Some(_), None) => return Err(AuthError::InvalidDpopProof(DpopError::Missing)),
            // REQUIRE_DPOP: a Bearer family (started before the policy) refreshes no more; a
            // proof cannot bind it now.
            (None, _) if self.config.require_dpop => {
                return Err(AuthError::InvalidDpopProof(DpopError::Missing))
            }
            (Some(bound), Some(proof)) if *bound != proof.jkt => {
                self.mark_revoked(&t.fam, "dpop_key", f.abs, now).await?;
                self.record(Event::FamilyRevoked {
                    family: t.fam.clone(),
                    sub: t.sub.clone(),
                    why: RevokeReason::DpopKeyMismatch,
                });
                if let Ok(Some(g)) = self.open_grant(&f, &t.fam) {
                    up.revoke(&g, "dpop_key").await;
                }
                return Err(AuthError::InvalidGrant);
            }
            // Spent before (by one of the family's rotations, or in the replay cache): a
            // replay. Otherwise it is spent below: in the family record a rotation writes, or
            // in the replay cache by every other answer.
            (_, Some(_)) if proof_spent => {
                return Err(AuthError::InvalidDpopProof(DpopError::Replay))
            }
            (_, Some(_)) | (None, None) => {}
        }
        let successor = match token.is_addressed() {
            // `locate` checked that the family's value is there and authenticates the token.
            true => token
                .next_addressed(secret, value.as_deref().unwrap_or_default())
                .ok_or(AuthError::InvalidGrant)?,
            false => self.tokens.successor(&token, secret, value.as_deref()),
        };
        let grant = self.open_grant(&f, &t.fam)?;
        if t.gen >= f.gen {
            // Current token (or a successor whose family write was lost: roll forward).
            let (grant, up_sealed) = match grant {
                None => (None, f.up.clone()),
                Some(g) => {
                    let refreshed = match self.refresh_upstream(g, &t.fam, f.abs, now, up).await {
                        Ok(refreshed) => refreshed,
                        // No family write: the proof is spent in the replay cache.
                        Err(e) => {
                            self.spend_in_cache(dpop, now).await?;
                            return Err(e);
                        }
                    };
                    match refreshed {
                        // Refreshed at the provider: sealed anew. Unchanged: the sealed copy as
                        // it was (same plaintext, same family as associated data), no AES-GCM.
                        (g, true) => {
                            let sealed = self.seal_grant(&g, &t.fam)?;
                            (Some(g), Some(sealed))
                        }
                        (g, false) => (Some(g), f.up.clone()),
                    }
                }
            };
            let gen = t.gen + 1;
            if !successor.is_addressed() {
                // A chained successor is found through its token record, written first.
                let next = TokenRecord {
                    fam: t.fam.clone(),
                    gen,
                    sub: t.sub.clone(),
                    idle: (now + self.config.refresh_idle).min(f.abs),
                    abs: f.abs,
                };
                save(
                    &self.store,
                    &successor.key(),
                    &next,
                    Some(ttl_until(f.abs, now)),
                )
                .await?;
            }
            // The proof is spent in the family record this rotation writes (when it has room).
            let (pj, overflow) = spent_proofs(&f.pj, dpop, now);
            self.spend_in_cache(overflow, now).await?;
            let family = FamilyRecord {
                gen,
                rotated_ms: now_ms,
                // A family from before `sk` existed is marked with the secret it lives under.
                sk: Some(current_sk),
                up: up_sealed,
                pj,
                ..f
            };
            save(
                &self.store,
                &family_key(&t.fam),
                &family,
                Some(ttl_until(family.abs, now)),
            )
            .await?;
            let r = self.respond(&family, successor, now)?;
            return self.with_upstream_access(r, grant.as_ref(), now);
        }
        let age_ms = now_ms.saturating_sub(f.rotated_ms);
        // No family write from here on: a proof is spent in the replay cache.
        self.spend_in_cache(dpop, now).await?;
        if t.gen + 1 == f.gen && age_ms < self.config.grace * 1000 {
            // Grace replay: the same successor again, nothing written (but a proof's `j:`).
            let mut r = self.respond(&f, successor, now)?;
            r = self.with_upstream_access(r, grant.as_ref(), now)?;
            r.replay = Some(Replay {
                family: t.fam.clone(),
                generation: f.gen,
                age_ms,
            });
            return Ok(r);
        }
        // Reuse of a retired token: revoke the family.
        self.mark_revoked(&t.fam, RevokeReason::Reuse.name(), f.abs, now)
            .await?;
        self.record(Event::FamilyRevoked {
            family: t.fam.clone(),
            sub: t.sub.clone(),
            why: RevokeReason::Reuse,
        });
        if let Some(g) = &grant {
            up.revoke(g, "reuse").await;
        }
        Err(AuthError::InvalidGrant)
    }

    /// What a refresh reads for `token`, in two reads either way. An addressed token names its
    /// family: its family record and revocation marker in one read, then the subject's epoch;
    /// the token must be one the family's value authenticates (else `invalid_grant`: no token
    /// of the family, nothing changes), and the generation is the token's. A chained token's
    /// record names its family and subject: it, then family, marker and epoch in one read.
    async fn locate(
        &self,
        token: &RefreshToken,
        proof: Option<&Proof>,
        now: u64,
    ) -> Result<Presented, AuthError> {
        // A proof's replay-cache key is read with the family's keys (no read of its own).
        let replay_key = proof.map(Proof::replay_key);
        let Some(fam) = token.family_id() else {
            let t = load::<TokenRecord>(&self.store, &token.key())
                .await?
                .ok_or(AuthError::InvalidGrant)?;
            // The family, its revocation marker and the user's epoch are independent reads:
            // one read of the three (one KV operation and round trip instead of three).
            let mut keys = vec![
                family_key(&t.fam),
                revocation_key(&t.fam),
                epoch_key(&t.sub),
            ];
            keys.extend(replay_key.clone());
            let mut read = self.read_all(&keys).await?.into_iter();
            let (f, revoked, epoch, seen) = (read.next(), read.next(), read.next(), read.next());
            let f = decode::<FamilyRecord>(f.flatten())?.ok_or(AuthError::InvalidGrant)?;
            let value = family_value(&f)?;
            return Ok(Presented {
                t,
                proof_spent: spent(&f, replay_key.as_deref(), seen.flatten(), now),
                f,
                revoked: decode::<Revocation>(revoked.flatten())?.is_some(),
                epoch: decode::<Epoch>(epoch.flatten())?.unwrap_or_default(),
                value,
            });
        };
        let mut keys = vec![family_key(&fam), revocation_key(&fam)];
        keys.extend(replay_key.clone());
        let mut read = self.read_all(&keys).await?.into_iter();
        let (f, revoked, seen) = (read.next(), read.next(), read.next());
        let revoked = revoked.flatten();
        let f = decode::<FamilyRecord>(f.flatten())?.ok_or(AuthError::InvalidGrant)?;
        let value = family_value(&f)?;
        match &value {
            Some(v) if token.authentic(&self.config.refresh_secret, v) => {}
            _ => return Err(AuthError::InvalidGrant),
        }
        let epoch = load::<Epoch>(&self.store, &epoch_key(&f.sub))
            .await?
            .unwrap_or_default();
        // The family's current token was issued at its last rotation: its idle deadline is
        // the family's (a retired token is never used again but as a grace replay or a reuse).
        let t = TokenRecord {
            fam,
            gen: token.generation().unwrap_or_default(),
            sub: f.sub.clone(),
            idle: (f.rotated_ms / 1000 + self.config.refresh_idle).min(f.abs),
            abs: f.abs,
        };
        Ok(Presented {
            t,
            proof_spent: spent(&f, replay_key.as_deref(), seen.flatten(), now),
            f,
            revoked: decode::<Revocation>(revoked)?.is_some(),
            epoch,
            value,
        })
    }

    /// `keys` in one bulk read, one value (or `None`) per key.
    async fn read_all(&self, keys: &[String]) -> Result<Vec<Option<String>>, AuthError> {
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let values = self.store.get_many(&refs).await?;
        if values.len() != keys.len() {
            return Err(StoreError::Corrupt.into());
        }
        Ok(values)
    }

    /// Records `proof` (if any) as spent in the replay cache: a `j:` key until its `iat` leaves
    /// the window.
    async fn spend_in_cache(&self, proof: Option<&Proof>, now: u64) -> Result<(), AuthError> {
        if let Some(p) = proof {
            self.store
                .put(&p.replay_key(), "1", Some(p.replay_ttl(now, IAT_WINDOW)))
                .await?;
        }
        Ok(())
    }

    /// The provider's side of a rotation: `grant` as is while its access token lives (past the
    /// margin of the configured source), else refreshed at the provider; `true` with a grant
    /// the provider's answer changed.
    async fn refresh_upstream(
        &self,
        grant: Grant,
        fam: &str,
        abs: u64,
        now: u64,
        up: &impl UpstreamClient,
    ) -> Result<(Grant, bool), AuthError> {
        let source = self
            .config
            .upstream
            .as_ref()
            .map_or(AccessTokenSource::Worker, |u| u.access_token_source);
        let margin = match source {
            AccessTokenSource::Upstream => UPSTREAM_REFRESH_MARGIN,
            AccessTokenSource::Worker => 0,
        };
        if !grant.needs_refresh(now, margin) {
            return Ok((grant, false));
        }
        let Some(rt) = grant.rt.as_deref() else {
            // No refresh token from the provider: our own tokens carry on in worker mode; in
            // upstream mode there is no access token left to hand out.
            return match source {
                AccessTokenSource::Worker => Ok((grant, false)),
                AccessTokenSource::Upstream => Err(AuthError::InvalidGrant),
            };
        };
        match up.refresh(rt).await {
            TokenAnswer::Tokens(t) => Ok((Grant::from_tokens(&t, Some(&grant), now), true)),
            TokenAnswer::InvalidGrant => {
                self.mark_revoked(fam, "upstream", abs, now).await?;
                Err(AuthError::InvalidGrant)
            }
            TokenAnswer::Refused | TokenAnswer::Unavailable => {
                Err(AuthError::TemporarilyUnavailable)
            }
        }
    }

    /// `POST /auth/logout` (`why`: [`RevokeReason::Logout`]) and `POST /auth/revoke` (RFC 7009,
    /// [`RevokeReason::Revoke`]): revokes the family of the presented token, then, for a
    /// provider sign-in, the provider's refresh token through `up` (best effort; [`NoUpstream`](crate::core::server::oidc::upstream::NoUpstream)
    /// where there is none). A token that is not ours (malformed, unknown) is accepted: there is
    /// nothing to revoke. Answers the family's last ID token from the provider (for
    /// RP-initiated logout's `id_token_hint`).
    pub async fn logout(
        &self,
        presented: &str,
        why: RevokeReason,
        now: u64,
        up: &impl UpstreamClient,
    ) -> Result<Option<String>, AuthError> {
        let Ok(token) = RefreshToken::parse(presented) else {
            return Ok(None);
        };
        // The family to end: an addressed token's, when the family's value authenticates the
        // token (a token made up on a family's id revokes nothing); a chained token's record's.
        let (t, family) = match token.family_id() {
            Some(fam) => {
                let Some(f) = load::<FamilyRecord>(&self.store, &family_key(&fam)).await? else {
                    return Ok(None);
                };
                match family_value(&f)? {
                    Some(v) if token.authentic(&self.config.refresh_secret, &v) => {}
                    _ => return Ok(None),
                }
                let t = TokenRecord {
                    fam,
                    gen: token.generation().unwrap_or_default(),
                    sub: f.sub.clone(),
                    idle: f.abs,
                    abs: f.abs,
                };
                (t, Some(f))
            }
            None => match load::<TokenRecord>(&self.store, &token.key()).await? {
                Some(t) => (t, None),
                None => return Ok(None),
            },
        };
        let family = match (family, &self.config.upstream) {
            (None, Some(_)) => load::<FamilyRecord>(&self.store, &family_key(&t.fam)).await?,
            (family, _) => family,
        };
        let (grant, live) = match &self.config.upstream {
            None => (None, false),
            Some(_) => match family {
                Some(f) => {
                    // The provider's ID token (the `id_token_hint` of RP-initiated logout) is
                    // answered only for a session that was live: a retired, revoked or ended
                    // family's token must not read the user's claims back.
                    let revoked = load::<Revocation>(&self.store, &revocation_key(&t.fam))
                        .await?
                        .is_some();
                    let live =
                        !revoked && f.abs > now && f.created >= self.config.sessions_not_before;
                    (self.open_grant(&f, &t.fam).unwrap_or(None), live)
                }
                None => (None, false),
            },
        };
        self.mark_revoked(&t.fam, why.name(), t.abs, now).await?;
        self.record(Event::FamilyRevoked {
            family: t.fam,
            sub: t.sub,
            why,
        });
        if let Some(g) = &grant {
            up.revoke(g, why.name()).await;
        }
        Ok(grant.and_then(|g| g.idt).filter(|_| live))
    }

    /// Writes the revocation marker of family `fam` (which lives until `abs`): the one place a
    /// family is revoked (logout, revocation, reuse, another DPoP key, the provider's refusal).
    async fn mark_revoked(
        &self,
        fam: &str,
        why: &str,
        abs: u64,
        now: u64,
    ) -> Result<(), AuthError> {
        let marker = Revocation {
            at: now,
            why: why.into(),
        };
        save(
            &self.store,
            &revocation_key(fam),
            &marker,
            Some(ttl_until(abs, now)),
        )
        .await?;
        Ok(())
    }

    /// Revokes at the provider (through `up`, best effort) the provider's refresh tokens of
    /// `families` (family id, family record JSON) that are provider sign-ins and not already
    /// revoked here: after every session of a subject ended. Answers how many were sent.
    pub async fn revoke_upstream_families(
        &self,
        families: &[(String, String)],
        why: &str,
        up: &impl UpstreamClient,
    ) -> usize {
        let mut sent = 0;
        for (fam, json) in families {
            let Ok(f) = serde_json::from_str::<FamilyRecord>(json) else {
                continue;
            };
            if !matches!(self.store.get(&revocation_key(fam)).await, Ok(None)) {
                continue;
            }
            if let Ok(Some(g)) = self.open_grant(&f, fam) {
                up.revoke(&g, why).await;
                sent += 1;
            }
        }
        sent
    }

    /// Verifies an access token, including the user's logout-all epoch and its DPoP binding.
    /// `dpop` is `None` for `Authorization: Bearer` (a DPoP-bound token is then refused: RFC
    /// 9449 §7.2), or the proof sent with `Authorization: DPoP`, already checked against the
    /// request and this token (`ath`): the token must be bound to the proof's key, and the
    /// proof is spent.
    pub async fn verify_access(
        &self,
        token: &str,
        dpop: Option<&Proof>,
        now: u64,
    ) -> Result<Verified, AuthError> {
        let c = self.config;
        let verified = c.keys.verify(
            token,
            &Expectations {
                issuer: &c.issuer,
                audience: &c.audience,
                now,
                leeway: c.leeway,
            },
        )?;
        let epoch = load::<Epoch>(&self.store, &epoch_key(&verified.sub))
            .await?
            .unwrap_or_default();
        if verified.epoch != epoch.n || verified.iat < c.sessions_not_before {
            return Err(AuthError::InvalidToken);
        }
        match (verified.jkt.as_deref(), dpop) {
            (None, None) => {}
            (Some(bound), Some(proof)) if bound == proof.jkt => {
                self.spend_proof(proof, now, AuthError::ResourceDpopProof)
                    .await?
            }
            _ => return Err(AuthError::DpopBinding),
        }
        Ok(verified)
    }

    /// `POST /auth/logout-all`: moves the user's epoch forward, which kills every family and
    /// access token of the user issued before (no KV list scan). Answers the new epoch. The
    /// access token is verified as by [`AuthService::verify_access`].
    pub async fn logout_all(
        &self,
        access_token: &str,
        dpop: Option<&Proof>,
        now_ms: u64,
    ) -> Result<Epoch, AuthError> {
        let verified = self
            .verify_access(access_token, dpop, now_ms / 1000)
            .await?;
        self.end_sessions(&verified.sub, now_ms).await
    }

    /// Ends every session of `sub` (logout-all, account deletion, password change, the admin
    /// route): its epoch becomes `max(stored + 1, now_ms)` and is answered. A stale read cannot
    /// move it backwards: the new value is at least the clock, and every earlier write was at
    /// most the clock of its own time (KV keeps the last write; see `docs/DESIGN.md`).
    pub async fn end_sessions(&self, sub: &str, now_ms: u64) -> Result<Epoch, AuthError> {
        check_sub(sub)?;
        let stored = load::<Epoch>(&self.store, &epoch_key(sub))
            .await?
            .unwrap_or_default();
        let epoch = Epoch {
            n: (stored.n + 1).max(now_ms),
            at: now_ms / 1000,
        };
        self.store_epoch(sub, &epoch).await?;
        Ok(epoch)
    }

    /// Raises the epoch of `sub` to `floor` when it is behind (strict mode: a new object starts
    /// at the epoch of KV's copy, where access tokens are checked).
    pub(crate) async fn raise_epoch(&self, sub: &str, floor: &Epoch) -> Result<(), AuthError> {
        check_sub(sub)?;
        let stored = load::<Epoch>(&self.store, &epoch_key(sub))
            .await?
            .unwrap_or_default();
        if stored.n < floor.n {
            self.store_epoch(sub, floor).await?;
        }
        Ok(())
    }

    /// Writes `epoch` as the epoch of `sub`: the one write of an epoch, whether it moved here
    /// ([`end_sessions`](Self::end_sessions)), is raised to a floor, or is strict mode's copy
    /// in KV of the epoch its object moved.
    pub async fn store_epoch(&self, sub: &str, epoch: &Epoch) -> Result<(), AuthError> {
        save(&self.store, &epoch_key(sub), epoch, None).await?;
        Ok(())
    }

    /// `POST /auth/users` (admin): creates a user; `sub` defaults to the username.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        sub: Option<&str>,
    ) -> Result<String, AuthError> {
        check_username(username)?;
        check_password(password)?;
        let sub = sub.unwrap_or(username);
        check_sub(sub)?;
        if self.store.get(&user_key(username)).await?.is_some() {
            return Err(AuthError::UserExists);
        }
        self.write_user(username, password, sub, self.config.pbkdf2_iterations)
            .await?;
        Ok(sub.to_string())
    }

    /// `PATCH /auth/users/<username>` (admin): sets a new password and ends every session of
    /// the user's subject (answered). `no_such_user` when there is no such user. The steps, in
    /// the order that makes a retry finish a failed attempt (the Worker runs them with the
    /// sessions ending where the rotation state lives): the new password's check,
    /// [`user_subject`](Self::user_subject), [`end_sessions`](Self::end_sessions), then the
    /// password's write.
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
        now_ms: u64,
    ) -> Result<String, AuthError> {
        Self::check_new_password(password)?;
        let sub = self.user_subject(username).await?;
        // Sessions end first: if the password write then fails, nothing lives on that the
        // old password opened, and the user is still there for the retry.
        self.end_sessions(&sub, now_ms).await?;
        self.replace_password(username, password, &sub).await?;
        Ok(sub)
    }

    /// `DELETE /auth/users/<username>` (admin): ends every session of the user's subject, then
    /// deletes the user (answered: the subject). `no_such_user` when there is no such user,
    /// like [`set_password`](Self::set_password). Sessions end first, so that a failure leaves
    /// the user in place and a retry finds it and finishes. The epoch stays, so re-creating
    /// the user does not revive the old sessions.
    pub async fn delete_user(&self, username: &str, now_ms: u64) -> Result<String, AuthError> {
        let sub = self.user_subject(username).await?;
        self.end_sessions(&sub, now_ms).await?;
        self.remove_user(username).await?;
        Ok(sub)
    }

    /// The subject of user `username`: `no_such_user` when there is none.
    pub async fn user_subject(&self, username: &str) -> Result<String, AuthError> {
        check_username(username)?;
        let user = load::<UserRecord>(&self.store, &user_key(username))
            .await?
            .ok_or(AuthError::NoSuchUser)?;
        Ok(user.sub)
    }

    /// Checks a new password against the length rules.
    pub(crate) fn check_new_password(password: &str) -> Result<(), AuthError> {
        check_password(password)
    }

    /// Writes user `username`'s new password (its sessions already ended).
    pub(crate) async fn replace_password(
        &self,
        username: &str,
        password: &str,
        sub: &str,
    ) -> Result<(), AuthError> {
        check_username(username)?;
        check_password(password)?;
        self.write_user(username, password, sub, self.config.pbkdf2_iterations)
            .await?;
        Ok(())
    }

    /// Deletes user `username`'s record (its sessions already ended).
    pub async fn remove_user(&self, username: &str) -> Result<(), AuthError> {
        check_username(username)?;
        self.store.delete(&user_key(username)).await?;
        Ok(())
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if (MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&password.len()) {
        Ok(())
    } else {
        Err(AuthError::InvalidRequest("password must be 8-1024 bytes"))
    }
}

/// `too_many_attempts` with a wait of `ms` (Retry-After in whole seconds, at least 1).
fn too_many(ms: u64) -> AuthError {
    AuthError::TooManyAttempts(ms.div_ceil(1000).max(1))
}
