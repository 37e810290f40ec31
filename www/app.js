// The silent-refresh demo: signs in through the Worker, then shows the access token's countdown,
// the next silent refresh and every event the AuthClient emits. Cookie mode: the refresh token is
// an httpOnly cookie this script cannot read.
import init, { AuthClient } from "/pkg/silent_refresh.js";
import { startTimeline } from "/timeline.js";

const $ = (id) => document.getElementById(id);
const ui = {
  loginPanel: $("login-panel"), sessionPanel: $("session-panel"), loginForm: $("login-form"),
  loginButton: $("login-button"), loginError: $("login-error"), who: $("who"),
  expiresIn: $("expires-in"), refreshIn: $("refresh-in"), refreshCount: $("refresh-count"),
  callMe: $("call-me"), callTen: $("call-ten"), logout: $("logout"), result: $("call-result"),
  claims: $("claims"), log: $("log"),
};

await init();
let timeline;
// The page's own fetch, through which every request of the client goes: a 401 of the API is
// drawn on the timeline as what sent the refresh that follows.
const fetchSeen = (request) => fetch(request).then((res) => {
  if (res.status === 401 && new URL(request.url).pathname.startsWith("/api/")) timeline?.cause("401");
  return res;
});
const auth = new AuthClient({ baseUrl: "", mode: "cookie", fetch: fetchSeen });
// The end-to-end tests drive the page through this handle.
window.auth = auth;
timeline = startTimeline($("timeline"), auth);

function log(kind, text) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  const label = document.createElement("span");
  label.className = `kind kind-${kind}`;
  label.textContent = kind;
  item.append(time, label, document.createTextNode(text));
  item.dataset.kind = kind;
  ui.log.prepend(item);
}

function seconds(untilMs) {
  if (untilMs === undefined) return "–";
  const s = Math.max(0, (untilMs - Date.now()) / 1000);
  return `${s.toFixed(1)} s`;
}

function render() {
  const signedIn = auth.signedIn;
  ui.loginPanel.hidden = signedIn;
  ui.sessionPanel.hidden = !signedIn;
  document.body.dataset.state = signedIn ? "signed-in" : "signed-out";
  ui.expiresIn.textContent = seconds(auth.expiresAt);
  ui.refreshIn.textContent = seconds(auth.nextRefreshAt);
  ui.refreshCount.textContent = String(auth.refreshCount);
}
setInterval(render, 250);

async function callMe() {
  const res = await auth.fetch("/api/me");
  const body = await res.json().catch(() => ({}));
  if (res.ok) {
    ui.who.textContent = body.sub ?? "?";
    ui.claims.textContent = JSON.stringify(body, null, 2);
  }
  return res.status;
}

function showResult(text, ok) {
  ui.result.textContent = text;
  ui.result.className = `result ${ok ? "ok" : "bad"}`;
}

auth.on("refresh", (e) => { log("refresh", ` new access token (${e.source})`); render(); });
auth.on("error", (e) => { log("error", ` ${e.error.code}: ${e.error.message}${e.retryIn ? `, retry in ${(e.retryIn / 1000).toFixed(1)} s` : ""}`); });
auth.on("expired", (e) => { log("expired", ` session ended (${e.error.code})`); render(); });
auth.on("logout", (e) => { log("logout", ` signed out (${e.source})`); ui.claims.textContent = "Call /api/me to see them."; render(); });

ui.loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  ui.loginError.hidden = true;
  ui.loginButton.disabled = true;
  try {
    await auth.login($("username").value, $("password").value);
    log("login", ` signed in as ${$("username").value}`);
    render();
    await callMe();
  } catch (error) {
    ui.loginError.textContent = error.code === "ERR_INVALID_CREDENTIALS" ? "Wrong username or password." : `${error.code ?? "error"}: ${error.message}`;
    ui.loginError.hidden = false;
  } finally {
    ui.loginButton.disabled = false;
  }
});

ui.callMe.addEventListener("click", async () => {
  try {
    const status = await callMe();
    showResult(`GET /api/me → ${status}`, status === 200);
  } catch (error) {
    showResult(`GET /api/me failed: ${error.code ?? error.message}`, false);
  }
});

ui.callTen.addEventListener("click", async () => {
  const before = auth.refreshCount;
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => auth.fetch("/api/me")));
  const ok = results.filter((r) => r.status === "fulfilled" && r.value.ok).length;
  const refreshes = auth.refreshCount - before;
  showResult(`10 calls: ${ok} × 200, sharing ${refreshes} refresh request${refreshes === 1 ? "" : "s"}`, ok === 10);
});

// Which sign-ins the Worker offers (GET /healthz): a provider (make dev-oidc) adds the
// "Sign in with your provider" button; without password login the form goes.
const signIn = await fetch("/healthz").then((r) => r.json()).then((b) => b.sign_in, () => undefined);
const provider = signIn?.provider === true;
$("provider-signin").hidden = !provider;
ui.loginForm.hidden = $("password-hint").hidden = provider && signIn.password === false;
$("provider-button").addEventListener("click", () => auth.loginWithRedirect({ returnTo: "/" }));

ui.logout.addEventListener("click", async () => {
  // A provider sign-in also ends the provider's session (the Worker's end_session_url).
  await auth.logout({ federated: provider });
  render();
});

if (new URLSearchParams(location.search).has("auth_error")) {
  // Back from a failed sign-in at the provider: the Worker's stable code, shown.
  await auth.handleRedirectCallback().catch((error) => {
    ui.loginError.textContent = `Sign-in failed: ${error.oauthError ?? error.code}`;
    ui.loginError.hidden = false;
  });
} else if (await auth.restore()) {
  log("restore", " session restored from the refresh cookie");
  await callMe().catch(() => {});
}
render();
document.body.dataset.ready = "true";
