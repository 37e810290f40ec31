// The options of `new AuthClient(options)`: read over their defaults and checked, with the
// browser's own URL parser. glue.js's `Host` takes what `read` returns; Rust reads the `options`
// slots (src/browser/options.rs). A bad option throws `invalid(option, rule)`: an `AuthError`
// `ERR_INVALID_OPTIONS` whose `option` names it and whose message says the rule. Unit tests:
// tests/browser/options.test.mjs (node --test, no package build needed).
import { COOKIE_MODE, BODY_MODE, DEFAULTS, NAMES, SLOTS, STORAGE_KEY_SUFFIX } from "./names.js";

/** The error the constructor throws: set by glue.js (`AuthError`'s maker, to keep one class). */
export let invalid = (option, rule) => { throw Object.assign(new Error(option + ": " + rule), { option }); };
export const fail = (f) => (invalid = f);

/** Edit distance of `a` and `b`, case ignored (for "did you mean"). */
const distance = (a, b) => {
  let p = [...Array(b.length + 1).keys()];
  for (let i = 0; i < a.length; i++) {
    const q = [i + 1];
    for (let j = 0; j < b.length; j++) q[j + 1] = Math.min(p[j + 1] + 1, q[j] + 1, p[j] + (a[i].toLowerCase() != b[j].toLowerCase()));
    p = q;
  }
  return p[b.length];
};

/**
 * Reads `options` (undefined members take their default) for `href`, the page's URL (its
 * `location.href`, if any). Returns the host's fields; throws `invalid(...)` for a bad option.
 */
export function read(options, href) {
  if (!(options === undefined || (typeof options == "object" && options !== null))) invalid("options", "must be an object");
  const o = { ...DEFAULTS };
  for (const k in options) {
    if (!NAMES.includes(k)) {
      const near = NAMES.find((n) => distance(k, n) < 3);
      invalid(k, "unknown option" + (near ? `; did you mean ${near}?` : ""));
    }
    if (options[k] !== undefined) o[k] = options[k];
  }
  const need = (k, ok, rule) => ok(o[k]) || invalid(k, rule);
  const string = (v) => typeof v == "string", bool = (v) => typeof v == "boolean", fn = (v) => typeof v == "function";
  // An absolute URL (`part` "href"), or its origin followed by `/` (a prefix of exactly the URLs
  // on that origin), resolved against `base`.
  const url = (k, u, part, base) => {
    try {
      const v = new URL(u, base)[part];
      return part == "href" ? v : v + "/";
    } catch {
      invalid(k, "must be a URL");
    }
  };
  need("baseUrl", string, "must be a string");
  // Endpoints: under `baseUrl` (a path keeps its path prefix, with or without a leading `/`), or
  // a full URL as it is: `new URL(path, baseUrl + "/")` with one leading `/` dropped.
  const base = url("baseUrl", o.baseUrl.replace(/\/*$/, "/"), "href", href);
  const at = (k, p = o[k]) => need(k, string, "must be a path or URL") && url(k, p.replace(/^\/(?!\/)/, ""), "href", base);
  const h = {};
  h.endpoints_ = ["loginPath", "refreshPath", "logoutPath"].map((k) => at(k));
  // `tokenEndpoint`: the refresh endpoint by another name, for a full URL.
  if (o.tokenEndpoint !== undefined) {
    if (options.refreshPath !== undefined) invalid("tokenEndpoint", "set tokenEndpoint or refreshPath, not both");
    h.endpoints_[1] = at("tokenEndpoint");
  }
  need("mode", (m) => m == COOKIE_MODE || m == BODY_MODE, `must be "${COOKIE_MODE}" or "${BODY_MODE}"`);
  // Body mode: logout revokes at `revokePath` with RFC 7009's form, if set.
  h.revoke_ = o.revokePath === undefined ? undefined : at("revokePath");
  if (o.mode != BODY_MODE) h.revoke_ = undefined;
  const list = o.bearerOrigins;
  h.origins_ = list === undefined ? [url("baseUrl", h.endpoints_[0], "origin")]
    : Array.isArray(list) ? list.map((u, i) => url(`bearerOrigins[${i}]`, u, "origin", href))
    : invalid("bearerOrigins", "must be an array of URLs");
  need("fetch", fn, "must be a function");
  need("storage", (s) => s == null || typeof s == "object", "must be an object");
  need("crossTab", bool, "must be a boolean");
  need("channelName", string, "must be a string");
  h.fetch_ = o.fetch;
  h.storage_ = o.storage ?? undefined;
  h.crossTab_ = o.crossTab;
  h.name_ = o.channelName;
  h.key_ = h.name_ + STORAGE_KEY_SUFFIX;
  h.mode_ = o.mode;
  // DPoP (dpop.js): `true` always, `false` never; by default in body mode, where the key can be
  // stored (`dpop_` 1: no key for the page's lifetime).
  need("dpop", (d) => d === undefined || bool(d), "must be a boolean");
  h.db_ = h.name_ + ":dpop";
  h.dpop_ = o.dpop ?? (o.mode == BODY_MODE && 1);
  // Durations and counts (`SLOTS`): numbers >= 0, not infinite; the first, the margin, may be
  // `undefined` (its default depends on the token).
  const slots = SLOTS.map((k, i) => (need(k, (n) => (typeof n == "number" && n >= 0 && n < 1 / 0) || (!i && n === undefined), "must be a number >= 0"), o[k]));
  // The refresh request's encoding (RFC 6749's form, or JSON) and optional members.
  need("refreshEncoding", (e) => e == "form" || e == "json", 'must be "form" or "json"');
  h.form_ = o.refreshEncoding == "form";
  for (const k of ["clientId", "scope"]) need(k, (v) => v === undefined || string(v), "must be a string");
  need("mapTokenResponse", (f) => f === undefined || fn(f), "must be a function");
  h.clientId_ = o.clientId;
  h.scope_ = o.scope;
  h.map_ = o.mapTokenResponse;
  // `sessionEndingStatuses` (integers 400-463) as two 32-bit words of a bit set (bit n: 400 + n).
  const ending = o.sessionEndingStatuses, words = [0, 0];
  if (ending !== undefined) {
    need("sessionEndingStatuses", (e) => Array.isArray(e) && e.every((s) => Number.isInteger(s) && s >= 400 && s < 464), "must be an array of integers 400-463");
    for (const s of ending) words[(s - 400) >> 5] = (words[(s - 400) >> 5] | 1 << (s - 400)) >>> 0;
  }
  return [h, slots, ending === undefined ? [] : words];
}
