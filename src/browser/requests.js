// Which requests `auth.fetch` manages, and which scheme a managed one's access token takes: the
// rules glue.js's `request_`, `send_`, `json_` and `setSession` apply, here rather than in wasm
// (where they cost bytes) so that they have unit tests of their own:
// tests/browser/requests.test.mjs (node --test, no package build). DPoP's proofs and nonce retry
// are dpop.js's.

/**
 * Whether `auth.fetch` manages `request` (a `Request`): addressed to one of `origins` (the bearer
 * origins, each followed by `/`), not to one of the client's `endpoints` (absolute URLs, compared
 * exactly with query and fragment ignored, so `/auth/logout-all` is not `/auth/logout`), and
 * without an `Authorization` header of the caller's. `request.url` is absolute and serialized
 * (`Request` refuses credentials in it), so the part before `?` or `#` is its origin and path.
 */
export const managed = (request, origins, endpoints) =>
  origins.some((o) => request.url.startsWith(o)) && !endpoints.includes(request.url.split(/[?#]/)[0])
  && !request.headers.has("authorization");

/**
 * Whether an access token whose `token_type` is `type` is DPoP-bound (RFC 9449 §5, the scheme
 * in any case): sent as `Authorization: DPoP` with a proof (dpop.js), else as `Bearer`.
 */
export const bound = (type) => /^dpop$/i.test(type);
