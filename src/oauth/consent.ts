/**
 * The OAuth authorization page. A person authorizes an MCP client by pasting a
 * tenant API key: the grant then carries that key's tenant and role. The page
 * shows the client's name (and whether it is verified), the scopes and the host
 * the tokens go to; the library's consent helpers make it unframeable and bind
 * the form to this browser with a single-use handle (CSRF-safe). Everything the
 * client chose is escaped (hono/html).
 *
 * Where the browser goes next:
 * - The answer to the form is a redirect to the client's redirect URI. Chrome,
 *   Edge and Safari apply the page's CSP `form-action` to that redirect too, so
 *   the page allows `'self'` plus exactly the origin of the redirect URI the
 *   library validated for this request (nothing else is loosened). A redirect
 *   URI that CSP cannot name (an IPv6 literal) gets a page with a link instead.
 * - A request that fails before the person acts is explained on this page. It is
 *   sent back to the client only when the redirect URI is verified: a Client ID
 *   Metadata Document client's redirect on its own domain. A self-registered
 *   client could otherwise make this origin redirect anyone anywhere (RFC 9700
 *   §4.11.2, open redirector).
 */
import { AuthorizationError, CimdFetchError, type ConsentDescription } from "@cloudflare/workers-oauth-provider";
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import { authenticate } from "../tenants/authenticate";
import { GatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { pageSecurityHeaders } from "../http/pages";
import { settings } from "../settings";
import { grantUserId } from "./grants";
import { type GrantProps, MCP_SCOPE, OFFLINE_SCOPE, oauth } from "./server";

export const consentRoutes = new Hono<AppEnv>()
  .get("/", async (c) => {
    try {
      const api = oauth(c.env).server.getOAuthApi(c.env);
      const request = await api.parseAuthRequest(c.req.raw);
      const details = await api.describeConsent(request);
      const consent = await api.beginConsent(request);
      const target = redirectSource(details.redirectUri);
      return render(c, consentPage(details, consent.handle), 200, consent.headers, target ? [target] : []);
    } catch (error) {
      return requestFailure(c, error);
    }
  })
  .post("/", async (c) => {
    const api = oauth(c.env).server.getOAuthApi(c.env);
    try {
      const form = await c.req.formData();
      const handle = String(form.get("handle") ?? "");
      if (form.get("decision") !== "approve") {
        const denied = await api.denyConsent(c.req.raw, handle);
        return sendBack(c, denied.redirectTo, denied.request.redirectUri, denied.headers);
      }
      // Check the key before the single-use handle is spent, so a typo can be corrected with Back.
      const key = String(form.get("key") ?? "").trim();
      const scope = key ? await authenticate(c, key) : null;
      if (!scope) return render(c, message("That API key is not valid (unknown or revoked). Go back and try again."), 400);
      // The scopes granted are the ones the client asked for (the page listed them), `mcp` always.
      const approved = await api.approveConsent(c.req.raw, handle);
      const props: GrantProps = { tenantId: scope.tenantId, keyId: scope.key.id };
      const userId = await grantUserId(scope.tenantId, scope.key.id);
      const { redirectTo } = await scope.audited("oauth.authorize", approved.request.clientId, { role: scope.role }, () =>
        api.completeAuthorization({
          request: approved.request,
          userId,
          metadata: { tenant: scope.tenantId, role: scope.role },
          scope: grantedScopes(approved.request.scope),
          props,
        }),
      );
      return sendBack(c, redirectTo, approved.request.redirectUri, approved.headers);
    } catch (error) {
      // After the person acted (an expired or reused handle, another browser): explain here, never redirect.
      if (error instanceof AuthorizationError) return render(c, message(error.description ?? "This authorization request is not valid."), 400);
      if (error instanceof GatewayError && error.code === "audit_unavailable") return render(c, message(error.message), 503);
      throw error;
    }
  });

/**
 * The CSP source for a redirect URI: its origin (`http://127.0.0.1:33418`), or
 * its scheme for a native app's private-use URI (`com.example.app:`). Null when
 * CSP's grammar cannot name it exactly (IPv6 literals, odd characters).
 */
export function redirectSource(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol === "http:" || url.protocol === "https:") {
    return /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(url.hostname) && /^\d*$/.test(url.port) ? url.origin : null;
  }
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : null;
}

/** Send the browser back to the client: a redirect the page's form-action allows, or a link where CSP cannot say so. */
async function sendBack(c: Context<AppEnv>, location: string, redirectUri: string, headers: Headers) {
  if (redirectSource(redirectUri)) {
    headers.set("Location", location);
    return new Response(null, { status: 302, headers });
  }
  headers.delete("Location");
  const page = html`<h1>Authorization</h1>
    <p><a href="${location}">Return to the app</a> to finish signing in.</p>`;
  return render(c, page, 200, headers);
}

/** A request refused before the person acted: back to the client only when its redirect URI is verified. */
function requestFailure(c: Context<AppEnv>, error: unknown) {
  if (
    error instanceof AuthorizationError &&
    error.redirectTo &&
    error.redirectUri &&
    verifiedRedirect(c.req.query("client_id"), error.redirectUri, settings(c.env).oauthTrustedClientHosts)
  ) {
    return c.redirect(error.redirectTo, 302);
  }
  if (error instanceof AuthorizationError) return render(c, message(error.description ?? "This authorization request is not valid."), 400);
  if (error instanceof CimdFetchError) return render(c, message("This app could not be verified (its metadata document could not be read)."), 400);
  throw error;
}

/**
 * A redirect URI is verified when a domain the operator trusts vouches for it:
 * the client is a Client ID Metadata Document (an https URL) on a host of
 * `OAUTH_TRUSTED_CLIENT_HOSTS`, and the redirect URI is on that same host. Any
 * domain can publish a metadata document, so its own word is not enough (an
 * attacker's document would make this origin an open redirector); a
 * self-registered client's redirect URIs are whatever it typed.
 */
export function verifiedRedirect(clientId: string | undefined, redirectUri: string, trusted: ReadonlySet<string>): boolean {
  try {
    const client = new URL(clientId ?? "");
    const redirect = new URL(redirectUri);
    return (
      client.protocol === "https:" &&
      redirect.protocol === "https:" &&
      redirect.hostname === client.hostname &&
      trusted.has(client.hostname.toLowerCase())
    );
  } catch {
    return false;
  }
}

/**
 * What a grant carries: `mcp` always (the role comes from the key), and
 * `offline_access` (refresh tokens, see ./server.ts) only when the client asked
 * for it. Scopes this server does not know are not granted.
 */
export function grantedScopes(requested: readonly string[]): string[] {
  return requested.includes(OFFLINE_SCOPE) ? [MCP_SCOPE, OFFLINE_SCOPE] : [MCP_SCOPE];
}

function consentPage(details: ConsentDescription, handle: string) {
  return html`<h1>Allow <em>${details.clientName}</em> to use this gateway?</h1>
    <p>
      ${
        details.clientDomain
          ? html`Published by <strong>${details.clientDomain}</strong>.`
          : html`This app registered itself; its name is not verified.`
      }
      Access will be sent to <strong>${details.redirectHost}</strong>.
    </p>
    ${
      details.redirectIsLoopback
        ? html`<p class="warn"><strong>This sends access to an app on your computer.</strong> Continue only if you just started signing in from it.</p>`
        : ""
    }
    <form method="post">
      <input type="hidden" name="handle" value="${handle}" />
      <p>Access: use this gateway's models and tools (<code>${MCP_SCOPE}</code>)${
        details.scope.includes(OFFLINE_SCOPE)
          ? html`, and stay signed in until you revoke it (<code>${OFFLINE_SCOPE}</code>: the app may refresh its access)`
          : html`, for one hour`
      }.</p>
      <label for="key">Tenant API key (the app gets this key's tenant and role; the key itself is not shared)</label>
      <input id="key" name="key" type="password" autocomplete="off" placeholder="mgw_…" />
      <p>
        <button name="decision" value="approve">Allow</button>
        <button name="decision" value="deny" formnovalidate>Deny</button>
      </p>
    </form>`;
}

function message(text: string) {
  return html`<h1>Authorization</h1>
    <p class="warn">${text}</p>`;
}

async function render(
  c: Context<AppEnv>,
  body: ReturnType<typeof html>,
  status: 200 | 400 | 413 | 503,
  headers?: Headers,
  formActions: string[] = [],
) {
  const r = await c.html(
    html`<!doctype html>
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <title>Authorize — MCP model gateway</title>
          <style>
            body { font: 15px/1.5 system-ui, sans-serif; max-width: 560px; margin: 40px auto; padding: 0 16px; }
            input[type="password"] { width: 100%; padding: 6px; margin: 6px 0; }
            .warn { background: #fef7e0; padding: 8px; }
          </style>
        </head>
        <body>
          ${body}
        </body>
      </html>`,
    status,
  );
  const out = new Headers(r.headers);
  headers?.forEach((value, name) => out.append(name, value));
  for (const [name, value] of Object.entries(pageSecurityHeaders({ formActions }))) out.set(name, value);
  return new Response(r.body, { status: r.status, headers: out });
}
