// Types of `silent-refresh/react` (src/browser/react.js).
import type { ReactNode } from "react";
import type {
  AuthClient, AuthClientOptions, AuthError, IdTokenClaims, LogoutOptions, RedirectLoginOptions, RedirectResult,
} from "./silent_refresh.js";

export interface AuthProviderProps {
  /** Options of the one `AuthClient` this provider makes (read once, at the first mount). */
  options?: AuthClientOptions;
  /** Called with `handleRedirectCallback()`'s result when the page is a redirect back (route to `returnTo`). */
  onRedirect?: (result: RedirectResult) => void;
  children?: ReactNode;
}

/**
 * Makes one client in the browser (none on the server; one under StrictMode), restores the
 * session or handles a redirect back, and gives its state to `useAuth()` below it.
 */
export function AuthProvider(props: AuthProviderProps): ReactNode;

export interface AuthState {
  /** "loading" until the client has looked for a session (always on the server). */
  status: "loading" | "signedIn" | "signedOut";
  isAuthenticated: boolean;
  /** With `issuer`: the ID token's claims. */
  user?: IdTokenClaims;
  /** The last error of a sign-in, restore or refresh, if any. */
  error?: AuthError;
  /** When the access token expires (Unix ms), if known. */
  expiresAt?: number;
  /** The client, once made. */
  client?: AuthClient;
  login(username: string, password: string): Promise<void>;
  loginWithRedirect(options?: RedirectLoginOptions): Promise<void>;
  logout(options?: LogoutOptions): Promise<boolean>;
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  getAccessToken(): Promise<string | undefined>;
}

/** The state of the nearest `<AuthProvider>`, re-rendered on every transition; throws outside one. */
export function useAuth(): AuthState;
