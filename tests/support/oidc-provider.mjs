// An OpenID provider nobody here wrote (oidc-provider from npm) with the Worker as its confidential
// client, for the http and e2e tiers and `make dev-oidc`: the authorization-code grant with PKCE,
// refresh-token rotation (a reused refresh token ends the grant), revocation, RP-initiated logout,
// RFC 9207 `iss` in the authorization response, and its development login and consent pages
// standing in for a real login (any login, any password; the login becomes the user's `sub`).
//
//   const op = await startProvider({ redirectUris: [`${worker}/auth/callback`] });
//   op.issuer, op.clientId, op.clientSecret, op.vars (the Worker's UPSTREAM_* vars and secrets),
//   op.counts ({ code, refresh }: token-endpoint grants that succeeded), op.events (every
//   grant.success / grant.error / revocation), op.provider (to revoke grants), op.down(true|false)
//   (the provider answers 503 to everything while down), await op.revokeAccount(login) (ends
//   the user's grants at the provider), await op.close()
//
// Options: idTokenAlg ("RS256" | "ES256"), clientAuth ("client_secret_basic" |
// "client_secret_post"; the discovery document then advertises only that method), accessTtl.
//
// signInHttp(workerUrl, op, { login, returnTo }) drives the whole redirect flow with plain HTTP
// (a cookie jar per origin, redirects followed by hand) and resolves to the callback's answer.
import Provider from "oidc-provider";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { freePort } from "./worker.mjs";

export async function startProvider({ redirectUris, postLogoutRedirectUris = [], idTokenAlg = "RS256", clientAuth = "client_secret_basic", accessTtl = 3600, port } = {}) {
  port ??= await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = "silent-refresh-edge";
  const clientSecret = randomBytes(24).toString("base64url");
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      token_endpoint_auth_method: clientAuth,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutRedirectUris,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      id_token_signed_response_alg: idTokenAlg,
    }],
    clientAuthMethods: [clientAuth],
    jwks: { keys: [{ ...rsa, kid: "rsa-1", use: "sig" }, { ...ec, kid: "ec-1", use: "sig" }] },
    scopes: ["openid", "offline_access", "email", "profile"],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    ttl: { AccessToken: accessTtl, RefreshToken: 86400, Grant: 86400, Session: 3600, Interaction: 600, AuthorizationCode: 60, IdToken: 3600 },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub, email: `${sub}@example.com`, email_verified: true, name: `User ${sub}` }) }),
    cookies: { keys: [randomBytes(16).toString("hex")] },
  });
  const counts = { code: 0, refresh: 0, refreshErrors: 0, revocations: 0 };
  const events = [];
  provider.on("grant.success", (ctx) => {
    const type = ctx.oidc.params.grant_type;
    if (type === "authorization_code") counts.code += 1;
    if (type === "refresh_token") counts.refresh += 1;
    events.push(["grant.success", type]);
  });
  provider.on("grant.error", (ctx, err) => {
    if (ctx.oidc.params?.grant_type === "refresh_token") counts.refreshErrors += 1;
    events.push(["grant.error", ctx.oidc.params?.grant_type, err.error]);
  });
  const grantsOf = new Map();
  provider.on("refresh_token.saved", (token) => {
    if (!grantsOf.has(token.accountId)) grantsOf.set(token.accountId, new Set());
    grantsOf.get(token.accountId).add(token.grantId);
  });
  /** Ends every grant of `login` at the provider; resolves to how many. */
  const revokeAccount = async (login) => {
    let n = 0;
    for (const id of grantsOf.get(login) ?? []) {
      const grant = await provider.Grant.find(id);
      if (grant) { await grant.destroy(); n += 1; }
    }
    return n;
  };
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider server_error:", err));
  let isDown = false;
  const callback = provider.callback();
  const server = createServer((req, res) => {
    if (isDown) {
      res.writeHead(503, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: "temporarily_unavailable" }));
    }
    if (req.method === "POST" && req.url.startsWith("/token/revocation")) {
      res.on("finish", () => {
        if (res.statusCode === 200) { counts.revocations += 1; events.push(["revocation", 200]); }
      });
    }
    return callback(req, res);
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  const vars = {
    UPSTREAM_ISSUER: issuer,
    UPSTREAM_CLIENT_ID: clientId,
  };
  const secrets = {
    UPSTREAM_CLIENT_SECRET: clientSecret,
    UPSTREAM_TOKEN_KEY: randomBytes(32).toString("base64url"),
  };
  const close = async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  };
  return { issuer, clientId, clientSecret, provider, counts, events, vars, secrets, revokeAccount, down: (v) => { isDown = v; }, close };
}

/** A cookie jar keyed by origin: enough for the provider's and the Worker's cookies. */
export class Jar {
  constructor() { this.jars = new Map(); }
  store(url, res) {
    const origin = new URL(url).origin;
    const jar = this.jars.get(origin) ?? new Map();
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const maxAge = attrs.map((a) => a.trim().toLowerCase()).find((a) => a.startsWith("max-age="));
      if (value === "" || maxAge === "max-age=0") jar.delete(name);
      else jar.set(name, value);
    }
    this.jars.set(origin, jar);
  }
  header(url) {
    const jar = this.jars.get(new URL(url).origin);
    return jar && jar.size ? [...jar].map(([k, v]) => `${k}=${v}`).join("; ") : undefined;
  }
  get(url, name) { return this.jars.get(new URL(url).origin)?.get(name); }
  set(url, name, value) {
    const origin = new URL(url).origin;
    const jar = this.jars.get(origin) ?? new Map();
    jar.set(name, value);
    this.jars.set(origin, jar);
  }
}

/** One request with the jar's cookies, no redirect followed. */
export async function hop(jar, url, { method = "GET", form } = {}) {
  const headers = {};
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(form).toString();
  }
  const res = await fetch(url, { method, headers, body, redirect: "manual", signal: AbortSignal.timeout(20_000) });
  jar.store(url, res);
  const text = await res.text();
  const location = res.headers.get("location");
  return { status: res.status, headers: res.headers, text, location: location && new URL(location, url).href };
}

/** The first form of an HTML page: its action and hidden inputs. */
function formOf(html, base) {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  if (!action) throw new Error(`no form on the provider's page:\n${html.slice(0, 500)}`);
  const fields = {};
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[m[1]] = m[2];
  return { action: new URL(action.replace(/&amp;/g, "&"), base).href, fields };
}

/**
 * Follows the provider's pages from `authorizeUrl` (the Worker's /auth/authorize answer's
 * Location): logs in as `login`, consents, and stops at the redirect back to the Worker. Resolves
 * to that callback URL (not fetched).
 */
export async function throughProvider(jar, authorizeUrl, { login = "ada", workerOrigin } = {}) {
  let url = authorizeUrl;
  for (let i = 0; i < 20; i += 1) {
    if (new URL(url).origin === workerOrigin) return url;
    const res = await hop(jar, url);
    if (res.location) { url = res.location; continue; }
    if (res.status !== 200) throw new Error(`provider answered ${res.status} at ${url}: ${res.text.slice(0, 300)}`);
    const { action, fields } = formOf(res.text, url);
    const form = fields.prompt === "login" ? { ...fields, login, password: "any" } : fields;
    const posted = await hop(jar, action, { method: "POST", form });
    if (!posted.location) throw new Error(`provider form answered ${posted.status}: ${posted.text.slice(0, 300)}`);
    url = posted.location;
  }
  throw new Error("too many redirects at the provider");
}

/**
 * The whole sign-in with plain HTTP: /auth/authorize, the provider's pages, /auth/callback.
 * Resolves to { jar, callbackUrl, callback (the callback's answer), authorize (its answer) }.
 */
export async function signInHttp(workerUrl, { login = "ada", returnTo = "/app", jar = new Jar() } = {}) {
  const authorize = await hop(jar, `${workerUrl}/auth/authorize?return_to=${encodeURIComponent(returnTo)}`);
  if (authorize.status !== 302) throw new Error(`/auth/authorize answered ${authorize.status}: ${authorize.text}`);
  const callbackUrl = await throughProvider(jar, authorize.location, { login, workerOrigin: new URL(workerUrl).origin });
  const callback = await hop(jar, callbackUrl);
  return { jar, authorize, callbackUrl, callback };
}
