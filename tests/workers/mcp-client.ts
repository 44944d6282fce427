/**
 * A real MCP client (`@modelcontextprotocol/client` 2.4.0, the stateless
 * 2026-07-28 protocol) inside workerd, talking to the Worker through its own
 * fetch handler, for tests that check what a client sees of tool schemas and
 * results (validation, resource links).
 */
import { exports } from "cloudflare:workers";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

export async function connectClient(key: string): Promise<Client> {
  const client = new Client({ name: "workers-test", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  const transport = new StreamableHTTPClientTransport(new URL("http://localhost/mcp"), {
    requestInit: { headers: { authorization: `Bearer ${key}`, host: "localhost" } },
    fetch: (input, init) => exports.default.fetch(new Request(input, init)),
  });
  await client.connect(transport);
  return client;
}
