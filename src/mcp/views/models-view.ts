/**
 * The `list_models` view: the tenant's models with their status, a sparkline
 * of recent check latencies, capabilities and features, and a "Check now"
 * button per model that calls `check_health` through the host and shows the
 * fresh status in place.
 */
import { viewHtml } from "./runtime";

const CSS = `
.spark { width: 96px; height: 24px; }
.spark polyline { fill: none; stroke: var(--info); stroke-width: 1.5; }
.spark circle { fill: var(--bad); }
.spark circle.one { fill: var(--info); }
td.latency { white-space: nowrap; font-variant-numeric: tabular-nums; }
`;

const SCRIPT = `
const { el, svg } = gateway;
const view = document.getElementById("view");

function sparkline(points, label) {
  const width = 96, height = 24;
  const chart = svg("svg", { class: "spark", viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": label });
  const known = points.filter((p) => typeof p === "number");
  if (known.length === 0) return chart;
  const max = Math.max(...known, 1);
  const step = points.length > 1 ? width / (points.length - 1) : 0;
  const coords = [];
  points.forEach((p, i) => {
    const x = (i * step).toFixed(1);
    if (typeof p === "number") coords.push(x + "," + (height - 2 - (p / max) * (height - 4)).toFixed(1));
    else chart.append(svg("circle", { cx: x, cy: height - 3, r: 2 }));
  });
  // One point draws no line: a dot shows it.
  if (coords.length === 1) chart.append(svg("circle", { class: "one", cx: coords[0].split(",")[0], cy: coords[0].split(",")[1], r: 2 }));
  else chart.prepend(svg("polyline", { points: coords.join(" ") }));
  return chart;
}

function statusBadge(status) {
  return el("span", { class: "badge " + status, text: status });
}

function row(model, say) {
  const latencies = model.recent_latencies_ms || [];
  const loading = !model.recent_latencies_ms;
  const known = latencies.filter((p) => typeof p === "number");
  const sparkLabel = loading ? "Loading recent checks" : known.length === 0
    ? "No recent latencies"
    : "Latency of the last " + latencies.length + " checks, " + Math.round(Math.min(...known)) + " to " + Math.round(Math.max(...known)) + " ms";
  const statusCell = el("td", { "data-cell": "status" }, statusBadge(model.status));
  const latencyCell = el("td", { class: "latency", "data-cell": "latency" }, model.latency_ms === null ? "—" : Math.round(model.latency_ms) + " ms");
  const button = el("button", { type: "button", "aria-label": "Check " + model.id + " now", text: "Check now" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    say("Checking " + model.id + "…");
    try {
      const result = await gateway.callTool("check_health", { model_id: model.id });
      const check = (result.structuredContent && result.structuredContent.checks || [])[0];
      if (!check) throw new Error("no check came back");
      statusCell.replaceChildren(statusBadge(check.status));
      latencyCell.textContent = check.latency_ms === null ? "—" : Math.round(check.latency_ms) + " ms";
      say(model.id + ": " + (check.ok ? "check passed" : "check failed") + ", now " + check.status + (check.detail ? " (" + check.detail + ")" : "") + ".");
    } catch (error) {
      say("Could not check " + model.id + ": " + error.message);
    } finally {
      button.disabled = false;
    }
  });
  return el("tr", { "data-model": model.id },
    el("th", { scope: "row" }, el("div", { text: model.id }), el("div", { class: "muted", text: model.name + " · " + model.backend_type })),
    statusCell,
    latencyCell,
    el("td", {}, sparkline(latencies, sparkLabel)),
    el("td", { class: "tags" }, [...model.capabilities, ...model.features].map((t) => el("span", { text: t }))),
    el("td", {}, button),
  );
}

let lastArgs = {};
gateway.onToolInput((args) => { lastArgs = args || {}; });

gateway.onResult(async (result) => {
  let models = (result.structuredContent && result.structuredContent.models) || [];
  draw(models);
  // The latency lines need each model's recent checks: asked for through the host, when the result lacks them.
  if (models.length > 0 && models.some((m) => !m.recent_latencies_ms)) {
    try {
      const withHistory = await gateway.callTool("list_models", { ...lastArgs, history: true });
      models = (withHistory.structuredContent && withHistory.structuredContent.models) || models;
      draw(models);
    } catch {
      // The table stands without the lines.
    }
  }
});

function draw(models) {
  const live = el("p", { role: "status", id: "announce" });
  const say = (text) => { live.textContent = text; };
  if (models.length === 0) {
    view.replaceChildren(el("h1", { text: "Models" }), el("p", { text: "No models match." }));
    return;
  }
  const table = el("table", { "aria-labelledby": "models-title" },
    el("thead", {}, el("tr", {}, ...["Model", "Status", "Latency", "Recent checks", "Capabilities and features", "Action"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, models.map((m) => row(m, say))),
  );
  view.replaceChildren(el("h1", { id: "models-title", text: models.length + " model" + (models.length === 1 ? "" : "s") }), table, live);
}
`;

export const MODELS_VIEW_HTML = viewHtml("Models", CSS, SCRIPT);
