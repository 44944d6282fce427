/** The same body, calling `done` once it has ended (or failed) or its reader went away. */
export function untilEnd<T>(body: ReadableStream<T>, done: () => void | Promise<void>): ReadableStream<T> {
  const reader = body.getReader();
  return new ReadableStream<T>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (!next.done) return controller.enqueue(next.value);
        controller.close();
      } catch (error) {
        controller.error(error);
      }
      await done();
    },
    async cancel(reason) {
      await done();
      return reader.cancel(reason);
    },
  });
}
