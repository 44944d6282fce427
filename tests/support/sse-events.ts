/** Server-sent events as a test reads them: each event's `event:` name and its parsed JSON data. */
export type SseEvent = { event: string; data: Record<string, unknown> };

/** An SSE body as its events, in order (every event's data is JSON, as in the Messages and Responses APIs). */
export async function sseEvents(response: Response): Promise<SseEvent[]> {
  const text = await response.text();
  return text
    .split("\n\n")
    .filter((chunk) => chunk.trim() !== "")
    .map((chunk) => {
      const lines = chunk.split("\n");
      const event =
        lines
          .find((l) => l.startsWith("event:"))
          ?.slice(6)
          .trim() ?? "";
      const data = lines
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });
}
