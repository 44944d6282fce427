import type { TenantScope } from "../tenants/scope";

/** Hono's view of this Worker: its bindings, and what middleware hands to routes. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    scope: TenantScope;
    /** Storage round trips this request made, reported in the Server-Timing header. */
    storageTrips: number;
  };
}
