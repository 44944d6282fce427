/**
 * A minimal MCP Apps host page, built with the Apps SDK's host side
 * (`AppBridge`), bundled for the browser by the e2e test (esbuild). It shows a
 * view's `ui://` HTML in a sandboxed frame under the CSP the resource declares
 * (`_meta.ui.csp`, as hosts build it), hands it the host's theme, the tool's
 * arguments and result, and answers the view's `tools/call` through
 * `window.hostCallTool`, which the test wires to its real MCP client: the
 * view never talks to the gateway itself.
 */
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";
import type { CallToolResult } from "@modelcontextprotocol/client";

export interface MountRequest {
  html: string;
  csp: { connectDomains?: string[]; resourceDomains?: string[]; frameDomains?: string[] };
  toolInput: Record<string, unknown>;
  toolResult: CallToolResult;
  theme: "light" | "dark";
  variables: Record<string, string>;
}

declare global {
  interface Window {
    mountView(request: MountRequest): Promise<void>;
    hostCallTool(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  }
}

/** The CSP a host puts on a view: nothing but inline code, plus the domains the resource declares. */
function policy(csp: MountRequest["csp"]): string {
  const list = (domains: string[] | undefined) => (domains && domains.length > 0 ? domains.join(" ") : "");
  return [
    "default-src 'none'",
    `script-src 'unsafe-inline' ${list(csp.resourceDomains)}`.trim(),
    `style-src 'unsafe-inline' ${list(csp.resourceDomains)}`.trim(),
    `img-src data: ${list(csp.resourceDomains)}`.trim(),
    `connect-src ${list(csp.connectDomains) || "'none'"}`,
    `frame-src ${list(csp.frameDomains) || "'none'"}`,
  ].join("; ");
}

window.mountView = async (request) => {
  const frame = document.createElement("iframe");
  frame.sandbox.add("allow-scripts");
  frame.title = "MCP App view";
  frame.style.cssText = "width: 100%; height: 480px; border: 1px solid #888;";
  document.body.append(frame);
  const bridge = new AppBridge(
    null,
    { name: "e2e-host", version: "1.0.0" },
    { serverTools: {} },
    // A host sends the variables it has; the type lists every one the spec names.
    { hostContext: { theme: request.theme, styles: { variables: request.variables as never }, platform: "web" } },
  );
  bridge.oncalltool = (params) => window.hostCallTool(params.name, (params.arguments ?? {}) as Record<string, unknown>);
  bridge.onsizechange = ({ height }) => {
    if (height) frame.style.height = `${Math.min(height + 2, 2000)}px`;
  };
  const initialized = new Promise<void>((resolve) => (bridge.oninitialized = () => resolve()));
  await bridge.connect(new PostMessageTransport(frame.contentWindow!, frame.contentWindow!));
  const meta = `<meta http-equiv="Content-Security-Policy" content="${policy(request.csp)}">`;
  frame.srcdoc = request.html.replace("<head>", `<head>${meta}`);
  await initialized;
  await bridge.sendToolInput({ arguments: request.toolInput });
  await bridge.sendToolResult(request.toolResult);
};
