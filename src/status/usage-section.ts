/**
 * The status page's usage section: per model, requests and tokens over the
 * last 24 hours (hourly bars) and 30 days (daily bars), as server-rendered SVG,
 * and each budget's use. No scripts: a bar's figures are in its <title>.
 */
import { html } from "hono/html";
import type { TenantScope } from "../tenants/scope";
import type { BudgetStatus, UsageSeries } from "../usage/record";
import { flushUsage } from "../usage/meter";

type Overview = UsageSeries & { budgets: BudgetStatus[] };
type Bucket = { requests: number; tokens: number };

/** What the signed-in key may see: the whole tenant for an admin key, its own calls for a user key. */
export async function loadUsageOverview(scope: TenantScope): Promise<Overview | null> {
  await flushUsage(scope.tenantId);
  return scope.tenant.usageOverview(scope.role === "admin" ? null : scope.key.id, Date.now());
}

export function usageSection(overview: Overview | null, modelIds: readonly string[]) {
  if (!overview) return "";
  const ids = [...new Set([...modelIds, ...Object.keys(overview.models)])].filter((id) => overview.models[id]);
  const sum = (buckets: Bucket[], f: (b: Bucket) => number) => buckets.reduce((n, b) => n + f(b), 0);
  return html`<section class="usage">
    <h2>Usage</h2>
    ${
      ids.length === 0
        ? html`<p class="empty">No calls in the last 30 days.</p>`
        : html`<table>
          <thead>
            <tr><th>Model</th><th>Last 24 hours</th><th>Last 30 days</th></tr>
          </thead>
          <tbody>
            ${ids.map((id) => {
              const m = overview.models[id]!;
              return html`<tr data-usage-model="${id}">
                <td><strong>${id}</strong></td>
                <td>
                  ${bars(m.hourly, overview.hours, "hour")}<br /><small
                    >${sum(m.hourly, (b) => b.requests)} requests, ${sum(m.hourly, (b) => b.tokens)} tokens</small
                  >
                </td>
                <td>
                  ${bars(m.daily, overview.days, "day")}<br /><small
                    >${sum(m.daily, (b) => b.requests)} requests, ${sum(m.daily, (b) => b.tokens)} tokens</small
                  >
                </td>
              </tr>`;
            })}
          </tbody>
        </table>`
    }
    ${overview.budgets.length === 0 ? "" : budgetsTable(overview.budgets)}
    <p class="note">Bars: tokens per hour (24 h) and per day (30 days), oldest on the left; hover a bar for its requests and tokens.</p>
  </section>`;
}

function bars(buckets: Bucket[], labels: string[], unit: "hour" | "day") {
  const width = 4;
  const gap = 1;
  const height = 28;
  const max = Math.max(1, ...buckets.map((b) => b.tokens));
  const total = buckets.length * (width + gap);
  const rects = buckets.map((b, i) => {
    const h = b.requests === 0 ? 0 : Math.max(2, Math.round((b.tokens / max) * height));
    const label = `${labels[i]}${unit === "hour" ? ":00" : ""} UTC: ${b.requests} requests, ${b.tokens} tokens`;
    return html`<rect x="${i * (width + gap)}" y="${height - h}" width="${width}" height="${h}" fill="#1a73e8"><title>${label}</title></rect>`;
  });
  return html`<svg class="usage-chart" role="img" aria-label="tokens per ${unit}" width="${total}" height="${height}" viewBox="0 0 ${total} ${height}">
    <line x1="0" y1="${height - 0.5}" x2="${total}" y2="${height - 0.5}" stroke="#dadce0" />${rects}
  </svg>`;
}

function budgetsTable(budgets: BudgetStatus[]) {
  return html`<h3>Budgets</h3>
    <table>
      <thead>
        <tr><th>Budget</th><th>Limit</th><th>Used</th><th>In flight</th><th>Left</th><th>Resets</th></tr>
      </thead>
      <tbody>
        ${budgets.map((b) => {
          const who = b.scope === "tenant" ? "tenant" : `key ${b.key_id}`;
          const limit = [
            b.budget.tokens === undefined ? null : `${b.budget.tokens} tokens`,
            b.budget.cost_usd === undefined ? null : `$${b.budget.cost_usd}`,
          ];
          const used = [
            b.budget.tokens === undefined ? null : `${b.used.tokens} tokens`,
            b.budget.cost_usd === undefined ? null : `$${round(b.used.cost_usd)}`,
          ];
          const held = [
            b.budget.tokens === undefined ? null : `${b.in_flight.tokens} tokens`,
            b.budget.cost_usd === undefined ? null : `$${round(b.in_flight.cost_usd)}`,
          ];
          const left = [
            b.remaining.tokens === null ? null : `${b.remaining.tokens} tokens`,
            b.remaining.cost_usd === null ? null : `$${round(b.remaining.cost_usd)}`,
          ];
          const share =
            b.budget.tokens !== undefined
              ? b.used.tokens / b.budget.tokens
              : b.budget.cost_usd !== undefined
                ? b.used.cost_usd / b.budget.cost_usd
                : 0;
          return html`<tr data-budget="${b.scope === "tenant" ? "tenant" : b.key_id}">
            <td>${who}, per ${b.period}</td>
            <td>${join(limit)}</td>
            <td>${join(used)} ${meter(share)}</td>
            <td>${join(held)}</td>
            <td>${join(left)}</td>
            <td><time datetime="${b.resets_at}">${b.resets_at.replace("T", " ").slice(0, 16)} UTC</time></td>
          </tr>`;
        })}
      </tbody>
    </table>`;
}

/** How much of a budget is used, as a bar (red from 90 %). */
function meter(share: number) {
  const used = Math.min(1, Math.max(0, share));
  return html`<svg class="budget-meter" role="img" aria-label="${Math.round(used * 100)} % used" width="80" height="8" viewBox="0 0 80 8">
    <rect width="80" height="8" fill="#e8eaed" /><rect width="${Math.round(used * 80)}" height="8" fill="${used >= 0.9 ? "#d93025" : "#1e8e3e"}" />
  </svg>`;
}

const join = (parts: (string | null)[]) => parts.filter((p) => p !== null).join(", ");
const round = (usd: number) => Math.round(usd * 1e6) / 1e6;
