/**
 * e2e setup file: when a test fails, print what each running `wrangler dev`
 * (tests/support/wrangler-dev.ts) printed, the end of it, so a failure comes
 * with the gateway's side. A passing run prints none of it.
 */
import { beforeEach } from "vitest";
import { liveWranglerDevs } from "./wrangler-dev";

/** The last characters of each instance's output printed on a failure. */
const TAIL_CHARS = 20_000;

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    for (const dev of liveWranglerDevs()) {
      const logs = dev.logs();
      const tail = logs.length > TAIL_CHARS ? `…${logs.slice(-TAIL_CHARS)}` : logs;
      console.error(`--- wrangler dev on ${dev.url}: its output ---\n${tail}`);
    }
  });
});
