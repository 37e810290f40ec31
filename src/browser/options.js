// The options of `new AuthClient(options)`: read over their defaults and checked, with the
// browser's own URL parser. glue.js's `Host` takes what `read` returns; Rust reads the `options`
// slots (src/browser/options.rs). A bad option throws `invalid(option, rule)`: an `AuthError`
// `ERR_INVALID_OPTIONS` whose `option` names it and whose message says the rule. Unit tests:
// tests/browser/options.test.mjs (node --test, no package build needed).
import { BODY_MODE, COOKIE_MODE, DEFAULTS, NAMES, SLOTS, STORAGE_KEY_SUFFIX } from "./names.js";

/** Throws the error of a bad option: glue.js sets it (`fail`) to make an `AuthError`. */
export let invalid = (option, rule) => { throw Object.assign(new Error(option + ": " + rule), { option }); };
export const fail = (f) => (invalid = f);

/** The known name `k` may have meant (for "did you mean"): the same in another case, else the first with its first three letters. */
const near = (k, l = k.toLowerCase()) => NAMES.find((n) => n.toLowerCase() == l) ?? NAMES.find((n) => n.startsWith(k.slice(0, 3)));

/** The options that, when set, must be of a type: `type:name,name,...`. */
const TYPES = ["string:baseUrl,channelName,loginPath,refreshPath,logoutPath,revokePath,tokenEndpoint,clientId,scope,issuer,authorizationEndpoint,endSessionEndpoint,redirectUri,audience,resource",
  "boolean:crossTab,dpop,sessionHint", "function:fetch,mapTokenResponse", "object:storage"];

/**
 * Reads `options` (an `undefined` member takes its default) for `href`, the page's URL (its
 * `location.href`, if any). Returns `[the host's fields, the SLOTS values, the session-ending
 * statuses as two 32-bit words (none: the default)]`; throws `invalid(...)` for a bad option.
 */
export function read(options, href) {
  if (typeof options != "object" && options !== undefined || options === null) invalid("options", "must be an object");
  const o = { ...DEFAULTS, fetch: globalThis.fetch };
  for (const k in options) {
    if (!NAMES.includes(k)) {
      const n = near(k);
      invalid(k, "unknown option" + (n ? "; did you mean " + n + "?" : ""));
    }
    if (options[k] !== undefined) o[k] = options[k];
  }
  const need = (k, ok, rule) => ok(o[k]) || invalid(k, "must be " + rule);
  for (const t of TYPES) {
    const [type, names] = t.split(":");
    for (const k of names.split(",")) need(k, (v) => v === undefined || typeof v == type && v !== null, (type[0] == "o" ? "an " : "a ") + type);
  }
  const one = (k, a, b) => need(k, (v) => v == a || v == b, `"${a}" or "${b}"`);
  one("mode", COOKIE_MODE, BODY_MODE);
  one("refreshEncoding", "form", "json");
  // An absolute URL (`part` "href"), or its origin followed by `/` (a prefix of exactly the URLs
  // on that origin), resolved against `base`.
  const url = (k, u, part, base) => {
    try {
      const v = new URL(u, base)[part];
      return part < "i" ? v : v + "/";
    } catch {
      invalid(k, "must be a URL");
    }
  };
  // Endpoints: under `baseUrl` (a path keeps its path prefix, with or without a leading `/`), or
  // a full URL as it is: `new URL(path, baseUrl + "/")` with one leading `/` dropped.
  const base = url("baseUrl", o.baseUrl.replace(/\/*$/, "/"), "href", href);
  const at = (k) => url(k, o[k].replace(/^\/(?!\/)/, ""), "href", base);
  if (o.tokenEndpoint !== undefined && options.refreshPath !== undefined) invalid("tokenEndpoint", "set tokenEndpoint or refreshPath, not both");
  const body = o.mode == BODY_MODE, list = o.bearerOrigins, ending = o.sessionEndingStatuses, words = [0, 0];
  const h = {
    endpoints_: ["loginPath", o.tokenEndpoint === undefined ? "refreshPath" : "tokenEndpoint", "logoutPath"].map(at),
    // Body mode: logout revokes at `revokePath` with RFC 7009's form, if set.
    revoke_: body && o.revokePath !== undefined ? at("revokePath") : undefined,
    fetch_: o.fetch,
    storage_: o.storage ?? undefined,
    crossTab_: o.crossTab,
    name_: o.channelName,
    key_: o.channelName + STORAGE_KEY_SUFFIX,
    mode_: o.mode,
    // DPoP (dpop.js): `true` always, `false` never; by default in body mode, where the key can
    // be stored (`dpop_` 1: no key for the page's lifetime).
    db_: o.channelName + ":dpop",
    dpop_: o.dpop ?? (body && 1),
    form_: o.refreshEncoding == "form",
    clientId_: o.clientId,
    scope_: o.scope,
    map_: o.mapTokenResponse,
    // Read by glue.js (`sessionHint`) and oidc.js (sign-in through a redirect): the options over their defaults.
    o_: o,
  };
  h.origins_ = list === undefined ? [url("baseUrl", h.endpoints_[0], "origin")]
    : Array.isArray(list) ? list.map((u, i) => url(`bearerOrigins[${i}]`, u, "origin", href))
    : invalid("bearerOrigins", "must be an array of URLs");
  // Durations and counts (`SLOTS`): numbers >= 0, not infinite; the first, the margin, may be
  // `undefined` (its default depends on the token).
  const slots = SLOTS.map((k, i) => (need(k, (n) => n >= 0 && n < 1 / 0 && typeof n == "number" || !i && n === undefined, "a number >= 0"), o[k]));
  // `sessionEndingStatuses` (integers 400-463) as two 32-bit words of a bit set (bit n: 400 + n).
  if (ending !== undefined) {
    need("sessionEndingStatuses", (e) => Array.isArray(e) && e.every((s) => Number.isInteger(s) && s >= 400 && s < 464), "an array of integers 400-463");
    for (const s of ending) words[(s - 400) >> 5] = (words[(s - 400) >> 5] | 1 << (s - 400)) >>> 0;
  }
  return [h, slots, ending === undefined ? [] : words];
}
