/**
 * The OAuth authorization page. A person authorizes an MCP client by pasting a
 * tenant API key: the grant then carries that key's tenant and role. The page
 * shows the client's name (and whether it is verified), the scopes and the host
 * the tokens go to; the library's consent helpers make it unframeable and bind
 * the form to this browser with a single-use handle (CSRF-safe). Everything the
 * client chose is escaped (hono/html).
 */
import { AuthorizationError, CimdFetchError, type ConsentDescription } from "@cloudflare/workers-oauth-provider";
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import { authenticate } from "../tenants/authenticate";
import type { AppEnv } from "../http/app-env";
import { PAGE_SECURITY_HEADERS } from "../http/pages";
import { grantUserId } from "./grants";
import { type GrantProps, MCP_SCOPE, oauth } from "./server";

export const consentRoutes = new Hono<AppEnv>()
  .get("/", async (c) => {
    try {
      const api = oauth(c.env).server.getOAuthApi(c.env);
      const request = await api.parseAuthRequest(c.req.raw);
      const details = await api.describeConsent(request);
      const consent = await api.beginConsent(request);
      return render(c, consentPage(details, consent.handle), 200, consent.headers);
    } catch (error) {
      return authorizationFailure(c, error);
    }
  })
  .post("/", async (c) => {
    const api = oauth(c.env).server.getOAuthApi(c.env);
    try {
      const form = await c.req.formData();
      const handle = String(form.get("handle") ?? "");
      if (form.get("decision") !== "approve") {
        const denied = await api.denyConsent(c.req.raw, handle);
        return new Response(null, { status: 302, headers: denied.headers });
      }
      // Check the key before the single-use handle is spent, so a typo can be corrected with Back.
      const key = String(form.get("key") ?? "").trim();
      const scope = key ? await authenticate(c, key) : null;
      if (!scope) return render(c, message("That API key is not valid (unknown or revoked). Go back and try again."), 400);
      const approved = await api.approveConsent(c.req.raw, handle, { scope: [MCP_SCOPE, ...granted(form.getAll("scope"))] });
      const props: GrantProps = { tenantId: scope.tenantId, keyId: scope.key.id };
      const { redirectTo } = await api.completeAuthorization({
        request: approved.request,
        userId: await grantUserId(scope.tenantId, scope.key.id),
        metadata: { tenant: scope.tenantId, role: scope.role },
        scope: approved.request.scope.filter((s) => s === MCP_SCOPE || s === "offline_access"),
        props,
      });
      scope.audit("oauth.authorize", approved.request.clientId, { role: scope.role });
      approved.headers.set("Location", redirectTo);
      return new Response(null, { status: 302, headers: approved.headers });
    } catch (error) {
      return authorizationFailure(c, error);
    }
  });

/** Only scopes this server knows are passed on; `mcp` is always granted (the role comes from the key). */
function granted(values: (string | File)[]): string[] {
  return values.map(String).filter((s) => s === "offline_access");
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
      <p>Scopes: ${details.scope.length ? details.scope.join(", ") : MCP_SCOPE}</p>
      <label for="key">Tenant API key (the app gets this key's tenant and role; the key itself is not shared)</label>
      <input id="key" name="key" type="password" autocomplete="off" placeholder="mgw_…" />
      <input type="hidden" name="scope" value="offline_access" />
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

/** Redirect to the client only once the library has validated it; otherwise explain here. */
function authorizationFailure(c: Context<AppEnv>, error: unknown) {
  if (error instanceof AuthorizationError && error.redirectTo) return c.redirect(error.redirectTo, 302);
  if (error instanceof AuthorizationError) return render(c, message(error.description ?? "This authorization request is not valid."), 400);
  if (error instanceof CimdFetchError) return render(c, message("This app could not be verified (its metadata document could not be read)."), 400);
  throw error;
}

async function render(c: Context<AppEnv>, body: ReturnType<typeof html>, status: 200 | 400, headers?: Headers) {
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
  for (const [name, value] of Object.entries(PAGE_SECURITY_HEADERS)) out.set(name, value);
  return new Response(r.body, { status: r.status, headers: out });
}
