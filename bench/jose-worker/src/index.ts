// Baseline (a) of the benchmarks: the refresh endpoint a team would write itself in TypeScript
// with `jose` on Workers. It implements the benchmarked part of docs/PROTOCOL.md
// (POST /auth/sessions with the admin bearer, POST /auth/refresh in body transport, the JWKS)
// with the same rotation algorithm as docs/DESIGN.md and src/core/server (records.rs, token.rs,
// service.rs), and the KV layout a team following the tutorial writes, which ours had until its
// tokens named their family (chained tokens, docs/DESIGN.md): a token record per rotation, so 4
// KV keys read and 2 written per rotation (ours: 3 and 1), an HMAC, two SHA-256 and an Ed25519
// signature. The family, revocation and epoch reads are three concurrent `get`s (Promise.all), as
// hand-written Workers do; with the var BULK_READ=on they are one bulk `get([keys])`, as ours
// does, so the benchmark can show both the typical baseline and the one with the same KV calls.
//
// It is a benchmark baseline, written idiomatically and without shortcuts, not a product.
import { SignJWT, importJWK, type CryptoKey as JoseKey } from "jose";

interface KV {
  get(key: string): Promise<string | null>;
  get(keys: string[]): Promise<Map<string, string | null>>;
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
}

interface Env {
  REFRESH_TOKENS: KV;
  SIGNING_KEYS: string;
  REFRESH_SECRET: string;
  ADMIN_TOKEN: string;
  ISSUER?: string;
  AUDIENCE?: string;
  ACCESS_TTL_SECONDS?: string;
  REFRESH_IDLE_SECONDS?: string;
  REFRESH_ABSOLUTE_SECONDS?: string;
  GRACE_SECONDS?: string;
  BULK_READ?: string;
}

// --- records (field names as src/core/server/records.rs serialises them) ---
interface TokenRecord { fam: string; gen: number; sub: string; idle: number; abs: number }
interface FamilyRecord {
  sub: string; created: number; abs: number; gen: number; rotated_at: number; ep: number;
  claims?: Record<string, unknown>;
}
interface Epoch { n: number; at: number }

const PREFIX = "srt_";
const TOKEN_LEN = PREFIX.length + 43;
const MIN_TTL = 60;
const RESERVED = new Set(["iss", "sub", "aud", "iat", "exp", "nbf", "jti", "nonce", "cnf", "sr_ep"]);
const enc = new TextEncoder();

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, description: string) {
    super(description);
  }
}
const invalidGrant = () => new HttpError(400, "invalid_grant", "the refresh token is invalid, expired or revoked");
const invalidRequest = (d: string) => new HttpError(400, "invalid_request", d);

// --- base64url ---
function b64url(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function unb64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Canonical only (no non-zero trailing bits), as the Rust decoder requires.
  return b64url(out) === text ? out : null;
}
function randomId(n: number): string {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

// --- configuration and keys, prepared once per isolate ---
interface Prepared {
  kid: string;
  signingKey: JoseKey;
  hmacKey: CryptoKey;
  admin: Uint8Array;
  issuer: string;
  audience: string;
  accessTtl: number;
  idle: number;
  absolute: number;
  grace: number;
  bulkRead: boolean;
}
let prepared: Promise<Prepared> | undefined;

async function prepare(env: Env): Promise<Prepared> {
  const keys = JSON.parse(env.SIGNING_KEYS) as Array<Record<string, string>>;
  const first = keys[0];
  if (!first || first.kty !== "OKP" || first.crv !== "Ed25519") throw new Error("SIGNING_KEYS: need an Ed25519 JWK");
  const signingKey = (await importJWK({ kty: "OKP", crv: "Ed25519", x: first.x, d: first.d }, "EdDSA")) as JoseKey;
  const secret = unb64url(env.REFRESH_SECRET.trim());
  if (!secret || secret.length < 32) throw new Error("REFRESH_SECRET must be at least 32 base64url bytes");
  const hmacKey = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number.parseInt(v, 10));
  return {
    kid: first.kid,
    signingKey,
    hmacKey,
    admin: enc.encode(env.ADMIN_TOKEN.trim()),
    issuer: env.ISSUER ?? "http://127.0.0.1:8787",
    audience: env.AUDIENCE ?? "silent-refresh-demo",
    accessTtl: num(env.ACCESS_TTL_SECONDS, 900),
    idle: num(env.REFRESH_IDLE_SECONDS, 604800),
    absolute: num(env.REFRESH_ABSOLUTE_SECONDS, 2592000),
    grace: num(env.GRACE_SECONDS, 10),
    bulkRead: env.BULK_READ === "on",
  };
}

// --- refresh tokens: parse, key, successor (src/core/server/token.rs) ---
function parseToken(text: unknown): Uint8Array {
  if (typeof text !== "string" || text.length !== TOKEN_LEN || !text.startsWith(PREFIX)) {
    throw invalidRequest("malformed refresh token");
  }
  const bytes = unb64url(text.slice(PREFIX.length));
  if (!bytes || bytes.length !== 32) throw invalidRequest("malformed refresh token");
  return bytes;
}
const tokenText = (bytes: Uint8Array) => PREFIX + b64url(bytes);
async function tokenKey(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", enc.encode(tokenText(bytes)));
  return "t:" + b64url(new Uint8Array(digest));
}
async function successor(p: Prepared, bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", p.hmacKey, bytes));
}

// --- KV records ---
async function load<T>(kv: KV, key: string): Promise<T | null> {
  const text = await kv.get(key);
  return text === null ? null : (JSON.parse(text) as T);
}
const ttlUntil = (deadline: number, now: number) => Math.max(deadline - now, MIN_TTL);
async function save(kv: KV, key: string, value: unknown, ttl?: number): Promise<void> {
  await kv.put(key, JSON.stringify(value), ttl === undefined ? undefined : { expirationTtl: ttl });
}

// --- access tokens: EdDSA, kid, typ at+jwt (src/core/server/access.rs) ---
async function respond(p: Prepared, f: FamilyRecord, refresh: Uint8Array, now: number): Promise<Response> {
  const accessToken = await new SignJWT({ ...(f.claims ?? {}), sr_ep: f.ep })
    .setProtectedHeader({ alg: "EdDSA", kid: p.kid, typ: "at+jwt" })
    .setIssuer(p.issuer)
    .setAudience(p.audience)
    .setSubject(f.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + p.accessTtl)
    .setJti(randomId(16))
    .sign(p.signingKey);
  return json(200, { access_token: accessToken, token_type: "Bearer", expires_in: p.accessTtl, refresh_token: tokenText(refresh) });
}

// --- operations (src/core/server/service.rs) ---
async function createSession(p: Prepared, kv: KV, sub: string, claims: Record<string, unknown>, now: number) {
  const epoch = (await load<Epoch>(kv, "e:" + sub)) ?? { n: 0, at: 0 };
  const fam = randomId(16);
  const token = crypto.getRandomValues(new Uint8Array(32));
  const abs = now + p.absolute;
  const record: TokenRecord = { fam, gen: 0, sub, idle: Math.min(now + p.idle, abs), abs };
  await save(kv, await tokenKey(token), record, ttlUntil(abs, now));
  const family: FamilyRecord = { sub, created: now, abs, gen: 0, rotated_at: now, ep: epoch.n };
  if (Object.keys(claims).length > 0) family.claims = claims;
  await save(kv, "f:" + fam, family, ttlUntil(abs, now));
  return respond(p, family, token, now);
}

async function refresh(p: Prepared, kv: KV, presented: unknown, now: number): Promise<Response> {
  const token = parseToken(presented);
  const t = await load<TokenRecord>(kv, await tokenKey(token));
  if (!t) throw invalidGrant();
  // Independent reads together: three concurrent gets, or (BULK_READ) one bulk get as ours does.
  const keys = ["f:" + t.fam, "r:" + t.fam, "e:" + t.sub];
  const [fText, revoked, eText] = p.bulkRead
    ? await kv.get(keys).then((m) => keys.map((k) => m.get(k) ?? null))
    : await Promise.all(keys.map((k) => kv.get(k)));
  const f = fText === null ? null : (JSON.parse(fText) as FamilyRecord);
  const storedEpoch = eText === null ? null : (JSON.parse(eText) as Epoch);
  if (!f || f.sub !== t.sub || revoked !== null) throw invalidGrant();
  const epoch = storedEpoch ?? { n: 0, at: 0 };
  if (f.ep !== epoch.n || now >= f.abs || now >= t.idle) throw invalidGrant();
  const next = await successor(p, token);
  if (t.gen >= f.gen) {
    // Current token (or a successor whose family write was lost): rotate, family record last.
    const gen = t.gen + 1;
    const record: TokenRecord = { fam: t.fam, gen, sub: t.sub, idle: Math.min(now + p.idle, f.abs), abs: f.abs };
    await save(kv, await tokenKey(next), record, ttlUntil(f.abs, now));
    const family: FamilyRecord = { ...f, gen, rotated_at: now };
    await save(kv, "f:" + t.fam, family, ttlUntil(f.abs, now));
    return respond(p, family, next, now);
  }
  if (t.gen + 1 === f.gen && now - f.rotated_at <= p.grace) {
    return respond(p, f, next, now); // grace replay: same successor, nothing written
  }
  await save(kv, "r:" + t.fam, { at: now, why: "reuse" }, ttlUntil(f.abs, now));
  throw invalidGrant();
}

// --- HTTP ---
function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}

function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function params(request: Request): Promise<Record<string, unknown>> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const text = await request.text();
  if (text.length > 8192) throw new HttpError(413, "payload_too_large", "body too large");
  if (type === "application/json") {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw invalidRequest("body is not valid JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidRequest("body must be a JSON object");
    return body as Record<string, unknown>;
  }
  if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(text));
  throw new HttpError(415, "unsupported_media_type", "send JSON or a form");
}

async function handle(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const now = Math.floor(Date.now() / 1000);
  prepared ??= prepare(env);
  const p = await prepared;
  if (url.pathname === "/auth/refresh" && request.method === "POST") {
    const body = await params(request);
    if (body.grant_type !== undefined && body.grant_type !== "refresh_token") {
      throw new HttpError(400, "unsupported_grant_type", "grant_type must be refresh_token");
    }
    return refresh(p, env.REFRESH_TOKENS, body.refresh_token, now);
  }
  if (url.pathname === "/auth/sessions" && request.method === "POST") {
    const auth = request.headers.get("authorization") ?? "";
    const presented = auth.startsWith("Bearer ") ? enc.encode(auth.slice(7)) : new Uint8Array();
    if (p.admin.length === 0 || !timingSafeEqual(presented, p.admin)) {
      throw new HttpError(401, "unauthorized", "admin token required");
    }
    const body = await params(request);
    const sub = body.sub;
    if (typeof sub !== "string" || sub.length === 0 || sub.length > 256) throw invalidRequest("sub must be 1-256 bytes");
    const claims = (body.claims ?? {}) as Record<string, unknown>;
    if (typeof claims !== "object" || Array.isArray(claims) || Object.keys(claims).some((k) => RESERVED.has(k))) {
      throw invalidRequest("claims must be an object without registered claims");
    }
    return createSession(p, env.REFRESH_TOKENS, sub, claims, now);
  }
  if (url.pathname === "/.well-known/jwks.json" && request.method === "GET") {
    const keys = (JSON.parse(env.SIGNING_KEYS) as Array<Record<string, string>>).map((k) => ({
      kty: "OKP", crv: "Ed25519", x: k.x, kid: k.kid, alg: "EdDSA", use: "sig",
    }));
    return json(200, { keys });
  }
  throw new HttpError(404, "not_found", "no such endpoint");
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    try {
      return await handle(request, env);
    } catch (e) {
      if (e instanceof HttpError) return json(e.status, { error: e.code, error_description: e.message });
      return json(503, { error: "temporarily_unavailable", error_description: "try again" }, { "retry-after": "1" });
    }
  },
};
