/**
 * The `explain_route` view: the route receipt. Which model would answer, then
 * every target in order (the model, its fallbacks) with its upstream, status,
 * circuit breaker, rate budget left, and why a skipped one is skipped.
 */
import { viewHtml } from "./runtime";

const CSS = `
ol.route { list-style: none; margin: 0; padding: 0; }
ol.route li { display: grid; grid-template-columns: 2em 1fr auto; gap: 4px 10px; padding: 8px; border: 1px solid var(--line); border-radius: 8px; margin-bottom: 6px; }
ol.route li.answers { border-color: var(--ok); border-width: 2px; }
.step { font-weight: 700; color: var(--muted); }
.why { grid-column: 2 / 4; }
.facts { grid-column: 2 / 4; color: var(--muted); font-size: 12px; }
.verdict { font-size: 15px; margin: 0 0 10px; }
`;

const SCRIPT = `
const { el } = gateway;
const view = document.getElementById("view");

gateway.onResult((result) => {
  const route = result.structuredContent;
  if (!route || !Array.isArray(route.steps)) {
    view.replaceChildren(el("p", { role: "alert", text: (result.content || []).map((c) => c.text).join(" ") || "No route." }));
    return;
  }
  const needs = route.features && route.features.length > 0 ? " with " + route.features.join(", ") : "";
  const verdict = route.would_answer
    ? el("p", { class: "verdict" }, route.capability + needs + " on " + route.model_id + " would be answered by ", el("strong", { text: route.would_answer }), ".")
    : el("p", { class: "verdict error", role: "alert", text: "No model on this route can take " + route.capability + needs + " right now." });
  const steps = route.steps.map((step, index) => {
    const role = index === 0 ? "Requested model" : "Fallback " + index;
    const answers = step.model_id === route.would_answer && step.usable;
    const rate = step.rate_limit_per_minute === null ? "no rate limit" : Math.floor(step.rate_budget_left) + " of " + step.rate_limit_per_minute + "/min left";
    return el("li", { class: answers ? "answers" : "", "data-model": step.model_id, "aria-label": role + ": " + step.model_id },
      el("span", { class: "step", text: String(index + 1) }),
      el("span", {}, el("strong", { text: step.model_id }), " ", el("span", { class: "muted", text: role.toLowerCase() })),
      el("span", { class: "badge " + step.status, "data-cell": "status", text: step.status }),
      el("span", { class: "why " + (step.usable ? "ok" : "failed"), "data-cell": "why", text: step.usable ? (answers ? "Would answer" : "Usable") : "Skipped: " + step.reason }),
      el("span", { class: "facts", text: step.backend_type + " → " + step.upstream + " · breaker " + step.breaker + " · " + rate }),
    );
  });
  view.replaceChildren(el("h1", { text: "Route for " + route.model_id }), verdict, el("ol", { class: "route", "aria-label": "Targets in order" }, steps));
});
`;

export const ROUTE_VIEW_HTML = viewHtml("Route", CSS, SCRIPT);
