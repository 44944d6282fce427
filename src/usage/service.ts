/**
 * Reading usage and setting budgets, shared by the admin API, the operator API
 * and the MCP tool, so all of them show the same numbers.
 */
import { GatewayError } from "../errors";
import type { TenantClient } from "../tenants/client";
import type { Budget } from "./budget";
import { flushUsage } from "./meter";
import type { UsageQuery, UsageReport } from "./record";

const DEFAULT_RANGE_MS = 30 * 86_400_000;

/** A tenant's usage over [from, to), for the whole tenant (`keyId` null) or one key. */
export async function readUsage(tenant: TenantClient, query: UsageQuery, keyId: string | null): Promise<UsageReport> {
  const tenantId = tenant.tenantId;
  // What this isolate still holds for the tenant is written first: a report read here sees every call that ended here.
  await flushUsage(tenantId);
  const now = Date.now();
  const to = query.to === undefined ? now : Date.parse(query.to);
  const from = query.from === undefined ? to - DEFAULT_RANGE_MS : Date.parse(query.from);
  if (from >= to) throw new GatewayError("invalid_request", "from: must be before to.");
  const report = await tenant.usage({ from, to, group_by: query.group_by ?? "model", key_id: keyId }, now);
  if (!report) throw new GatewayError("not_found", `Tenant "${tenantId}" not found.`);
  return report;
}

/** One line for people: the totals, and each budget's remaining amount. */
export function describeUsage(report: UsageReport): string {
  const t = report.totals;
  const lines = [
    `${report.from} to ${report.to}: ${t.requests} request(s), ${t.errors} error(s), ${t.prompt_tokens} prompt + ${t.completion_tokens} completion tokens, $${t.cost_usd}.`,
    ...report.groups.map(
      (g) => `- ${g.model_id ?? g.key_id ?? g.day}: ${g.requests} request(s), ${g.errors} error(s), ${g.total_tokens} tokens, $${g.cost_usd}`,
    ),
    ...report.budgets.map(
      (b) =>
        `Budget (${b.scope === "tenant" ? "tenant" : `key ${b.key_id}`}, per ${b.period}): ` +
        [
          b.remaining.tokens === null ? null : `${b.remaining.tokens} tokens left`,
          b.remaining.cost_usd === null ? null : `$${b.remaining.cost_usd} left`,
        ]
          .filter(Boolean)
          .join(", ") +
        `; resets ${b.resets_at}.`,
    ),
  ];
  return lines.join("\n");
}

export type { Budget };
