// SQLite rows that workerd counts (what Cloudflare bills: `cursor.rowsRead` / `rowsWritten`) for
// each statement the Worker's Durable Objects run: `SqlStore` of src/worker/rotation_object.rs
// (table `kv`) and the login throttle's counter (src/worker/throttle.rs). The native cost table
// (tests/native/cost.rs, `make cost`) takes its per-statement constants from this.
//
// Usage: node bench/cost/sql-rows.mjs   (runs workerd through Miniflare, wrangler's own)
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

const script = `
export class O {
  constructor(state) { this.sql = state.storage.sql; }
  async fetch() {
    const out = [];
    const m = (what, q, ...b) => {
      const c = this.sql.exec(q, ...b);
      const rows = c.toArray().length;
      out.push({ what, rows, rowsRead: c.rowsRead, rowsWritten: c.rowsWritten });
    };
    const put = "INSERT OR REPLACE INTO kv (k, v, exp) VALUES (?, ?, ?)";
    const get = (n) => "SELECT k, v FROM kv WHERE k IN (" + Array(n).fill("?").join(", ") + ") AND (exp IS NULL OR exp > ?)";
    m("kv: create table", "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL, exp INTEGER)");
    m("kv: insert a new key", put, "t:a", "1", 1000);
    m("kv: replace an existing key", put, "t:a", "2", 1000);
    for (let i = 0; i < 8; i++) this.sql.exec(put, "t:" + i, "x", i < 3 ? 10 : 1000);
    m("kv: read 1 key, found", get(1), "t:a", 50);
    m("kv: read 1 key, absent", get(1), "t:none", 50);
    m("kv: read 3 keys, 2 found", get(3), "t:a", "t:5", "t:none", 50);
    m("kv: read 3 keys, 3 found", get(3), "t:a", "t:5", "t:6", 50);
    m("kv: read 3 keys, none found", get(3), "t:x", "t:y", "t:z", 50);
    m("kv: read 2 keys, 1 found", get(2), "t:a", "t:z", 50);
    m("kv: delete an existing key", "DELETE FROM kv WHERE k = ?", "t:7");
    m("kv: delete an absent key", "DELETE FROM kv WHERE k = ?", "t:none");
    m("kv: sweep, 8 rows of which 3 expired", "DELETE FROM kv WHERE exp IS NOT NULL AND exp <= ?", 50);
    // The same table WITHOUT ROWID: the primary key is the table, no separate index to write.
    const putW = "INSERT OR REPLACE INTO kv2 (k, v, exp) VALUES (?, ?, ?)";
    const getW = (n) => "SELECT k, v FROM kv2 WHERE k IN (" + Array(n).fill("?").join(", ") + ") AND (exp IS NULL OR exp > ?)";
    m("kv WITHOUT ROWID: create table", "CREATE TABLE IF NOT EXISTS kv2 (k TEXT PRIMARY KEY, v TEXT NOT NULL, exp INTEGER) WITHOUT ROWID");
    m("kv WITHOUT ROWID: insert a new key", putW, "t:a", "1", 1000);
    m("kv WITHOUT ROWID: replace an existing key", putW, "t:a", "2", 1000);
    for (let i = 0; i < 8; i++) this.sql.exec(putW, "t:" + i, "x", i < 3 ? 10 : 1000);
    m("kv WITHOUT ROWID: read 1 key, found", getW(1), "t:a", 50);
    m("kv WITHOUT ROWID: read 3 keys, 2 found", getW(3), "t:a", "t:5", "t:none", 50);
    m("kv WITHOUT ROWID: delete an existing key", "DELETE FROM kv2 WHERE k = ?", "t:7");
    m("kv WITHOUT ROWID: sweep, 8 rows of which 3 expired", "DELETE FROM kv2 WHERE exp IS NOT NULL AND exp <= ?", 50);
    m("throttle: create table", "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT NOT NULL)");
    m("throttle: read the counter (absent)", "SELECT state FROM counter WHERE id = 0");
    const up = "INSERT INTO counter (id, state) VALUES (0, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state";
    m("throttle: upsert (new)", up, "{}");
    m("throttle: read the counter", "SELECT state FROM counter WHERE id = 0");
    m("throttle: upsert (existing)", up, "{\\"n\\":1}");
    return Response.json(out);
  }
}
export default { fetch(req, env) { return env.O.get(env.O.idFromName("x")).fetch(req); } };
`;

// Miniflare 5 takes its new option shape; the converter takes the documented one.
const mf = new Miniflare(convertV4MiniflareOptions({
  modules: true,
  script,
  compatibilityDate: "2025-09-01",
  durableObjects: { O: { className: "O", useSQLite: true } },
}));
try {
  const res = await mf.dispatchFetch("http://localhost/");
  const rows = await res.json();
  console.log("| statement | rows returned | rowsRead | rowsWritten |\n|---|---:|---:|---:|");
  for (const r of rows) console.log(`| ${r.what} | ${r.rows} | ${r.rowsRead} | ${r.rowsWritten} |`);
} finally {
  await mf.dispose();
}
