/**
 * A backend Worker for the gateway's `worker` backend type: it serves the
 * models of an OpenAI-compatible upstream (UPSTREAM_BASE_URL, with the key
 * UPSTREAM_API_KEY, which never leaves this Worker) over Workers RPC.
 *
 * The gateway calls the methods of `OpenAIBackend` through a service binding
 * and checks every answer against the contract (src/backends/contract.ts):
 * `describe` says what a model serves, `healthCheck` spends no tokens,
 * `chat` / `complete` answer whole or, with `stream: true`, as a ReadableStream
 * of NDJSON lines, `embed` returns one vector per input. A failure is thrown
 * as `backendError(code, message)`: the code tells the gateway whether to
 * retry, go to a fallback or answer at once.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { EventSourceParserStream } from "eventsource-parser/stream";
import {
  backendError,
  type BackendContract,
  type Classification,
  type Embeddings,
  type Generation,
  type WorkerChatRequest,
  type WorkerClassificationRequest,
  type WorkerCompletionRequest,
  type WorkerDescription,
  type WorkerEmbeddingRequest,
  type WorkerHealth,
  WORKER_PARAMS,
} from "../../../src/backends/contract";
import { generation, openAIMessages, streamEvent, upstreamError } from "./openai";

interface BackendEnv {
  UPSTREAM_BASE_URL: string;
  UPSTREAM_API_KEY?: string;
  /** Comma-separated names of the upstream's embedding models. */
  EMBEDDING_MODELS?: string;
}

/** An OpenAI-compatible upstream takes every parameter the contract names (OpenAI's own names). */
const CHAT_PARAMS: WorkerDescription["params"] = [...WORKER_PARAMS];

export class OpenAIBackend extends WorkerEntrypoint<BackendEnv> implements BackendContract {
  async describe(model: string | null): Promise<WorkerDescription> {
    if (this.isEmbedding(model)) return { capabilities: ["embedding"], features: [], params: [] };
    return { capabilities: ["chat", "completion"], features: ["tools", "json_schema"], params: CHAT_PARAMS };
  }

  /** The upstream's model list (no tokens spent): up, and serving this model. */
  async healthCheck(model: string | null): Promise<WorkerHealth> {
    const response = await this.upstream("GET", "/models");
    const body: { data?: { id: string }[] } = await response.json();
    const ids = body.data?.map((m) => m.id) ?? [];
    if (model && ids.length > 0 && !ids.includes(model)) return { ok: false, detail: `${model} is not in the upstream's model list` };
    return { ok: true, detail: null };
  }

  async chat(request: WorkerChatRequest): Promise<Generation | ReadableStream<Uint8Array>> {
    const { model, stream, messages, ...params } = request;
    const body = { ...params, model: this.modelName(model), messages: openAIMessages(messages) };
    return this.generate("/chat/completions", body, stream);
  }

  async complete(request: WorkerCompletionRequest): Promise<Generation | ReadableStream<Uint8Array>> {
    const { model, stream, ...params } = request;
    return this.generate("/completions", { ...params, model: this.modelName(model) }, stream);
  }

  async embed(request: WorkerEmbeddingRequest): Promise<Embeddings> {
    const response = await this.upstream("POST", "/embeddings", { model: this.modelName(request.model), input: request.input });
    const body: { data?: { index: number; embedding: number[] }[]; usage?: { prompt_tokens?: number } } = await response.json();
    const vectors = [...(body.data ?? [])].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    return { embeddings: vectors, usage: { prompt_tokens: body.usage?.prompt_tokens ?? null } };
  }

  async classify(_request: WorkerClassificationRequest): Promise<Classification> {
    // describe() never declares classification, so the gateway never calls this; say so if someone does.
    throw backendError("invalid_request", "this backend serves chat, completion and embedding models, not classification");
  }

  /** A generation, whole or as NDJSON lines of the contract's stream events. */
  private async generate(path: string, body: Record<string, unknown>, stream: boolean): Promise<Generation | ReadableStream<Uint8Array>> {
    if (!stream) return generation(await (await this.upstream("POST", path, body)).json());
    const response = await this.upstream("POST", path, { ...body, stream: true, stream_options: { include_usage: true } });
    if (!response.body) throw backendError("unavailable", "the upstream sent no stream");
    const encoder = new TextEncoder();
    return response.body
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream())
      .pipeThrough(
        new TransformStream<{ data: string }, Uint8Array>({
          transform({ data }, controller) {
            if (data.trim() === "[DONE]") return;
            const event = streamEvent(JSON.parse(data));
            if (event) controller.enqueue(encoder.encode(`${JSON.stringify(event)}\n`));
          },
        }),
      );
  }

  /** One upstream call; a network failure or an HTTP error becomes a coded error. */
  private async upstream(method: "GET" | "POST", path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.env.UPSTREAM_API_KEY) headers.authorization = `Bearer ${this.env.UPSTREAM_API_KEY}`;
    let response: Response;
    try {
      response = await fetch(`${this.env.UPSTREAM_BASE_URL.replace(/\/+$/, "")}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw backendError("unavailable", `the upstream is unreachable: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!response.ok) throw await upstreamError(response);
    return response;
  }

  private modelName(model: string | null): string {
    if (!model) throw backendError("invalid_request", 'name the upstream model in the model config ("model": "...")');
    return model;
  }

  private isEmbedding(model: string | null): boolean {
    const names = (this.env.EMBEDDING_MODELS ?? "").split(",").map((name) => name.trim());
    return model !== null && names.includes(model);
  }
}

/** Reached over RPC only: a plain HTTP request gets a pointer to the docs. */
export default {
  fetch: () => new Response("This Worker is a backend of the MCP model gateway, called over a service binding (Workers RPC).\n", { status: 404 }),
};
