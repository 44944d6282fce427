/**
 * The client of the fakes' control API (fake-control.ts), for both test
 * projects: plain `fetch` to 127.0.0.1 works in Node and inside workerd alike.
 * `fakes` binds one to each fake the globalSetup started.
 */
import { inject } from "vitest";

/** A request a fake received, with the keys it was recorded under (model; Ollama: instance too). */
export interface UpstreamRequest<Body = Record<string, unknown>> {
  model: string;
  instance?: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Body;
}

export interface FakeUpstream {
  /** Base URL of the fake. */
  url: string;
  /** Faults for one upstream model's calls, each step used once, in order. */
  script(model: string, steps: unknown[]): Promise<void>;
  /** What the fake received for one upstream model name, or filtered by `{model?, instance?}`. */
  requests<Body = Record<string, unknown>>(filter: string | { model?: string; instance?: string }): Promise<UpstreamRequest<Body>[]>;
  /** Any other control (Ollama's `pull` and `tags`, `reset`). */
  control(path: string, body?: unknown): Promise<void>;
}

export function fakeUpstream(url: string): FakeUpstream {
  const control = async (path: string, body: unknown = {}) => {
    const res = await fetch(`${url}/__control/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`fake upstream ${url} ${path}: ${res.status} ${await res.text()}`);
  };
  return {
    url,
    control,
    script: (model, steps) => control("script", { model, steps }),
    async requests<Body>(filter: string | { model?: string; instance?: string }) {
      const keys = typeof filter === "string" ? { model: filter } : filter;
      const query = new URLSearchParams(Object.entries(keys).filter((entry): entry is [string, string] => entry[1] !== undefined));
      const res = await fetch(`${url}/__control/requests?${query}`);
      return ((await res.json()) as { requests: UpstreamRequest<Body>[] }).requests;
    },
  };
}

/** The fakes the globalSetup started (tests/support/upstreams.setup.ts). */
export const fakes = {
  openai: fakeUpstream(inject("openaiUrl")),
  ollama: fakeUpstream(inject("ollamaUrl")),
  hf: fakeUpstream(inject("hfUrl")),
  anthropic: fakeUpstream(inject("anthropicUrl")),
};
