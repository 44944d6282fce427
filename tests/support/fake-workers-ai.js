/**
 * A fake of the Workers AI binding (`env.AI`), installed in tests as a service
 * binding to this entrypoint: `run(model, inputs, options)` answers in the documented shapes
 * (developers.cloudflare.com/workers-ai/models) — text generation (JSON, or an
 * SSE ReadableStream with `stream: true`), @cf/baai/bge-* embeddings, the
 * distilbert-sst-2 classifier and the bge reranker.
 *
 * Faults are chosen by the model id's last segment, as the binding would raise them:
 *   ...-capacity-once   first call throws "3040: Capacity temporarily exceeded", then works
 *   ...-hang            never answers
 *   ...-broken-stream   the stream errors after two events
 *   @cf/nope/...        "5007: No such model"
 * Every call is recorded; `run("@fake/calls", {})` returns them (and clears the log).
 *
 * Function calling and JSON mode in the documented shapes: `tools: [{name, description,
 * parameters}]` makes the model call the first tool (every tool when the user says
 * "parallel") with each string parameter set to the user's text, answered as
 * `{tool_calls: [{name, arguments}]}`; after a `tool` message it answers
 * "tool said: <result>". `response_format: {type: "json_schema", json_schema}` answers
 * `response` as an object; both refuse `stream: true` (JSON mode does not stream).
 * Image parts must be data: URLs ("HTTP URL will not be accepted"); they are counted.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { fakeVector8 } from "./fake-vectors.js";

const seen = new Set();
let calls = [];

const encoder = new TextEncoder();

function textOf(content) {
  if (typeof content === "string") return content;
  return (content ?? []).map((p) => (p.type === "text" ? p.text : "")).join("");
}

function replyFor(inputs) {
  if (inputs.prompt !== undefined) return `${inputs.prompt} (continued by workers ai)`;
  const last = [...(inputs.messages ?? [])].reverse().find((m) => m.role === "user");
  const images = Array.isArray(last?.content) ? last.content.filter((p) => p.type === "image_url").length : 0;
  return `workers-ai: ${textOf(last?.content)}${images ? ` [${images} image(s)]` : ""}`;
}

function fill(schema, text) {
  const out = {};
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    out[key] = prop.type === "number" || prop.type === "integer" ? 42 : prop.type === "boolean" ? true : text;
  }
  return out;
}

/** Function calling and JSON mode; undefined for a plain generation. */
function structured(inputs) {
  const messages = inputs.messages ?? [];
  for (const m of messages) {
    for (const part of Array.isArray(m.content) ? m.content : []) {
      if (part.type === "image_url" && !String(part.image_url?.url).startsWith("data:")) {
        throw new Error("5006: image uri must be a data URL; HTTP URL will not be accepted");
      }
    }
  }
  if (!inputs.tools && !inputs.response_format) return undefined;
  if (inputs.stream) throw new Error("5006: JSON Mode and function calling do not support streaming");
  const user = textOf([...messages].reverse().find((m) => m.role === "user")?.content);
  const last = messages.at(-1);
  if (last?.role === "tool") return { response: `tool said: ${textOf(last.content)}`, usage: usage(inputs, "tool said") };
  if (inputs.tools?.length) {
    const tools = /parallel/.test(user) ? inputs.tools : inputs.tools.slice(0, 1);
    return { tool_calls: tools.map((t) => ({ name: t.name, arguments: fill(t.parameters, user) })), usage: usage(inputs, "call") };
  }
  const format = inputs.response_format;
  return { response: format.type === "json_schema" ? fill(format.json_schema, user) : { echo: user }, usage: usage(inputs, "json") };
}

function limit(text, maxTokens) {
  const words = text.split(" ");
  return maxTokens !== undefined && words.length > maxTokens ? words.slice(0, maxTokens).join(" ") : text;
}

function usage(inputs, text) {
  const prompt = JSON.stringify(inputs.messages ?? inputs.prompt ?? "").split(/\s+/).length;
  return { prompt_tokens: prompt, completion_tokens: text.split(" ").length, total_tokens: prompt + text.split(" ").length };
}

function sse(events, breakAfter) {
  return new ReadableStream({
    async start(controller) {
      for (const [i, event] of events.entries()) {
        if (breakAfter !== undefined && i === breakAfter) {
          controller.error(new Error("Network connection lost."));
          return;
        }
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
        await new Promise((r) => setTimeout(r, 1));
      }
      controller.enqueue(encoder.encode("data: [DONE]\n\n"));
      controller.close();
    },
  });
}

export class FakeAi extends WorkerEntrypoint {
  async run(model, inputs, options = {}) {
    {
      if (model === "@fake/calls") {
        const out = calls;
        calls = [];
        return out;
      }
      calls.push({ model, inputs, gateway: options.gateway ?? null });
      if (model.startsWith("@cf/nope/")) throw new Error(`5007: No such model ${model} or task`);
      if (model.endsWith("-capacity-once") && !seen.has(model)) {
        seen.add(model);
        throw new Error("3040: Capacity temporarily exceeded, please try again.");
      }
      if (model.endsWith("-hang")) {
        // Busy for a minute (a pending timer, so the runtime does not flag a dead promise), unless aborted.
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 60_000);
          options.signal?.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          });
        });
        throw new Error("aborted");
      }

      if (/reranker/.test(model)) {
        const scores = inputs.contexts.map((c, id) => ({ id, score: c.text.length / 100 }));
        return { response: scores.sort((a, b) => b.score - a.score) };
      }
      if (/bge-/.test(model)) {
        const texts = Array.isArray(inputs.text) ? inputs.text : [inputs.text];
        return { shape: [texts.length, 8], data: texts.map(fakeVector8), pooling: "mean" };
      }
      if (/sst-2/.test(model)) {
        const positive = /good|great|love/i.test(inputs.text) ? 0.98 : 0.03;
        return [
          { label: "NEGATIVE", score: 1 - positive },
          { label: "POSITIVE", score: positive },
        ];
      }
      const answer = structured(inputs);
      if (answer) return answer;
      const text = limit(replyFor(inputs), inputs.max_tokens);
      if (inputs.stream) {
        const pieces = text.split(/(?<= )/).map((response) => ({ response, p: "abc" }));
        pieces.push({ response: "", usage: usage(inputs, text) });
        return sse(pieces, model.endsWith("-broken-stream") ? 2 : undefined);
      }
      return { response: text, usage: usage(inputs, text) };
    }
  }
}

export default {
  fetch() {
    return new Response("fake Workers AI: use the FakeAi entrypoint", { status: 404 });
  },
};
