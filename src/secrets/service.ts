/**
 * The tenant secret store, Worker side: encrypt here, store the ciphertext in
 * the tenant's Durable Object. The value lives only in this request's memory:
 * it is never returned, logged, audited or put in an error message.
 */
import type { Context } from "hono";
import { z } from "zod";
import { RESERVED_SECRETS, SecretHosts, SecretName } from "../config/secrets";
import { TenantClient } from "../tenants/client";
import type { SecretInfo } from "../durable/secret-store";
import { GatewayError } from "../errors";
import { parseOrThrow } from "../http/validation";
import type { TenantScope } from "../tenants/scope";
import { seal, type SealedSecret, unseal } from "./crypto";
import { keyring } from "./keyring";

export const MAX_SECRET_CHARS = 8192;

export const PutSecretBody = z.strictObject({
  // Shorter values could not be told apart from ordinary text when redacting upstream messages.
  value: z.string().min(8, "must be at least 8 characters").max(MAX_SECRET_CHARS, `must be at most ${MAX_SECRET_CHARS} characters`),
  hosts: SecretHosts,
});

/** A secret's JSON body is small: room for 8192 characters escaped as \uXXXX, and the hosts. */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * Read `PUT /secrets/:name`'s body. Unlike the shared `readJson`, a JSON syntax
 * error is reported without the parser's message, which quotes the input (the value).
 */
export async function readSecretBody(c: Context): Promise<z.output<typeof PutSecretBody>> {
  const tooLarge = () => new GatewayError("payload_too_large", `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
  if (Number(c.req.header("content-length") ?? "0") > MAX_BODY_BYTES) throw tooLarge();
  const text = await c.req.text();
  if (new TextEncoder().encode(text).byteLength > MAX_BODY_BYTES) throw tooLarge();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new GatewayError("invalid_request", 'Request body is not valid JSON; send {"value": "...", "hosts": ["<host>"]}.');
  }
  return parseOrThrow(PutSecretBody, json);
}

/** A secret name from the path; the gateway's own secret names are refused. */
export function secretName(raw: string): string {
  const name = parseOrThrow(SecretName, raw, "name");
  if (RESERVED_SECRETS.has(name)) throw new GatewayError("invalid_request", `name: ${name} is reserved for the gateway's own secrets.`);
  return name;
}

export async function putSecret(scope: TenantScope, name: string, body: z.output<typeof PutSecretBody>): Promise<SecretInfo> {
  scope.requireAdmin();
  const { current } = await keyring(scope.env);
  const sealed = await seal(current, scope.tenantId, name, body.value);
  return scope.audited("secret.put", name, { hosts: body.hosts }, () => scope.tenant.putSecret({ name, hosts: body.hosts, sealed }));
}

export async function deleteSecret(scope: TenantScope, name: string): Promise<{ name: string; deleted: true }> {
  scope.requireAdmin();
  await scope.audited("secret.delete", name, undefined, () => scope.tenant.deleteSecret(name));
  return { name, deleted: true };
}

export interface RotationReport {
  tenant_id: string;
  key_id: string;
  reencrypted: number;
  already_current: number;
  /** Secrets no configured key opens (their key is gone, or they were altered): store them again. */
  failed: string[];
}

/**
 * Re-encrypt a tenant's secrets under the current SECRETS_KEY: each one under
 * another key is opened with the key its id names (SECRETS_KEY_PREVIOUS, in a
 * rotation) and sealed again. The tenant id is the operator's, not the stored one.
 */
export async function rotateSecrets(env: Env, tenantId: string): Promise<RotationReport> {
  const keys = await keyring(env);
  const tenant = TenantClient.operator(env, tenantId);
  const updates: { name: string; previous_iv: ArrayBuffer; sealed: SealedSecret }[] = [];
  const failed: string[] = [];
  let current = 0;
  for (const secret of await tenant.sealedSecrets()) {
    if (!secret.sealed) continue;
    if (secret.sealed.key_id === keys.current.id) {
      current += 1;
      continue;
    }
    try {
      const value = await unseal(keys.all, tenantId, secret.name, secret.sealed);
      updates.push({ name: secret.name, previous_iv: secret.sealed.iv, sealed: await seal(keys.current, tenantId, secret.name, value) });
    } catch {
      failed.push(secret.name);
    }
  }
  const reencrypted = updates.length > 0 ? await tenant.resealSecrets(updates) : 0;
  return { tenant_id: tenantId, key_id: keys.current.id, reencrypted, already_current: current, failed };
}
