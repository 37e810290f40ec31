// A minimal DevTools-protocol client of the Worker's isolate, over the inspector port that
// `startWorker()` (tests/support/worker.mjs) gives wrangler dev. wrangler's inspector accepts the
// WebSocket only with an Origin header.
//   const c = await connectInspector(w.inspectorPort, (event) => ...);
//   const { result } = await c.send("Profiler.enable"); ... c.close();

/** Connects; `onEvent(message)` receives every protocol event (messages without an id). */
export async function connectInspector(port, onEvent = () => {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { origin: "http://127.0.0.1" } });
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => { ws.close(); fail(new Error("inspector connection: no answer within 30 s")); }, 30_000);
    ws.onopen = () => { clearTimeout(timer); ok(); };
    ws.onerror = () => { clearTimeout(timer); fail(new Error("inspector connection failed")); };
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const d = JSON.parse(m.data);
    if (d.id && pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); }
    else if (d.method) onEvent(d);
  };
  /** Sends `method`; resolves to the whole answer ({ id, result } or { id, error }). */
  const send = (method, params = {}) => new Promise((ok, fail) => {
    const n = ++id;
    pending.set(n, ok);
    ws.send(JSON.stringify({ id: n, method, params }));
    setTimeout(() => { if (pending.delete(n)) fail(new Error(`${method}: no answer`)); }, 60_000).unref?.();
  });
  return { send, close: () => ws.close() };
}
