// A certified OpenID provider (oidc-provider from npm) configured as a provider for a single-page
// app would be: one public client (no secret, PKCE required), the authorization-code and
// refresh-token grants, refresh-token rotation, short-lived (opaque) access tokens, revocation,
// CORS for the app's origin at the token and revocation endpoints. Its built-in development
// login and consent pages stand in for a real login. Plus a resource API on another port that
// accepts only access tokens the provider issued and that are still valid. DPoP (RFC 9449) is
// on, as oidc-provider has it by default: a token request with a proof gets DPoP-bound tokens
// (for a public client the refresh token too), and its userinfo endpoint (`/me`) takes them with
// a proof. With `dpopNonce`, every proof must carry a server nonce (`DPoP-Nonce`).
//
//   const oidc = await startOidc({ pageOrigin, redirectUri, postLogoutRedirectUri, accessTtl, dpopNonce });
//   oidc.issuer, oidc.api, oidc.provider (the Provider, to inspect or revoke), oidc.seen (what the
//   resource API recorded), await oidc.close()
import Provider from "oidc-provider";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { freePort } from "../../support/worker.mjs";

export const CLIENT_ID = "spa";

export async function startOidc({ pageOrigin, redirectUri, postLogoutRedirectUri, accessTtl = 10, dpopNonce = false }) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      token_endpoint_auth_method: "none",
      application_type: "web",
      redirect_uris: [redirectUri],
      ...(postLogoutRedirectUri ? { post_logout_redirect_uris: [postLogoutRedirectUri] } : {}),
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    }],
    scopes: ["openid", "offline_access"],
    features: {
      revocation: { enabled: true },
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
      dPoP: { enabled: true, ...(dpopNonce ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}) },
    },
    rotateRefreshToken: true,
    ttl: { AccessToken: accessTtl, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600, AuthorizationCode: 60, IdToken: 3600 },
    clientBasedCORS: (_ctx, origin) => origin === pageOrigin,
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    cookies: { keys: ["interop-test-cookie-key"] },
  });
  // The provider's development defaults print notices; they are expected here.
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider server_error:", err));
  const server = await new Promise((ok) => {
    const s = provider.listen(port, "127.0.0.1", () => ok(s));
  });

  // The resource API: `GET /api/me` with `Authorization: Bearer <access token>`, CORS for the page.
  // `GET /api/nonce-again` stands for a broken DPoP resource: it answers every request 401
  // `use_dpop_nonce` with a new `DPoP-Nonce`, and counts them (`nonceAgain`).
  const apiPort = await freePort();
  const cors = { "access-control-allow-origin": pageOrigin, "vary": "Origin", "access-control-expose-headers": "DPoP-Nonce, WWW-Authenticate" };
  const seen = { nonceAgain: [] };
  const api = createServer(async (req, res) => {
    if (req.method === "OPTIONS") {
      res.writeHead(204, { ...cors, "access-control-allow-headers": "authorization, dpop", "access-control-allow-methods": "GET" });
      return res.end();
    }
    if (req.url === "/api/nonce-again") {
      const nonce = randomBytes(16).toString("base64url");
      seen.nonceAgain.push({ authorization: req.headers.authorization, dpop: req.headers.dpop, nonce });
      res.writeHead(401, { ...cors, "content-type": "application/json", "dpop-nonce": nonce, "www-authenticate": 'DPoP error="use_dpop_nonce", algs="ES256"' });
      return res.end(JSON.stringify({ error: "use_dpop_nonce" }));
    }
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
    const token = bearer && (await provider.AccessToken.find(bearer));
    if (req.url !== "/api/me" || !token || token.isExpired) {
      res.writeHead(401, { ...cors, "content-type": "application/json", "www-authenticate": 'Bearer error="invalid_token"' });
      return res.end(JSON.stringify({ error: "invalid_token" }));
    }
    res.writeHead(200, { ...cors, "content-type": "application/json" });
    res.end(JSON.stringify({ sub: token.accountId, client_id: token.clientId }));
  });
  await new Promise((ok) => api.listen(apiPort, "127.0.0.1", ok));

  const close = async () => {
    for (const s of [server, api]) {
      s.closeAllConnections();
      await new Promise((ok) => s.close(ok));
    }
  };
  return { issuer, api: `http://127.0.0.1:${apiPort}`, provider, seen, close };
}
