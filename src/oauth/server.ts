/**
 * OAuth 2.1 for MCP clients, with @cloudflare/workers-oauth-provider's
 * authorization server in this Worker: dynamic client registration, PKCE
 * (S256 only), tokens bound to this gateway's /mcp URL, refresh rotation. The
 * issuer and the resource are fixed URLs, so they come from the PUBLIC_URL var
 * (never from a request's Host header); the server is built once per isolate.
 */
import { GrantType, OAuthAuthorizationServer } from "@cloudflare/workers-oauth-provider";
import { GatewayError } from "../errors";
import { settings } from "../settings";

export const MCP_SCOPE = "mcp";
/** Refresh tokens: issued only on grants whose client asked for this scope. */
export const OFFLINE_SCOPE = "offline_access";
/**
 * A dynamically registered client that is not used for this long is dropped
 * (each token exchange renews it past half its life), so registrations nobody
 * uses do not pile up in KV.
 */
export const CLIENT_REGISTRATION_TTL_S = 30 * 24 * 3600;

/** What a grant remembers: the tenant and the key (and so the role) that consented. */
export interface GrantProps {
  tenantId: string;
  keyId: string;
}

let built: { url: string; server: OAuthAuthorizationServer<Env>; resource: string } | undefined;

export function publicUrl(env: Env): string {
  const raw = settings(env).publicUrl;
  if (!raw) throw new GatewayError("internal", "PUBLIC_URL is not set: the gateway needs its public URL to issue OAuth tokens.");
  return raw;
}

export function oauth(env: Env): { server: OAuthAuthorizationServer<Env>; resource: string; issuer: string } {
  const url = publicUrl(env);
  if (built?.url !== url) {
    const resource = `${url}/mcp`;
    built = {
      url,
      resource,
      server: new OAuthAuthorizationServer<Env>({
        issuer: url,
        resources: [resource],
        authorizeEndpoint: "/authorize",
        tokenEndpoint: "/oauth/token",
        clientRegistrationEndpoint: "/oauth/register",
        scopesSupported: [MCP_SCOPE, OFFLINE_SCOPE],
        clientRegistrationTTL: CLIENT_REGISTRATION_TTL_S,
        // No refresh token on a grant without offline_access: the client did not ask to stay signed in.
        tokenExchangeCallback: ({ grantType, scope }) =>
          grantType === GrantType.AUTHORIZATION_CODE && !scope.includes(OFFLINE_SCOPE) ? { refreshTokenTTL: 0 } : undefined,
        // Client ID Metadata Documents, MCP 2026-07-28's preferred registration; DCR stays for older clients.
        clientIdMetadataDocumentEnabled: true,
        accessTokenTTL: 3600,
      }),
    };
  }
  return { server: built.server, resource: built.resource, issuer: url };
}
