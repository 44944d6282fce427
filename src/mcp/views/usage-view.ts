/**
 * The `get_usage` view: totals, a bar chart of tokens and cost per group
 * (model, key or day; the buttons ask `get_usage` again through the host),
 * and each budget that applies as a meter of what is used and left.
 */
import { viewHtml } from "./runtime";

const CSS = `
.totals { display: flex; flex-wrap: wrap; gap: 16px; margin: 0 0 10px; }
.totals div { background: var(--panel); border-radius: 8px; padding: 6px 10px; }
.totals dt { font-size: 12px; color: var(--muted); }
.totals dd { margin: 0; font-weight: 700; font-variant-numeric: tabular-nums; }
.group-by { display: flex; gap: 6px; margin: 8px 0; }
.group-by button[aria-pressed="true"] { border-color: var(--info); color: var(--info); }
.bars td.bar { width: 50%; }
.bars .track { height: 12px; background: var(--panel); border-radius: 6px; overflow: hidden; }
.bars .fill { height: 100%; background: var(--info); }
.bars td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.budget { margin: 6px 0; }
.budget .track { height: 10px; background: var(--panel); border-radius: 5px; overflow: hidden; }
.budget .fill { height: 100%; background: var(--ok); }
.budget .fill.high { background: var(--warn); }
.budget .fill.full { background: var(--bad); }
h2 { font-size: 14px; margin: 14px 0 6px; }
`;

const SCRIPT = `
const { el } = gateway;
const view = document.getElementById("view");
let query = {};
gateway.onToolInput((args) => { query = args || {}; });

const number = (n) => Math.round(n).toLocaleString("en-US");
const dollars = (n) => "$" + n.toFixed(n < 1 ? 4 : 2);
const label = (group, by) => (by === "model" ? group.model_id : by === "key" ? group.key_id : group.day) || "—";

function bars(report) {
  const max = Math.max(1, ...report.groups.map((g) => g.total_tokens));
  const rows = report.groups.map((g) => {
    const name = label(g, report.group_by);
    const share = Math.round((g.total_tokens / max) * 100);
    return el("tr", { "data-group": name },
      el("th", { scope: "row", text: name }),
      el("td", { class: "bar" }, el("div", { class: "track", role: "img", "aria-label": name + ": " + number(g.total_tokens) + " tokens" }, el("div", { class: "fill", style: "width: " + share + "%" }))),
      el("td", { class: "num", text: number(g.requests) }),
      el("td", { class: "num", text: number(g.total_tokens) }),
      el("td", { class: "num", text: dollars(g.cost_usd) }),
    );
  });
  return el("table", { class: "bars", "aria-label": "Usage by " + report.group_by },
    el("thead", {}, el("tr", {}, ...["By " + report.group_by, "Tokens", "Requests", "Total tokens", "Cost"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.length > 0 ? rows : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: "No calls in this range." }))]),
  );
}

function budget(b) {
  const limit = b.budget.tokens !== undefined && b.budget.tokens !== null ? { used: b.used.tokens + b.in_flight.tokens, max: b.budget.tokens, unit: "tokens", show: number } : { used: b.used.cost_usd + b.in_flight.cost_usd, max: b.budget.cost_usd, unit: "USD", show: dollars };
  const share = limit.max > 0 ? Math.min(100, Math.round((limit.used / limit.max) * 100)) : 100;
  const who = b.scope === "tenant" ? "Tenant" : "Key " + b.key_id;
  const title = who + " budget per " + b.period;
  return el("div", { class: "budget", "data-budget": b.scope },
    el("div", {}, el("strong", { text: title }), " ", el("span", { class: "muted", text: limit.show(limit.used) + " of " + limit.show(limit.max) + " used (" + share + "%), resets " + b.resets_at.slice(0, 10) })),
    el("div", { class: "track", role: "meter", "aria-label": title, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": share, "aria-valuetext": share + "% used" },
      el("div", { class: "fill" + (share >= 100 ? " full" : share >= 80 ? " high" : ""), style: "width: " + share + "%" })),
  );
}

function draw(report) {
  const live = el("p", { role: "status" });
  const switcher = el("div", { class: "group-by", role: "group", "aria-label": "Group by" },
    ["model", "key", "day"].map((by) => el("button", {
      type: "button",
      "aria-pressed": String(report.group_by === by),
      text: "By " + by,
      onclick: async () => {
        live.textContent = "Loading usage by " + by + "…";
        try {
          const next = await gateway.callTool("get_usage", { ...query, group_by: by });
          query = { ...query, group_by: by };
          draw(next.structuredContent);
        } catch (error) {
          live.textContent = "Could not load usage: " + error.message;
        }
      },
    })));
  const t = report.totals;
  const totals = el("dl", { class: "totals" },
    [["Requests", number(t.requests)], ["Errors", number(t.errors)], ["Tokens", number(t.total_tokens)], ["Cost", dollars(t.cost_usd)]]
      .map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))));
  view.replaceChildren(
    el("h1", { text: "Usage " + report.from.slice(0, 10) + " to " + report.to.slice(0, 10) + (report.key_id ? " (key " + report.key_id + ")" : "") }),
    totals,
    switcher,
    bars(report),
    el("h2", { text: "Budgets" }),
    ...(report.budgets.length > 0 ? report.budgets.map(budget) : [el("p", { class: "muted", text: "No budget applies." })]),
    live,
  );
}

gateway.onResult((result) => {
  if (result.structuredContent && Array.isArray(result.structuredContent.groups)) draw(result.structuredContent);
  else view.replaceChildren(el("p", { role: "alert", text: (result.content || []).map((c) => c.text).join(" ") || "No usage." }));
});
`;

export const USAGE_VIEW_HTML = viewHtml("Usage", CSS, SCRIPT);
