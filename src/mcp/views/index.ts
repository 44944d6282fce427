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

export const VIEW_URI = {
  models: "ui://mcp-model-gateway/models.html",
} as const;

const VIEWS = [
  {
    uri: VIEW_URI.models,
    name: "models-view",
    title: "Models",
    description: "The tenant's models: status, latency, capabilities, check now",
    html: MODELS_VIEW_HTML,
  },
];

/** The views' content security: nothing from any network (no connect, resource or frame domains); all they need is inline. */
const UI_META = { ui: { csp: { connectDomains: [], resourceDomains: [], frameDomains: [] }, prefersBorder: true } };

/** `_meta` of a tool that has a view. */
export function viewOf(uri: string) {
  return { ui: { resourceUri: uri }, "ui/resourceUri": uri };
}

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
