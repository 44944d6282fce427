/**
 * The status page: an HTML view of one tenant's models — status, backend,
 * latency, and a small chart of recent checks. A browser signs in with a
 * tenant API key and gets a short, signed, read-only session cookie (never the
 * key; see session.ts); tools may send `Authorization: Bearer <key>` instead.
 * The page has no scripts, and its CSP allows nothing but its own inline
 * styles and forms.
 */
import { type Context, Hono } from "hono";
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { authenticate, authenticateKeyId } from "../tenants/authenticate";
import type { HealthCheck } from "../health/status";
import type { AppEnv } from "../http/app-env";
import { PAGE_SECURITY_HEADERS } from "../http/pages";
import type { ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";
import { csrfToken, endSession, openSession, readSessionCookie, sameSiteForm, startSession } from "./session";
import { telemetrySection } from "./telemetry-section";
import { loadUsageOverview, usageSection } from "./usage-section";

const CHECKS_SHOWN = 30;

export const statusRoutes = new Hono<AppEnv>()
  .get("/", async (c) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    const cookie = bearer ? undefined : readSessionCookie(c);
    const scope = bearer ? await authenticate(c, bearer) : cookie ? await fromSession(c, cookie) : null;
    if (!scope) {
      if (cookie) endSession(c);
      const error = bearer || cookie ? "That key is not valid (unknown or revoked), or the session has ended." : null;
      return page(c, "Sign in", loginForm(csrfToken(c), error), 401);
    }
    const [checks, usage] = await Promise.all([scope.tenant.checksByModel(CHECKS_SHOWN), loadUsageOverview(scope)]);
    const body = html`
      <header>
        <h1>Models of tenant <code>${scope.tenantId}</code></h1>
        <form method="post" action="/status/logout"><button>Sign out</button></form>
      </header>
      ${summaryLine(scope.snapshot.models)}
      ${
        scope.snapshot.models.length === 0
          ? html`<p class="empty">No models registered yet.</p>`
          : html`<table>
            <thead><tr><th>Model</th><th>Status</th><th>Backend</th><th>Latency</th><th>Last check</th><th>Recent checks</th></tr></thead>
            <tbody>${scope.snapshot.models.map((m) => row(m, checks[m.id] ?? []))}</tbody>
          </table>`
      }
      <p class="note">Refreshes every 30 s. Bars: latency of each check, oldest to newest; red failed, grey a real call.</p>
      ${usageSection(
        usage,
        scope.snapshot.models.map((m) => m.id),
      )}
      ${telemetrySection(scope)}`;
    return page(c, `Status — ${scope.tenantId}`, body, 200, true);
  })
  .post("/login", async (c) => {
    const form = await c.req.parseBody();
    // Login CSRF: only this site's own sign-in form may start a session.
    if (!sameSiteForm(c, typeof form.csrf === "string" ? form.csrf : "")) {
      return page(c, "Sign in", loginForm(csrfToken(c), "This sign-in did not come from this page. Sign in here."), 403);
    }
    const key = typeof form.key === "string" ? form.key.trim() : "";
    const scope = key ? await authenticate(c, key) : null;
    if (!scope) return page(c, "Sign in", loginForm(csrfToken(c), "That key is not valid (unknown or revoked)."), 401);
    await startSession(c, scope.tenantId, scope.key.id);
    return c.redirect("/status", 303);
  })
  .post("/logout", (c) => {
    if (sameSiteForm(c)) endSession(c);
    return c.redirect("/status", 303);
  });

/** The scope of a signed session: valid signature, not expired, and its key still exists. */
async function fromSession(c: Context<AppEnv>, cookie: string): Promise<TenantScope | null> {
  const session = await openSession(c.env, cookie);
  return session && authenticateKeyId(c, session.tenantId, session.keyId);
}

function page(
  c: Context<AppEnv>,
  title: string,
  body: HtmlEscapedString | Promise<HtmlEscapedString>,
  status: 200 | 401 | 403 | 413,
  refresh = false,
) {
  for (const [name, value] of Object.entries(PAGE_SECURITY_HEADERS)) c.header(name, value);
  return c.html(
    html`<!doctype html>
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          ${refresh ? html`<meta http-equiv="refresh" content="30" />` : ""}
          <title>${title}</title>
          <style>
            ${raw(STYLE)}
          </style>
        </head>
        <body>
          <main>${body}</main>
        </body>
      </html>`,
    status,
  );
}

function loginForm(csrf: string, error: string | null) {
  return html`<h1>MCP model gateway — status</h1>
    <form method="post" action="/status/login" class="login">
      <input type="hidden" name="csrf" value="${csrf}" />
      <label for="key">Tenant API key</label>
      <input id="key" name="key" type="password" autocomplete="off" required placeholder="mgw_…" />
      <button type="submit">Show status</button>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ""}
    </form>`;
}

function summaryLine(models: readonly ModelRecord[]) {
  const count = (status: string) => models.filter((m) => m.status === status).length;
  const parts = ["available", "degraded", "error", "maintenance", "initializing"]
    .filter((s) => count(s) > 0)
    .map((s) => html`<span class="badge ${s}">${count(s)} ${s}</span>`);
  return html`<p class="summary">${parts}</p>`;
}

function row(model: ModelRecord, checks: readonly HealthCheck[]) {
  return html`<tr data-model="${model.id}" data-status="${model.status}">
    <td><strong>${model.id}</strong><br /><small>${model.name}</small></td>
    <td><span class="badge ${model.status}">${model.status}</span>${model.status_detail ? html`<br /><small>${model.status_detail}</small>` : ""}</td>
    <td>${model.backend_type}</td>
    <td>${model.latency_ms === null ? "—" : `${Math.round(model.latency_ms)} ms`}</td>
    <td>${model.last_checked_at ? html`<time datetime="${model.last_checked_at}">${model.last_checked_at.replace("T", " ").slice(0, 19)} UTC</time>` : "never"}</td>
    <td>${chart(checks)}</td>
  </tr>`;
}

/** Recent checks as bars: height is latency, colour is the outcome. Oldest on the left. */
function chart(checks: readonly HealthCheck[]) {
  if (checks.length === 0) return html`<span class="empty">no checks yet</span>`;
  const shown = [...checks].reverse();
  const max = Math.max(1, ...shown.map((c) => c.latency_ms ?? 0));
  const bar = 6;
  const height = 28;
  const bars = shown.map((c, i) => {
    const h = c.ok ? Math.max(3, Math.round(((c.latency_ms ?? 0) / max) * height)) : height;
    const colour = !c.ok ? "#d93025" : c.source === "call" ? "#9aa0a6" : "#1e8e3e";
    const label = `${c.at} ${c.source} ${c.ok ? "ok" : "failed"}${c.latency_ms !== null ? ` ${Math.round(c.latency_ms)} ms` : ""}`;
    return html`<rect x="${i * (bar + 2)}" y="${height - h}" width="${bar}" height="${h}" fill="${colour}"><title>${label}</title></rect>`;
  });
  return html`<svg class="chart" role="img" aria-label="recent checks" width="${shown.length * (bar + 2)}" height="${height}" viewBox="0 0 ${shown.length * (bar + 2)} ${height}">${bars}</svg>`;
}

const STYLE = `
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f8f9fa; color: #202124; }
  main { max-width: 1100px; margin: 24px auto; padding: 0 16px; }
  header { display: flex; justify-content: space-between; align-items: center; }
  h1 { font-size: 20px; }
  table { width: 100%; border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.1); }
  th, td { text-align: left; padding: 10px 12px; border-bottom: 1px solid #e8eaed; vertical-align: top; }
  th { font-weight: 600; color: #5f6368; font-size: 12px; text-transform: uppercase; }
  small { color: #5f6368; }
  .badge { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; margin-right: 6px; }
  .available { background: #e6f4ea; color: #137333; }
  .degraded { background: #fef7e0; color: #b06000; }
  .error { background: #fce8e6; color: #c5221f; }
  .maintenance { background: #e8f0fe; color: #1967d2; }
  .initializing { background: #f1f3f4; color: #5f6368; }
  .empty, .note { color: #5f6368; }
  .login { display: grid; gap: 8px; max-width: 420px; background: #fff; padding: 16px; box-shadow: 0 1px 2px rgba(0,0,0,.1); }
  .login p.error { background: none; }
  button { cursor: pointer; }
`;
