// Values the runtime reads and makes (src/browser/js.rs binds them through glue.js): members,
// numbers, the claims of a JWT (decoded, not verified: Rust checks them), and the package's
// `AuthError`s.
import { ERRORS } from "./names.js";

/** `target[key]` (`undefined` for `undefined` and `null` targets). */
export const get = (target, key) => target?.[key];

/** `value` if it is a number or a decimal string of one (`expires_in: "3600"`), else `NaN`. */
export const number = (value) => (typeof value == "number" ? value : typeof value == "string" && /^\d+(\.\d*)?$/.test(value) ? +value : NaN);

/**
 * The `exp`, `iat` and `sub` claims of the JWT `token`, decoded but neither verified nor checked
 * (Rust checks them: `lifetime_from_claims`, `same_subject`); none if it is no JWT. `undefined` unless `token` is a
 * non-empty string.
 */
export function claims(token) {
  if (typeof token != "string" || !token) return;
  try {
    // header.payload.signature, the payload base64url JSON.
    const s = token.split(".");
    if (s.length == 3 && s[0] && /^[\w-]+$/.test(s[1])) {
      const p = JSON.parse(atob(s[1].replace(/-/g, "+").replace(/_/g, "/")));
      return [p.exp, p.iat, p.sub];
    }
  } catch {}
  return [];
}

/** The `sub` claim of the JWT `token` (decoded, not verified) if it is a non-empty string. */
export const subject = (token) => {
  const s = claims(token)?.[2];
  if (typeof s == "string" && s) return s;
};

/**
 * The class of every error the client throws or reports: `code`, the stable code; for an error
 * an HTTP answer caused, its `status` and the server's OAuth `error` value as `oauthError`.
 */
export class AuthError extends Error {
  constructor(code, message, status, oauthError) {
    super(message ?? code);
    this.name = "AuthError";
    this.code = code;
    if (status !== undefined) this.status = status;
    if (typeof oauthError == "string") this.oauthError = oauthError;
  }
}

/**
 * An `AuthError` of error `index` (with the HTTP `status` and `oauthError` that caused it, and
 * `.retryAfter` in ms, if any: NaN for none).
 */
export function error(index, status, retryAfter, oauthError) {
  // The message, if not carried after the code, is the code's words in lower case.
  const [code, message = code.toLowerCase().replace(/_/g, " ")] = ERRORS[index].split(":");
  const e = new AuthError("ERR_" + code, message, status, oauthError);
  if (retryAfter >= 0) e.retryAfter = retryAfter;
  return e;
}
