// The demo's timeline (this tab's): each access token's life as a bar from the moment it arrived
// to its expiry, the refresh margin at its end (from the scheduled refresh to the expiry), every
// refresh as a mark labelled with what sent it (the timer, a 401, another tab, a wake-up, a
// restore), and the session's end. Drawn in SVG over about four token lifetimes (20 s to 2 min),
// the last fifth of it ahead of now (the current token's expiry and margin), four times a second.
//
//   const timeline = startTimeline(svg, auth);   // after the client exists
//   timeline.cause("401")                         // the page saw a 401 (its fetch wrapper)
//
// What sent a refresh is read from the client's events and from what the page saw just before:
// `source: "tab"` is another tab; "restore" a restore; a network refresh within 2 s of a 401 the
// page's fetch saw, or of a wake-up (visibility, online, pageshow), is that; else the timer.
const MIN_WINDOW = 20_000, MAX_WINDOW = 120_000;
const NS = "http://www.w3.org/2000/svg";
const COLORS = { timer: "#067647", "401": "#b54708", "another tab": "#6941c6", "wake-up": "#0e7090", restore: "#2f6fec", login: "#2f6fec" };

export function startTimeline(svg, auth) {
  const tokens = []; // { from, to, margin }
  const marks = []; // { at, label, color }
  let hint;
  const cause = (label) => (hint = { label, at: Date.now() });
  for (const type of ["visibilitychange", "online", "pageshow"]) {
    (type === "visibilitychange" ? document : window).addEventListener(type, () => document.visibilityState === "visible" && cause("wake-up"));
  }
  // A new token; the previous one's bar runs on to its expiry (the overlap is the margin used).
  const token = (label) => {
    const now = Date.now();
    const last = tokens.at(-1);
    if (last) last.done = true;
    tokens.push({ from: now, to: auth.expiresAt ?? now, margin: auth.nextRefreshAt });
    marks.push({ at: now, label, color: COLORS[label] ?? "#2f6fec" });
  };
  auth.on("session", (e) => token(e.source === "setSession" ? "login" : e.source));
  auth.on("refresh", (e) => {
    if (e.source === "restore") return; // drawn by `session`
    const recent = hint && Date.now() - hint.at < 2000 ? hint.label : undefined;
    hint = undefined;
    token(e.source === "tab" ? "another tab" : recent ?? "timer");
  });
  const end = (label) => {
    const last = tokens.at(-1);
    // The session's end cuts every bar still running.
    for (const t of tokens) if (!t.cut && t.to > Date.now()) t.cut = Date.now();
    if (last) last.done = true;
    marks.push({ at: Date.now(), label, color: "#b42318", end: true });
  };
  auth.on("expired", () => end("session ended"));
  auth.on("logout", () => end("signed out"));

  const el = (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  };
  const draw = () => {
    // The current token's expiry and scheduled refresh, read here: they are set after its event.
    const last = tokens.at(-1);
    // (None is scheduled while a refresh is in flight: the margin stays where it began.)
    if (last && !last.done && auth.signedIn) [last.to, last.margin] = [auth.expiresAt ?? last.to, auth.nextRefreshAt ?? last.margin];
    const lifetime = last ? last.to - last.from : 0;
    const span = Math.min(MAX_WINDOW, Math.max(MIN_WINDOW, 4 * lifetime));
    const width = svg.clientWidth || 600, height = 120, now = Date.now(), start = now - 0.8 * span;
    const x = (t) => Math.min(width, Math.max(0, ((t - start) / span) * width));
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const nodes = [el("rect", { x: 0, y: 0, width, height, fill: "#f8f9fc" })];
    const step = span > 60_000 ? 30_000 : span > 30_000 ? 10_000 : 5_000;
    for (let s = step; s <= 0.8 * span; s += step) {
      nodes.push(el("line", { x1: x(now - s), x2: x(now - s), y1: 0, y2: height, stroke: "#e3e7ef" }),
        el("text", { x: x(now - s) - 2, y: height - 4, "text-anchor": "end", class: "tl-axis" }, `-${s / 1000}s`));
    }
    nodes.push(el("text", { x: x(now) + 3, y: height - 4, class: "tl-axis" }, "now"));
    // Token bars from arrival to expiry (or the session's end), alternating rows, the refresh
    // margin at the end shaded.
    tokens.forEach((t, i) => {
      const end = Math.min(t.cut ?? t.to, t.to);
      if (end < start) return;
      const y = 44 + (i % 2) * 18;
      nodes.push(el("rect", { x: x(t.from), y, width: Math.max(1, x(end) - x(t.from)), height: 12, rx: 3, fill: "#b9cdf8", "data-token": i }));
      if (t.margin && t.margin < end) {
        nodes.push(el("rect", { x: x(t.margin), y, width: Math.max(1, x(end) - x(t.margin)), height: 12, rx: 3, fill: "#f5c26b", class: "tl-margin" }));
      }
    });
    // Refreshes and the session's end, labelled above.
    marks.forEach((m, i) => {
      if (m.at < start) return;
      nodes.push(el("line", { x1: x(m.at), x2: x(m.at), y1: 18, y2: 84, stroke: m.color, "stroke-width": m.end ? 3 : 2 }),
        el("text", { x: x(m.at) + 3, y: 14 + (i % 3) * 11, fill: m.color, class: "tl-label", "data-mark": m.label }, m.label));
    });
    nodes.push(el("line", { x1: x(now), x2: x(now), y1: 0, y2: height, stroke: "#1d2330", "stroke-dasharray": "3 3" }));
    svg.replaceChildren(...nodes);
  };
  setInterval(draw, 250);
  draw();
  return { cause, draw };
}
