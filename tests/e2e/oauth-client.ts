/**
 * The OAuth side of the end-to-end tests (Node side, against `wrangler dev`):
 *
 * - `ConsentingProvider`: an in-memory `OAuthClientProvider` for the real MCP
 *   client (`@modelcontextprotocol/client`). Its `redirectToAuthorization` plays
 *   the person at the browser: it opens the consent page, reads the single-use
 *   `handle` and the `__Host-` binding cookie, approves with a tenant API key,
 *   and keeps the redirect back to the client (the loopback callback is never
 *   listened on: the `Location` of the POST /authorize 302 is all a client needs).
 * - HTTP-level helpers for what the SDK does not let a test do on purpose:
 *   replaying a code, a wrong PKCE verifier, `plain` PKCE, another audience.
 *
 * Every request goes through the caller's `fetch` (the tests pass their
 * ResponseRecorder's), so consent pages and token answers are recorded too.
 */
import type {
  OAuthClientMetadata,
  OAuthClientProvider,
  OAuthDiscoveryState,
  StoredOAuthClientInformation,
  StoredOAuthTokens,
} from "@modelcontextprotocol/client";

export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export function b64url(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString("base64url");
}

/** A PKCE pair (S256). */
export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  return { verifier, challenge };
}

/** What the browser saw: the consent page, then the answer to the form. */
export interface ConsentOutcome {
  /** GET /authorize */
  page: Response;
  html: string;
  /** POST /authorize (absent when the page itself refused the request) */
  answer?: Response;
  answerText?: string;
  /** Where the gateway sent the browser back to (the client's redirect URI with code or error). */
  location?: URL;
}

/**
 * Open the consent page at `authorizationUrl` and submit it as a person would:
 * the hidden `handle`, the `__Host-` cookie the page set, the decision, the key.
 */
export async function consent(
  fetch: Fetch,
  authorizationUrl: URL | string,
  key: string,
  decision: "approve" | "deny" = "approve",
): Promise<ConsentOutcome> {
  const url = new URL(authorizationUrl);
  const page = await fetch(url, { redirect: "manual" });
  const html = await page.text();
  if (page.status !== 200) {
    const location = page.headers.get("location");
    return { page, html, location: location ? new URL(location, url) : undefined };
  }
  const handle = /name="handle" value="([^"]+)"/.exec(html)?.[1];
  if (!handle) throw new Error(`no consent handle in the page:\n${html}`);
  const cookies = (page.headers.getSetCookie?.() ?? [page.headers.get("set-cookie") ?? ""]).map((c) => c.split(";")[0]!).filter(Boolean);
  if (!cookies.some((c) => c.startsWith("__Host-"))) throw new Error(`the consent page set no __Host- cookie: ${JSON.stringify(cookies)}`);
  const form = new URLSearchParams({ handle, decision, key });
  const answer = await fetch(new URL("/authorize", url), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookies.join("; "), origin: url.origin },
    body: form.toString(),
  });
  const answerText = await answer.text();
  const location = answer.headers.get("location");
  return { page, html, answer, answerText, location: location ? new URL(location, url) : undefined };
}

/** Dynamic client registration (RFC 7591), as a public client with a loopback redirect. */
export async function registerClient(fetch: Fetch, base: string, redirectUri: string, name = "e2e OAuth client"): Promise<string> {
  const res = await fetch(`${base}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    }),
  });
  const body = (await res.json()) as { client_id?: string };
  if (res.status !== 201 || !body.client_id) throw new Error(`client registration: ${res.status} ${JSON.stringify(body)}`);
  return body.client_id;
}

export function authorizeUrl(base: string, params: Record<string, string>): URL {
  const url = new URL("/authorize", base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url;
}

export interface TokenAnswer {
  status: number;
  body: {
    access_token?: string;
    refresh_token?: string;
    token_type?: string;
    scope?: string;
    expires_in?: number;
    error?: string;
    error_description?: string;
  };
}

/** POST the token endpoint (form-encoded), as an OAuth client does. */
export async function tokenRequest(fetch: Fetch, base: string, params: Record<string, string>): Promise<TokenAnswer> {
  const res = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  let body: TokenAnswer["body"];
  try {
    body = JSON.parse(text) as TokenAnswer["body"];
  } catch {
    body = { error: `not JSON: ${text.slice(0, 200)}` };
  }
  return { status: res.status, body };
}

/**
 * The whole authorization-code flow by hand (register, consent with `key`,
 * exchange the code): for the attacks the SDK would never attempt.
 */
export async function authorizeByHand(fetch: Fetch, base: string, key: string, redirectUri: string) {
  const clientId = await registerClient(fetch, base, redirectUri);
  const { verifier, challenge } = await pkce();
  const state = b64url(crypto.getRandomValues(new Uint8Array(12)));
  const outcome = await consent(
    fetch,
    authorizeUrl(base, {
      response_type: "code",
      client_id: clientId,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state,
      scope: "mcp offline_access",
      resource: `${base}/mcp`,
    }),
    key,
  );
  const code = outcome.location?.searchParams.get("code");
  if (!code || outcome.location?.searchParams.get("state") !== state) {
    throw new Error(`consent did not come back with a code and the state: ${outcome.answer?.status} ${outcome.location ?? outcome.answerText}`);
  }
  const tokens = await tokenRequest(fetch, base, {
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
    client_id: clientId,
    code_verifier: verifier,
  });
  return { clientId, verifier, challenge, code, tokens, outcome };
}

/**
 * An MCP client's OAuth state, kept in memory: what the SDK stores and reads
 * back. Subclasses are the "person" at the consent page (`redirectToAuthorization`).
 */
export abstract class InMemoryOAuthProvider implements OAuthClientProvider {
  private info?: StoredOAuthClientInformation;
  protected saved?: StoredOAuthTokens;
  private verifier?: string;
  private discovery?: OAuthDiscoveryState;
  /** The `state` sent with the last authorization request. */
  expectedState?: string;

  abstract readonly redirectUrl: string;
  protected abstract readonly clientName: string;

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.clientName,
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  state(): string {
    this.expectedState = b64url(crypto.getRandomValues(new Uint8Array(16)));
    return this.expectedState;
  }

  clientInformation(): StoredOAuthClientInformation | undefined {
    return this.info;
  }

  saveClientInformation(info: StoredOAuthClientInformation): void {
    this.info = info;
  }

  tokens(): StoredOAuthTokens | undefined {
    return this.saved;
  }

  saveTokens(tokens: StoredOAuthTokens): void {
    this.saved = tokens;
  }

  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }

  codeVerifier(): string {
    if (!this.verifier) throw new Error("no code verifier saved");
    return this.verifier;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovery;
  }

  abstract redirectToAuthorization(authorizationUrl: URL): Promise<void>;
}

/** A client whose person approves the consent page with `key` (by HTTP, as a form post) whenever the SDK redirects there. */
export class ConsentingProvider extends InMemoryOAuthProvider {
  /** The redirect back to the client after the last consent (code, state, iss). */
  callback?: URLSearchParams;
  /** Every consent this provider went through, in order. */
  readonly consents: ConsentOutcome[] = [];
  /** Every token set saved, in order (refreshes included). */
  readonly savedTokens: StoredOAuthTokens[] = [];
  /** Set to replace the access token the transport sends (e.g. an expired one), refresh token kept. */
  accessTokenOverride?: string;

  constructor(
    private readonly fetch: Fetch,
    private readonly key: string,
    readonly redirectUrl: string,
    protected readonly clientName = "e2e MCP client (OAuth)",
  ) {
    super();
  }

  override tokens(): StoredOAuthTokens | undefined {
    if (this.saved && this.accessTokenOverride !== undefined) return { ...this.saved, access_token: this.accessTokenOverride };
    return this.saved;
  }

  override saveTokens(tokens: StoredOAuthTokens): void {
    super.saveTokens(tokens);
    this.accessTokenOverride = undefined;
    this.savedTokens.push(tokens);
  }

  /** The person: open the page, approve with the key, keep where the browser was sent back to. */
  override async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    const outcome = await consent(this.fetch, authorizationUrl, this.key);
    this.consents.push(outcome);
    const location = outcome.location;
    if (!location || `${location.origin}${location.pathname}` !== this.redirectUrl) {
      throw new Error(
        `consent did not redirect to ${this.redirectUrl}: ${outcome.answer?.status ?? outcome.page.status} ${location ?? outcome.answerText ?? outcome.html}`,
      );
    }
    if (location.searchParams.get("state") !== this.expectedState) {
      throw new Error(`state mismatch: sent ${this.expectedState}, got ${location.searchParams.get("state")}`);
    }
    this.callback = location.searchParams;
  }
}
