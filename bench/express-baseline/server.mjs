// Baseline (b) of the benchmarks: the classic Express + jsonwebtoken refresh server of the widely
// copied JWT tutorial, reproduced in its shape:
//   - POST /login {username}  -> {accessToken, refreshToken}; the refresh token is a JWT signed
//     with a shared secret (HS256, jsonwebtoken's default) and pushed to an in-memory list;
//   - POST /token {token}     -> {accessToken} if the token is in the list and its signature
//     verifies;
//   - access tokens: HS256 JWTs with a short expiry.
// No rotation (the refresh token stays valid forever), no reuse detection, no persistence (a
// restart logs everyone out), no expiry of refresh tokens. The benchmark table says so.
//
// One deliberate deviation: the tutorial keeps the list in an array and scans it with
// `includes` (O(n) per request); a Set is used here so that the baseline's throughput does not
// depend on how many tokens the benchmark mints.
//
// Usage: node server.mjs PORT  (binds 127.0.0.1 only)
import express from "express";
import jwt from "jsonwebtoken";
import { randomBytes } from "node:crypto";

const ACCESS_TOKEN_SECRET = process.env.ACCESS_TOKEN_SECRET || randomBytes(32).toString("hex");
const REFRESH_TOKEN_SECRET = process.env.REFRESH_TOKEN_SECRET || randomBytes(32).toString("hex");
const port = Number(process.argv[2] || 4000);

const app = express();
app.use(express.json());

const refreshTokens = new Set();

function generateAccessToken(user) {
  return jwt.sign(user, ACCESS_TOKEN_SECRET, { expiresIn: "15m" });
}

app.post("/token", (req, res) => {
  const refreshToken = req.body?.token;
  if (refreshToken == null) return res.sendStatus(401);
  if (!refreshTokens.has(refreshToken)) return res.sendStatus(403);
  jwt.verify(refreshToken, REFRESH_TOKEN_SECRET, (err, user) => {
    if (err) return res.sendStatus(403);
    const accessToken = generateAccessToken({ name: user.name });
    res.json({ accessToken });
  });
});

app.post("/login", (req, res) => {
  // The tutorial authenticates nothing here either: it trusts the username.
  const user = { name: String(req.body?.username ?? "") };
  const accessToken = generateAccessToken(user);
  const refreshToken = jwt.sign(user, REFRESH_TOKEN_SECRET);
  refreshTokens.add(refreshToken);
  res.json({ accessToken, refreshToken });
});

app.delete("/logout", (req, res) => {
  refreshTokens.delete(req.body?.token);
  res.sendStatus(204);
});

const server = app.listen(port, "127.0.0.1", () => {
  console.log(`express baseline listening on http://127.0.0.1:${port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
