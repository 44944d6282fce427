/**
 * The keys that protect tenant secrets, from Worker secrets: `SECRETS_KEY`
 * (encrypts everything new) and, during a rotation, `SECRETS_KEY_PREVIOUS`
 * (still decrypts what it encrypted until `POST /api/v1/tenants/:id/secrets/rotate`
 * re-encrypts it). Both imported once per isolate (see `crypto.ts`).
 */
import { importSecretsKey, type SecretKey } from "./crypto";

export interface Keyring {
  current: SecretKey;
  previous: SecretKey | null;
  /** Current first: the order decryption looks keys up in. */
  all: SecretKey[];
}

/**
 * A Worker secret that may be absent. `SECRETS_KEY_PREVIOUS` is set only while
 * rotating, so it is not in `wrangler.toml`/`.dev.vars.example` and hence not in
 * the generated `Env` type; read it here, typed, in one place.
 */
export function optionalSecret(env: Env, name: string): string | undefined {
  const value: unknown = Reflect.get(env, name);
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * The current key (required: without it no secret can be stored or opened) and
 * the previous one. An unusable previous key is left out rather than failing
 * every call: what it encrypted then reports that its key is missing.
 */
export async function keyring(env: Env): Promise<Keyring> {
  const current = await importSecretsKey(optionalSecret(env, "SECRETS_KEY") ?? "", "SECRETS_KEY");
  const previousText = optionalSecret(env, "SECRETS_KEY_PREVIOUS");
  const previous =
    previousText === undefined
      ? null
      : await importSecretsKey(previousText, "SECRETS_KEY_PREVIOUS").catch((error: unknown) => {
          console.error("SECRETS_KEY_PREVIOUS ignored:", error instanceof Error ? error.message : "unusable");
          return null;
        });
  return { current, previous, all: previous && previous.id !== current.id ? [current, previous] : [current] };
}
