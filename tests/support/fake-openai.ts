/**
 * A fake OpenAI-compatible upstream on 127.0.0.1, speaking the real wire format
 * (https://platform.openai.com/docs/api-reference): /v1/chat/completions and
 * /v1/completions (JSON, or SSE with `stream: true`), /v1/embeddings, /v1/models.
 *
 * Replies are deterministic: chat answers "echo: <last user message>", a
 * completion answers "<prompt> …continued", embeddings are derived from the text.
 *
 * Faults are scripted per upstream model name, and what it received is recorded
 * per model name, through the control API of fake-control.ts.
 */
import type { ServerResponse } from "node:http";
import { answerCommonFault, type CommonStep, FakeControl } from "./fake-control.ts";
import { dropConnection, type FakeServer, json, serve } from "./fake-http.ts";
import { fakeVector8 } from "./fake-vectors.js";

export type Step =
  | CommonStep
  | { kind: "break_stream"; afterChunks: number }
  | { kind: "echo_auth"; status: number }
  | { kind: "slow_stream"; delayMs: number }
  | { kind: "delay"; ms: number };

export function startFakeOpenAI(port = 0): Promise<FakeServer> {
  const control = new FakeControl<Step>();

  return serve(async (request, res) => {
    if (control.handle(request, res)) return;
    const { method, url, headers, fields } = request;
    const model = typeof fields.model === "string" ? fields.model : "";
    control.record(request, { model });

    if (method === "GET" && url.pathname === "/v1/models") {
      return json(res, 200, {
        object: "list",
        data: ["gpt-fake", "fake-embed", ...control.scripted()].map((id) => ({ id, object: "model", created: 1700000000, owned_by: "fake" })),
      });
    }

    const step = control.next(model);
    if (answerCommonFault(res, step, (status) => ({ error: { message: `scripted ${status}`, type: "fake" } }))) return;
    if (step?.kind === "echo_auth") {
      return json(res, step.status, {
        error: { message: `Invalid API key provided: ${headers.authorization ?? ""}`, type: "invalid_request_error" },
      });
    }

    if (step?.kind === "delay") await new Promise((r) => setTimeout(r, step.ms)); // then answer normally
    if (method === "POST" && url.pathname === "/v1/chat/completions") {
      const messages = (fields.messages ?? []) as { role: string; content: string }[];
      const last = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
      const text = limit(`echo: ${last}`, fields.max_tokens);
      if (fields.stream) return stream(res, model, text, "chat", step);
      return json(res, 200, {
        id: "chatcmpl-fake",
        object: "chat.completion",
        created: 1700000000,
        model,
        choices: [{ index: 0, message: { role: "assistant", content: text.value }, finish_reason: text.finish, logprobs: null }],
        usage: usage(JSON.stringify(messages), text.value),
      });
    }
    if (method === "POST" && url.pathname === "/v1/completions") {
      const prompt = String(fields.prompt ?? "");
      const text = limit(`${prompt} …continued`, fields.max_tokens);
      if (fields.stream) return stream(res, model, text, "completion", step);
      return json(res, 200, {
        id: "cmpl-fake",
        object: "text_completion",
        created: 1700000000,
        model,
        choices: [{ index: 0, text: text.value, finish_reason: text.finish, logprobs: null }],
        usage: usage(prompt, text.value),
      });
    }
    if (method === "POST" && url.pathname === "/v1/embeddings") {
      const inputs = Array.isArray(fields.input) ? (fields.input as string[]) : [String(fields.input)];
      return json(res, 200, {
        object: "list",
        model,
        data: inputs.map((text, index) => ({ object: "embedding", index, embedding: fakeVector8(text) })),
        usage: { prompt_tokens: inputs.join(" ").split(/\s+/).length, total_tokens: inputs.join(" ").split(/\s+/).length },
      });
    }
    return json(res, 404, { error: { message: `Unknown path ${url.pathname}`, type: "invalid_request_error" } });
  }, port);
}

/** Answer `max_tokens` words at most, saying "length" when cut. */
function limit(text: string, maxTokens: unknown): { value: string; finish: "stop" | "length" } {
  const words = text.split(" ");
  if (typeof maxTokens === "number" && words.length > maxTokens) {
    return { value: words.slice(0, maxTokens).join(" "), finish: "length" };
  }
  return { value: text, finish: "stop" };
}

async function stream(
  res: ServerResponse,
  model: string,
  text: { value: string; finish: string },
  kind: "chat" | "completion",
  step: Step | undefined,
) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const pieces = text.value.split(/(?<= )/);
  const chunk = (payload: Record<string, unknown>) =>
    new Promise<void>((resolve) =>
      res.write(
        `data: ${JSON.stringify({ id: "fake-stream", object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: 1700000000, model, ...payload })}\n\n`,
        () => resolve(),
      ),
    );
  if (kind === "chat") await chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
  for (const [i, piece] of pieces.entries()) {
    if (step?.kind === "break_stream" && i === step.afterChunks) return dropConnection(res);
    if (step?.kind === "slow_stream") await new Promise((r) => setTimeout(r, step.delayMs));
    await chunk({
      choices: [kind === "chat" ? { index: 0, delta: { content: piece }, finish_reason: null } : { index: 0, text: piece, finish_reason: null }],
    });
  }
  await chunk({
    choices: [kind === "chat" ? { index: 0, delta: {}, finish_reason: text.finish } : { index: 0, text: "", finish_reason: text.finish }],
  });
  await chunk({ choices: [], usage: usage("", text.value) });
  res.write("data: [DONE]\n\n");
  res.end();
}

function usage(prompt: string, completion: string) {
  const p = prompt.split(/\s+/).filter(Boolean).length;
  const c = completion.split(/\s+/).filter(Boolean).length;
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}
