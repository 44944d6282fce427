/**
 * `get_usage`: what the tenant used (an admin key sees the whole tenant, a
 * user key its own calls), grouped by model, key or day, with the budgets that
 * apply and what is left of them. The same numbers as GET /api/v1/usage.
 */
import { registerAppTool } from "@modelcontextprotocol/ext-apps/server";
import type { McpServer } from "@modelcontextprotocol/server";
import type { ToolRegistrar, ToolSet } from "../definitions";
import { VIEW_URI } from "../views";
import { UsageQuery, UsageReport } from "../../usage/record";
import { describeUsage, readUsage } from "../../usage/service";
import { guarded, ok } from "../result";

export function registerUsageTools(server: ToolRegistrar, { role }: ToolSet): void {
  registerAppTool(
    server as McpServer,
    "get_usage",
    {
      _meta: { ui: { resourceUri: VIEW_URI.usage } },
      title: "Get usage",
      description:
        "Requests, errors, prompt and completion tokens and cost, per model (default), key or day, over a time range (default: the last 30 days), " +
        "and the budgets that apply with what is left." +
        (role === "admin" ? " Covers the whole tenant." : " Covers this key's own calls."),
      inputSchema: UsageQuery,
      outputSchema: UsageReport,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async (query, scope) => {
      const report = await readUsage(scope.tenant, query, scope.role === "admin" ? null : scope.key.id);
      return ok(report, describeUsage(report));
    }),
  );
}
