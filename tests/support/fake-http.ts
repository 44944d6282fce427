/**
 * The small HTTP pieces every fake upstream shares. Imported with an explicit
 * `.ts` extension so the benchmark can load the fakes with Node's own type
 * stripping, which does not guess extensions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export function text(res: ServerResponse, status: number, body: string) {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The parsed body, or the raw text when it is not JSON (fakes record what they got either way). */
function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** A request as the fakes read it: the whole body already received. */
export interface FakeRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** The body as received: parsed JSON, the raw text when not JSON, undefined when empty. */
  body: unknown;
  /** The body when it is a JSON object, else `{}`: the fields a fake reads. */
  fields: Record<string, unknown>;
}

export interface FakeServer {
  url: string;
  close(): Promise<void>;
}

/** A fake on 127.0.0.1 answering with `handle`; an exception becomes a 500 (or cuts a started answer). */
export function serve(handle: (request: FakeRequest, res: ServerResponse) => Promise<void> | void, port = 0): Promise<FakeServer> {
  const server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const body = raw ? safeJson(raw) : undefined;
      await handle(
        {
          method: req.method ?? "GET",
          url: new URL(req.url ?? "/", "http://127.0.0.1"),
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
          body,
          fields: typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {},
        },
        res,
      );
    })().catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(error) });
      else res.end();
    });
  });
  return listen(server, port);
}

/** Let the client receive what was sent, then lose the connection: a stream broken mid-way. */
export async function dropConnection(res: ServerResponse): Promise<void> {
  await new Promise((r) => setTimeout(r, 20));
  res.socket?.destroy();
}

/**
 * Listen on 127.0.0.1 and hand back the URL and a close() that also drops open
 * connections (a hung or streaming request must not keep the test run alive).
 */
export async function listen(server: Server, port = 0): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
