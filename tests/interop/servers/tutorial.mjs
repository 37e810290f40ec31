// The backend of the classic refresh-token tutorial, written as the tutorial shows it: Express,
// jsonwebtoken, the secrets in the code, refresh tokens in an in-memory array, and
//   POST /auth/refresh  JSON {"refresh_token"} -> {"accessToken"}; 401 {"message"} without a
//                       token, 403 {"message"} for one not in the list or with a bad signature.
// Added, since the tutorial leaves them out and an app needs them:
//   POST /auth/login    JSON {"username","password"} -> {"accessToken","refreshToken"} (one demo user)
//   GET  /api/me        the protected route: Authorization: Bearer <access token> -> {"username"};
//                       401 for a missing, invalid or expired token
//   the static files of the test page (so that the page and the API share an origin, as the
//   tutorial's single server would serve an app).
// ACCESS_TTL (default "15m", the tutorial's) sets the access tokens' lifetime.
//
// Usage: node tutorial.mjs PORT STATIC_DIR (binds 127.0.0.1)
import express from "express";
import jwt from "jsonwebtoken";

const ACCESS_TOKEN_SECRET = "access-secret";
const REFRESH_TOKEN_SECRET = "refresh-secret";
const ACCESS_TTL = process.env.ACCESS_TTL || "15m";
const [port, staticDir] = [Number(process.argv[2]), process.argv[3]];

const app = express();
app.use(express.json());

// In-memory store for refresh tokens (for demo only)
let refreshTokens = [];

// Endpoint to refresh access token
app.post("/auth/refresh", (req, res) => {
  const { refresh_token } = req.body;
  if (!refresh_token) return res.status(401).json({ message: "Refresh token required" });
  if (!refreshTokens.includes(refresh_token)) return res.status(403).json({ message: "Invalid refresh token" });
  jwt.verify(refresh_token, REFRESH_TOKEN_SECRET, (err, user) => {
    if (err) return res.status(403).json({ message: "Invalid refresh token" });
    const accessToken = jwt.sign({ username: user.username }, ACCESS_TOKEN_SECRET, { expiresIn: ACCESS_TTL });
    res.json({ accessToken });
  });
});

// Added: login, in the same style.
app.post("/auth/login", (req, res) => {
  const { username, password } = req.body ?? {};
  if (username !== "demo" || password !== "demo-password") return res.status(401).json({ message: "Invalid credentials" });
  const accessToken = jwt.sign({ username }, ACCESS_TOKEN_SECRET, { expiresIn: ACCESS_TTL });
  const refreshToken = jwt.sign({ username }, REFRESH_TOKEN_SECRET);
  refreshTokens.push(refreshToken);
  res.json({ accessToken, refreshToken });
});

// Added: a protected route.
app.get("/api/me", (req, res) => {
  const token = req.headers.authorization?.split(" ")[1];
  if (!token) return res.status(401).json({ message: "Access token required" });
  jwt.verify(token, ACCESS_TOKEN_SECRET, (err, user) => {
    if (err) return res.status(401).json({ message: "Invalid access token" });
    res.json({ username: user.username });
  });
});

if (staticDir) app.use(express.static(staticDir));

// Start server
const server = app.listen(port, "127.0.0.1", () => console.log(`Server running on http://127.0.0.1:${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
