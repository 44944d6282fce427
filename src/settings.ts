/**
 * Operator settings from Worker vars, parsed once per isolate (memoized on the
 * raw value, so a changed var in tests or dev is still picked up).
 */
let parsedHosts: { raw: string; hosts: ReadonlySet<string> } | undefined;

/** ALLOWED_PRIVATE_HOSTS: hosts exempt from the URL policy and allowed over plain http. */
export function allowedPrivateHosts(env: Env): ReadonlySet<string> {
  const raw = env.ALLOWED_PRIVATE_HOSTS ?? "";
  if (parsedHosts?.raw !== raw) {
    const hosts = raw
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
    parsedHosts = { raw, hosts: new Set(hosts) };
  }
  return parsedHosts.hosts;
}
