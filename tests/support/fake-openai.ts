/**
 * A fake OpenAI-compatible upstream on 127.0.0.1, speaking the real wire format
 * (https://platform.openai.com/docs/api-reference): /v1/chat/completions and
 * /v1/completions (JSON, or SSE with `stream: true`), /v1/embeddings, /v1/models.
 *
 * Replies are deterministic: chat answers "echo: <last user message>", a
 * completion answers "<prompt> …continued", embeddings are derived from the text.
 * Tools, JSON mode and images follow OpenAI's wire shapes (see `chatReply` in
 * ./fake-replies.ts): offered tools are called (streamed as `delta.tool_calls`:
 * id and name first, then the arguments in fragments), tool results are
 * answered, `response_format` gets JSON, image parts are counted.
 *
 * Faults are scripted per upstream model name, and what it received is recorded
 * per model name, through the control API of fake-control.ts. It also serves
 * images for the gateway to fetch (backends that take image bytes):
 *   GET /__fixtures/pixel.png   a 1x1 PNG;  /__fixtures/page.html  not an image;  /__fixtures/huge.png  over 10 MiB
 */
import type { ServerResponse } from "node:http";
import { answerCommonFault, type CommonStep, FakeControl } from "./fake-control.ts";
import { dropConnection, type FakeServer, json, serve } from "./fake-http.ts";
import { chatReply } from "./fake-replies.ts";
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
    if (url.pathname.startsWith("/__fixtures/")) {
      fixture(url.pathname, res);
      return;
    }
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
      const messages = (fields.messages ?? []) as unknown[];
      const reply = chatReply(fields);
      if (reply.toolCalls) {
        const calls = reply.toolCalls.map((c) => ({
          id: c.id,
          type: "function",
          function: { name: c.name, arguments: JSON.stringify(c.arguments) },
        }));
        if (fields.stream) return streamToolCalls(res, model, calls);
        return json(res, 200, {
          id: "chatcmpl-fake",
          object: "chat.completion",
          created: 1700000000,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: calls }, finish_reason: "tool_calls", logprobs: null }],
          usage: usage(JSON.stringify(messages), JSON.stringify(calls)),
        });
      }
      const text = reply.json ? { value: reply.text, finish: "stop" as const } : limit(reply.text, fields.max_tokens);
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

/** A 1x1 transparent PNG. */
export const PIXEL_PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

function fixture(path: string, res: ServerResponse): void {
  const [type, body] =
    path === "/__fixtures/pixel.png"
      ? ["image/png", Buffer.from(PIXEL_PNG_BASE64, "base64")]
      : path === "/__fixtures/huge.png"
        ? ["image/png", Buffer.alloc(10 * 1024 * 1024 + 1)]
        : ["text/html", Buffer.from("<html>not an image</html>")];
  res.writeHead(200, { "content-type": type });
  res.end(body);
}

/** Tool calls streamed as OpenAI streams them: per call, index + id + name first, then the arguments in two fragments. */
async function streamToolCalls(res: ServerResponse, model: string, calls: { id: string; function: { name: string; arguments: string } }[]) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const chunk = (payload: Record<string, unknown>) =>
    new Promise<void>((resolve) =>
      res.write(`data: ${JSON.stringify({ id: "fake-stream", object: "chat.completion.chunk", created: 1700000000, model, ...payload })}\n\n`, () =>
        resolve(),
      ),
    );
  const delta = (d: Record<string, unknown>, finish: string | null = null) => chunk({ choices: [{ index: 0, delta: d, finish_reason: finish }] });
  await delta({ role: "assistant", content: null });
  for (const [index, call] of calls.entries()) {
    await delta({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] });
    const half = Math.ceil(call.function.arguments.length / 2);
    for (const part of [call.function.arguments.slice(0, half), call.function.arguments.slice(half)]) {
      await delta({ tool_calls: [{ index, function: { arguments: part } }] });
    }
  }
  await delta({}, "tool_calls");
  await chunk({ choices: [], usage: usage("", JSON.stringify(calls)) });
  res.write("data: [DONE]\n\n");
  res.end();
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
