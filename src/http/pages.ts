/**
 * Headers for the gateway's own HTML pages (consent, status): no scripts at
 * all, inline styles only, forms only to this origin, never framed, never
 * cached, no referrer leaking URLs.
 *
 * `formActions` adds sources a form on the page may navigate to. Browsers that
 * follow CSP Level 3 (Chrome, Edge, Safari) check `form-action` on every
 * redirect of a form submission too, so the consent page names the one
 * redirect origin its answer sends the browser to (src/oauth/consent.ts).
 */
export function pageSecurityHeaders(options: { formActions?: readonly string[] } = {}): Record<string, string> {
  const formAction = ["'self'", ...(options.formActions ?? [])].join(" ");
  return {
    "content-security-policy": `default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
  };
}

export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = pageSecurityHeaders();
