/**
 * A loopback HTTP proxy that adds `Authorization: Bearer <token>` to every
 * request and forwards it to the gateway, streaming both ways without
 * buffering (SSE responses reach the client event by event).
 *
 * The MCP conformance CLI has no option for an Authorization header; it talks
 * to this proxy instead of the gateway.
 *
 * The Host header is forwarded as the client sent it (like a transparent
 * proxy), so the gateway's Host/Origin checks see what the client sent: the
 * dns-rebinding scenario depends on that.
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server } from "node:http";
import { listen } from "./fake-http.ts";

export interface ConformanceProxy {
  /** Base URL of the proxy, e.g. http://127.0.0.1:40001 */
  readonly url: string;
  /** How many requests went through. */
  readonly forwarded: number;
  /** Point the proxy at another upstream (after a gateway restart on a new port). */
  retarget(upstream: string): void;
  close(): Promise<void>;
}

export async function startConformanceProxy(upstream: string, token: string): Promise<ConformanceProxy> {
  let target = new URL(upstream);
  let forwarded = 0;

  const server: Server = createServer((req: IncomingMessage, res) => {
    forwarded++;
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    const outgoing = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.rawHeaders);
        res.flushHeaders();
        upstreamRes.on("data", (chunk: Buffer) => {
          res.write(chunk);
        });
        upstreamRes.on("end", () => res.end());
        upstreamRes.on("error", () => res.destroy());
      },
    );
    outgoing.on("error", (error) => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "proxy_error", message: error.message } }));
      } else {
        res.destroy();
      }
    });
    // The client went away: stop the upstream request too (cancels an open SSE stream).
    res.on("close", () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    req.pipe(outgoing);
  });
  const { url, close } = await listen(server);

  return {
    url,
    get forwarded() {
      return forwarded;
    },
    retarget(next: string) {
      target = new URL(next);
    },
    close,
  };
}
