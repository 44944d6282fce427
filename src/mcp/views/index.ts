/**
 * The MCP Apps views (`io.modelcontextprotocol/ui`): each a `ui://` HTML
 * resource registered with the Apps SDK's server helpers, named by its tool
 * in `_meta.ui.resourceUri`. Hosts without Apps ignore both and read the
 * tool's structuredContent, which holds the same data the view draws.
 */
import { RESOURCE_MIME_TYPE, registerAppResource } from "@modelcontextprotocol/ext-apps/server";
import type { McpServer } from "@modelcontextprotocol/server";
import type { ToolRegistrar } from "../definitions";
import { MODELS_VIEW_HTML } from "./models-view";
import { ROUTE_VIEW_HTML } from "./route-view";
import { USAGE_VIEW_HTML } from "./usage-view";

export const VIEW_URI = {
  models: "ui://mcp-model-gateway/models.html",
  route: "ui://mcp-model-gateway/route.html",
  usage: "ui://mcp-model-gateway/usage.html",
} as const;

const VIEWS = [
  {
    uri: VIEW_URI.models,
    name: "models-view",
    title: "Models",
    description: "The tenant's models: status, latency, capabilities, check now",
    html: MODELS_VIEW_HTML,
  },
  {
    uri: VIEW_URI.route,
    name: "route-view",
    title: "Route",
    description: "Where a call would go: targets in order, status, breaker, why",
    html: ROUTE_VIEW_HTML,
  },
  { uri: VIEW_URI.usage, name: "usage-view", title: "Usage", description: "Usage by model, key or day, and the budgets left", html: USAGE_VIEW_HTML },
];

/** The views' content security: nothing from any network (no connect, resource or frame domains); all they need is inline. */
const UI_META = { ui: { csp: { connectDomains: [], resourceDomains: [], frameDomains: [] }, prefersBorder: true } };

export function registerViews(server: ToolRegistrar): void {
  for (const view of VIEWS) {
    registerAppResource(
      server as McpServer,
      view.name,
      view.uri,
      { title: view.title, description: view.description, mimeType: RESOURCE_MIME_TYPE, _meta: UI_META },
      async () => ({ contents: [{ uri: view.uri, mimeType: RESOURCE_MIME_TYPE, text: view.html, _meta: UI_META }] }),
    );
  }
}
