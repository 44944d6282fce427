/**
 * What every view shares: the view side of the MCP Apps protocol
 * (`io.modelcontextprotocol/ui`, 2026-01-26) and the base styles, inlined
 * into each view's HTML so a view needs nothing from any network.
 *
 * The protocol is JSON-RPC over postMessage with the host: `ui/initialize`
 * (the host answers its theme and style variables), `ui/notifications/initialized`,
 * then the host's `ui/notifications/tool-result` (the tool's result, whose
 * structuredContent the view draws) and `ui/notifications/host-context-changed`;
 * the view asks for `tools/call` through the host (so the host's consent and the
 * caller's role hold) and reports its size. The Apps SDK's own view class does
 * this too but comes to about 540 kB with its dependencies, forty times the
 * size of these views; this is the part of it the views use.
 */

/** The MCP Apps protocol version the views speak. */
export const APPS_PROTOCOL_VERSION = "2026-01-26";

/**
 * Defines `gateway` in the view: `gateway.onResult(fn)` (fn gets a tool
 * result), `gateway.onToolInput(fn)` (fn gets the tool's arguments), `gateway.callTool(name, args)` (a promise of the result),
 * `gateway.el(tag, attrs, ...children)` (DOM without innerHTML).
 */
export const RUNTIME_JS = `
const gateway = (() => {
  const pending = new Map();
  let nextId = 1;
  let onResult = () => {};
  let onToolInput = () => {};
  const send = (message) => window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  const request = (method, params) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    send({ id, method, params });
  });
  const applyContext = (context) => {
    if (!context) return;
    const root = document.documentElement;
    if (context.theme === "dark" || context.theme === "light") {
      root.dataset.theme = context.theme;
      root.style.colorScheme = context.theme;
    }
    const variables = context.styles && context.styles.variables;
    if (variables) for (const [name, value] of Object.entries(variables)) if (name.startsWith("--") && typeof value === "string") root.style.setProperty(name, value);
  };
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if (message.method === undefined && pending.has(message.id)) {
      const { resolve, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(message.error.message)); else resolve(message.result);
    } else if (message.method === "ui/notifications/tool-input") {
      onToolInput(message.params && message.params.arguments);
    } else if (message.method === "ui/notifications/tool-result") {
      onResult(message.params);
    } else if (message.method === "ui/notifications/host-context-changed") {
      applyContext(message.params);
    } else if (message.id !== undefined && message.method !== undefined) {
      // ping, ui/resource-teardown: nothing to clean up, so an empty answer.
      send({ id: message.id, result: {} });
    }
  });
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    return node;
  };
  const svg = (tag, attrs) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  };
  const ready = request("ui/initialize", {
    appInfo: { name: document.title, version: "1" },
    appCapabilities: {},
    protocolVersion: "${APPS_PROTOCOL_VERSION}",
  }).then((answer) => {
    applyContext(answer && answer.hostContext);
    send({ method: "ui/notifications/initialized", params: {} });
    const report = () => send({ method: "ui/notifications/size-changed", params: { width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight } });
    new ResizeObserver(report).observe(document.body);
  });
  return {
    ready,
    el,
    svg,
    onResult: (fn) => { onResult = fn; },
    onToolInput: (fn) => { onToolInput = fn; },
    callTool: async (name, args) => {
      const result = await request("tools/call", { name, arguments: args });
      if (result && result.isError) throw new Error((result.content || []).map((c) => c.text).filter(Boolean).join(" ") || name + " failed");
      return result;
    },
  };
})();
`;

/** Base styles: the host's style variables when it sends them, else light or dark defaults. */
export const BASE_CSS = `
:root {
  color-scheme: light dark;
  --fg: var(--color-text-primary, #1f2328);
  --muted: var(--color-text-secondary, #59636e);
  --bg: var(--color-background-primary, #ffffff);
  --panel: var(--color-background-secondary, #f6f8fa);
  --line: var(--color-border-primary, #d1d9e0);
  --ok: var(--color-text-success, #1a7f37);
  --warn: var(--color-text-warning, #9a6700);
  --bad: var(--color-text-danger, #d1242f);
  --info: var(--color-text-info, #0969da);
  --font: var(--font-sans, system-ui, -apple-system, "Segoe UI", sans-serif);
}
:root[data-theme="dark"] {
  --fg: var(--color-text-primary, #e6edf3);
  --muted: var(--color-text-secondary, #9198a1);
  --bg: var(--color-background-primary, #0d1117);
  --panel: var(--color-background-secondary, #161b22);
  --line: var(--color-border-primary, #3d444d);
  --ok: var(--color-text-success, #3fb950);
  --warn: var(--color-text-warning, #d29922);
  --bad: var(--color-text-danger, #f85149);
  --info: var(--color-text-info, #4493f8);
}
* { box-sizing: border-box; }
body { margin: 0; padding: 12px; font: 14px/1.4 var(--font); color: var(--fg); background: var(--bg); }
h1 { font-size: 15px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.available, .ok { color: var(--ok); }
.degraded, .initializing { color: var(--warn); }
.error, .failed { color: var(--bad); }
.maintenance { color: var(--info); }
.tags span { display: inline-block; margin: 0 4px 2px 0; padding: 0 6px; border-radius: 4px; background: var(--panel); font-size: 12px; }
button { font: inherit; color: var(--fg); background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 3px 10px; cursor: pointer; }
button:focus-visible { outline: 2px solid var(--info); outline-offset: 1px; }
button[disabled] { opacity: 0.6; cursor: progress; }
.muted { color: var(--muted); }
[role="status"] { min-height: 1.4em; margin-top: 8px; color: var(--muted); }
svg { display: block; }
`;

/** A view's HTML: its own CSP (nothing from any network; inline script and style only), the runtime, its script. */
export function viewHtml(title: string, css: string, script: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${BASE_CSS}${css}</style>
</head>
<body>
<main id="view" aria-live="polite"><p class="muted">Waiting for the result…</p></main>
<script>
${RUNTIME_JS}
${script}
</script>
</body>
</html>
`;
}
