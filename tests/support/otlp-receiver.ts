/**
 * A real OTLP/HTTP trace receiver for the e2e tests: an HTTP server on
 * 127.0.0.1 that decodes what it is sent with OpenTelemetry's own JS packages
 * (protobuf: the generated OTLP message classes of
 * `@opentelemetry/otlp-transformer` 0.57, installed as `otlp-transformer-0.57`;
 * JSON: OTLP/JSON as the spec writes it) and keeps every byte it received.
 * `mode` makes it misbehave: "hang" never answers, "fail" answers 500.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const root = require("otlp-transformer-0.57/build/src/generated/root.js") as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: ProtoMessage } } } } };
};
interface ProtoMessage {
  decode(bytes: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): Record<string, unknown>;
}
const ExportTraceServiceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

export interface ReceivedSpan {
  tenant: unknown;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
  events: string[];
  statusCode: number;
}

export interface Received {
  contentType: string;
  headers: IncomingMessage["headers"];
  bytes: Buffer;
  spans: ReceivedSpan[];
}

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: AnyValue[] } };
type KeyValue = { key: string; value: AnyValue };

function valueOf(value: AnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(valueOf);
  return undefined;
}

const attributesOf = (list: KeyValue[] | undefined) => Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
const hex = (value: unknown) => (typeof value === "string" ? value : Buffer.from(value as Uint8Array).toString("hex"));

/** OTLP's ExportTraceServiceRequest (protobuf decoded to an object, or JSON) as flat spans. */
function spansOf(request: Record<string, unknown>): ReceivedSpan[] {
  const resourceSpans = (request.resourceSpans ?? []) as {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: { spans?: Record<string, unknown>[] }[];
  }[];
  return resourceSpans.flatMap((rs) => {
    const tenant = attributesOf(rs.resource?.attributes)["gateway.tenant.id"];
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((span) => ({
        tenant,
        name: span.name as string,
        kind: Number(span.kind),
        traceId: hex(span.traceId),
        spanId: hex(span.spanId),
        parentSpanId: span.parentSpanId ? hex(span.parentSpanId) : "",
        attributes: attributesOf(span.attributes as KeyValue[]),
        events: ((span.events ?? []) as { name: string }[]).map((e) => e.name),
        statusCode: Number((span.status as { code?: number } | undefined)?.code ?? 0),
      })),
    );
  });
}

export class OtlpReceiver {
  readonly received: Received[] = [];
  mode: "ok" | "hang" | "fail" = "ok";
  private server!: Server;
  url = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const bytes = Buffer.concat(chunks);
        const contentType = req.headers["content-type"] ?? "";
        let spans: ReceivedSpan[];
        try {
          const request = contentType.includes("json")
            ? (JSON.parse(bytes.toString("utf8")) as Record<string, unknown>)
            : ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(bytes), { longs: String, defaults: false, arrays: true });
          spans = spansOf(request);
        } catch (error) {
          spans = [];
          console.error("OTLP receiver could not decode a request", error);
        }
        this.received.push({ contentType, headers: req.headers, bytes, spans });
        if (this.mode === "hang") return; // never answers
        res.writeHead(this.mode === "fail" ? 500 : 200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  spans(): ReceivedSpan[] {
    return this.received.flatMap((r) => r.spans);
  }

  /** Wait until `ready` holds for what was received (polling), or fail after `ms`. */
  async until<T>(what: string, ready: (spans: ReceivedSpan[]) => T | undefined | false, ms = 10_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = ready(this.spans());
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`OTLP receiver: ${what} not received within ${ms} ms; got ${JSON.stringify(this.spans().map((s) => s.name))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
