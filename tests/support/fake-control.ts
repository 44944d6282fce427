/**
 * The control API every fake upstream serves, over HTTP so tests in workerd can
 * drive it as well as tests in Node (the client is fake-control-client.ts):
 *   POST /__control/script {model, steps}   faults for that model's calls, each step used once, in order
 *   GET  /__control/requests?model=M&…      what the fake received (method, path, headers, body),
 *                                           filtered by the keys each request was recorded under
 *   POST /__control/quirks {model, tools?, json?, echo?, prefill?}  how that model treats tools, JSON output and prefill,
 *                                           kept until reset: "refuse" (a 400 in the API's own words) or
 *                                           "ignore" (plain text, as a model without the feature answers)
 *   POST /__control/reset                   forget scripts, quirks and records
 * A fake may add routes of its own (Ollama: pull, tags) or replace one.
 *
 * Also the faults every fake answers the same way: a status (with Retry-After),
 * a hang, a malformed body, a connection closed before any answer.
 */
import type { ServerResponse } from "node:http";
import { type FakeRequest, json } from "./fake-http.ts";

/** Scripted faults every fake understands; each fake adds its own. */
export type CommonStep =
  | { kind: "status"; status: number; body?: unknown; retryAfter?: string }
  | { kind: "hang" }
  | { kind: "malformed" }
  // The connection is closed after the request arrived, before any answer (a server that crashed mid-call).
  | { kind: "drop" };

/** How a model treats a feature it lacks (each fake answers in its API's own words); absent: it has the feature. */
export interface Quirks {
  tools?: "refuse" | "ignore";
  json?: "refuse" | "ignore";
  /** The refusal echoes the request's credentials (fakes that support it). */
  echo?: boolean;
  /**
   * A conversation ending in an unfinished assistant message (a prefill): "refuse" (a 400 in the API's words),
   * "ignore" (a new answer from its start, as models without prefill give); absent: it continues that message.
   */
  prefill?: "refuse" | "ignore";
}

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

type Route = (body: Record<string, unknown>) => void;

export class FakeControl<Step extends { kind: string }> {
  readonly #scripts = new Map<string, Step[]>();
  readonly #quirks = new Map<string, Quirks>();
  #received: (Received & Record<string, unknown>)[] = [];
  readonly #routes: Record<string, Route>;

  /** `routes` add to (or replace) script/reset; `onReset` clears the fake's own state too. */
  constructor(routes: Record<string, Route> = {}, onReset: () => void = () => {}) {
    this.#routes = {
      script: (body) => this.setScript(String(body.model), body.steps as Step[]),
      quirks: (body) =>
        void this.#quirks.set(String(body.model), { tools: body.tools, json: body.json, echo: body.echo, prefill: body.prefill } as Quirks),
      reset: () => {
        this.#scripts.clear();
        this.#quirks.clear();
        this.#received = [];
        onReset();
      },
      ...routes,
    };
  }

  setScript(key: string, steps: Step[]): void {
    this.#scripts.set(key, [...steps]);
  }

  /** The next scripted step for `key`, used up. */
  next(key: string): Step | undefined {
    return this.#scripts.get(key)?.shift();
  }

  /** How `model` treats tools and JSON output (nothing set: it has both). */
  quirks(model: string): Quirks {
    return this.#quirks.get(model) ?? {};
  }

  /** Scripts' keys: the fake OpenAI lists scripted models. */
  scripted(): string[] {
    return [...this.#scripts.keys()];
  }

  /** Record a request under `keys` (e.g. {model}), which /__control/requests filters on; the record, for a fake to add to. */
  record(request: FakeRequest, keys: Record<string, string>, path = request.url.pathname): Received & Record<string, unknown> {
    const entry = { ...keys, method: request.method, path, headers: request.headers, body: request.body };
    this.#received.push(entry);
    return entry;
  }

  /** Answer a /__control/ request; false for any other path. */
  handle(request: FakeRequest, res: ServerResponse): boolean {
    const { pathname, searchParams } = request.url;
    if (!pathname.startsWith("/__control/")) return false;
    const name = pathname.slice("/__control/".length);
    if (name === "requests") {
      const filter = [...searchParams];
      json(res, 200, { requests: this.#received.filter((r) => filter.every(([key, value]) => r[key] === value)) });
    } else if (request.method === "POST" && Object.hasOwn(this.#routes, name)) {
      this.#routes[name]!(request.fields);
      json(res, 200, { ok: true });
    } else {
      json(res, 404, { error: `unknown control ${pathname}` });
    }
    return true;
  }
}

/**
 * Answer a fault every fake shares, with the fake's own error body; false for
 * no step or one the fake handles itself.
 */
export function answerCommonFault(res: ServerResponse, step: { kind: string } | undefined, errorBody: (status: number) => unknown): boolean {
  const common = step as CommonStep | undefined;
  switch (common?.kind) {
    case "status":
      json(res, common.status, common.body ?? errorBody(common.status), common.retryAfter ? { "retry-after": common.retryAfter } : {});
      return true;
    case "hang":
      return true; // never answer: the client's timeout must fire
    case "malformed":
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{not json");
      return true;
    case "drop":
      res.socket?.destroy();
      return true;
    default:
      return false;
  }
}
