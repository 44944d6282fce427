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
      // Cancelled before `done` runs: what `done` does (an abort) cannot then fail the cancel.
      const cancelled = reader.cancel(reason);
      await done();
      return cancelled;
    },
  });
}
