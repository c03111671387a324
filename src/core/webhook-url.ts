import { ApiError } from "../errors/problem";

// Where webhooks may go. A webhook URL makes our Worker send requests on an administrator's behalf,
// so anything that is not a public https endpoint is refused: loopback, private networks, link-local
// and cloud metadata services (SSRF). The URL parser has already canonicalised the host (IPv4 in
// decimal/hex/short forms becomes dotted decimal, IPv6 is compressed hex), so the checks below see one
// spelling per address. A public name that resolves to a private address cannot be caught here (no DNS
// in Workers); Cloudflare's edge does not route fetches to private addresses.

export type WebhookUrlRule =
  | "not_a_url"
  | "credentials"
  | "scheme"
  | "https_required"
  | "loopback"
  | "private_address"
  | "link_local"
  | "metadata"
  | "shared_address_space"
  | "ipv4_mapped"
  | "unspecified"
  | "reserved"
  | "internal_hostname";

export type WebhookUrlVerdict = { ok: true; url: string } | { ok: false; rule: WebhookUrlRule; reason: string };

type HostVerdict = { rule: WebhookUrlRule; reason: string } | null;

const METADATA_HOSTS = new Set([
  "metadata.google.internal",
  "metadata.goog",
  "metadata",
  "instance-data",
  "instance-data.ec2.internal",
]);
const METADATA_IPV4 = new Set(["169.254.169.254", "169.254.170.2", "100.100.100.200"]);

/** Suffixes that never resolve on the public internet (RFC 6761, RFC 6762 appendix G, RFC 8375). */
const INTERNAL_SUFFIXES = [".local", ".internal", ".localdomain", ".home.arpa", ".intranet", ".private", ".corp", ".home", ".lan"];

/** Decides whether a webhook may be sent to `raw`; on success returns the URL as the parser normalised it. */
export function judgeWebhookUrl(raw: string, options: { allowLoopback: boolean }): WebhookUrlVerdict {
  const url = URL.parse(raw.trim());
  if (!url || url.host === "") {
    return { ok: false, rule: "not_a_url", reason: "it is not an absolute URL (expected https://host/path)" };
  }
  if (url.username !== "" || url.password !== "") {
    return {
      ok: false,
      rule: "credentials",
      reason: "it contains a user name or password; remove them and authenticate webhooks by their signature",
    };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, rule: "scheme", reason: `the scheme '${url.protocol.slice(0, -1)}' is not https` };
  }
  const host = url.hostname.replace(/\.+$/, "");
  if (options.allowLoopback && (host === "127.0.0.1" || host === "localhost")) return { ok: true, url: url.href };
  const verdict = judgeHost(host);
  if (verdict) return { ok: false, ...verdict };
  if (url.protocol !== "https:") {
    return { ok: false, rule: "https_required", reason: "it uses http; webhooks are only sent over https" };
  }
  return { ok: true, url: url.href };
}

/** The normalised URL, or a 422 `webhook_url_not_allowed` naming the rule it breaks. */
export function checkWebhookUrl(raw: string, options: { allowLoopback: boolean; field?: string }): string {
  const verdict = judgeWebhookUrl(raw, options);
  if (verdict.ok) return verdict.url;
  return rejectWebhookUrl(verdict.rule, verdict.reason, options.field ?? "webhook_url");
}

function rejectWebhookUrl(rule: WebhookUrlRule, reason: string, field: string): never {
  throw new ApiError(
    "webhook_url_not_allowed",
    `${field} is not allowed (rule '${rule}'): ${reason}. Use a public https URL.`,
    { extensions: { rule }, errors: [{ location: "body", pointer: `/${field}`, detail: reason }] },
  );
}

function judgeHost(host: string): HostVerdict {
  if (host.startsWith("[")) {
    const groups = parseIpv6(host.slice(1, -1));
    return groups ? judgeIpv6(groups) : { rule: "not_a_url", reason: `'${host}' is not a valid IPv6 address` };
  }
  const ipv4 = parseIpv4(host);
  if (ipv4) return judgeIpv4(ipv4);
  return judgeHostname(host);
}

function judgeHostname(host: string): HostVerdict {
  if (host === "localhost" || host.endsWith(".localhost")) {
    return { rule: "loopback", reason: `'${host}' is this machine (loopback)` };
  }
  if (METADATA_HOSTS.has(host)) return { rule: "metadata", reason: `'${host}' is a cloud metadata service` };
  if (!host.includes(".")) {
    return { rule: "internal_hostname", reason: `'${host}' is a single-label name, not a public DNS name` };
  }
  const suffix = INTERNAL_SUFFIXES.find((candidate) => host.endsWith(candidate));
  if (suffix) return { rule: "internal_hostname", reason: `'${host}' is under '${suffix}', which is not public DNS` };
  return null;
}

function parseIpv4(host: string): number[] | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!match) return null;
  const octets = match.slice(1).map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

function judgeIpv4(octets: number[]): HostVerdict {
  const [a, b, c] = octets as [number, number, number, number];
  const address = octets.join(".");
  if (METADATA_IPV4.has(address)) return { rule: "metadata", reason: `${address} is a cloud metadata service` };
  if (a === 0) return { rule: "unspecified", reason: `${address} is in 0.0.0.0/8 ("this network")` };
  if (a === 127) return { rule: "loopback", reason: `${address} is a loopback address` };
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) {
    return { rule: "private_address", reason: `${address} is a private (RFC 1918) address` };
  }
  if (a === 169 && b === 254) return { rule: "link_local", reason: `${address} is a link-local address` };
  if (a === 100 && b >= 64 && b <= 127) {
    return { rule: "shared_address_space", reason: `${address} is in 100.64.0.0/10 (carrier-grade NAT)` };
  }
  const reserved =
    (a === 192 && b === 0 && (c === 0 || c === 2)) ||
    (a === 192 && b === 88 && c === 99) ||
    (a === 198 && (b === 18 || b === 19)) ||
    (a === 198 && b === 51 && c === 100) ||
    (a === 203 && b === 0 && c === 113) ||
    a >= 224;
  if (reserved) return { rule: "reserved", reason: `${address} is a reserved, documentation or multicast address` };
  return null;
}

/** Eight 16-bit groups of a compressed-hex IPv6 address (the form the URL parser serialises), or null. */
export function parseIpv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string | undefined) => (part ? part.split(":") : []);
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return null;
  return groups.map((group) => parseInt(group, 16));
}

function judgeIpv6(groups: number[]): HostVerdict {
  const g = groups as [number, number, number, number, number, number, number, number];
  const address = `[${groups.map((group) => group.toString(16)).join(":")}]`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((group) => group === 0);
  const embeddedIpv4 = (high: number, low: number) => [high >> 8, high & 0xff, low >> 8, low & 0xff];

  if (zeros(0, 8)) return { rule: "unspecified", reason: `${address} is the unspecified address` };
  if (zeros(0, 7) && g[7] === 1) return { rule: "loopback", reason: `${address} is the IPv6 loopback address` };
  if (zeros(0, 5) && g[5] === 0xffff) {
    return { rule: "ipv4_mapped", reason: `${address} is an IPv4-mapped IPv6 address; use the IPv4 address or a DNS name` };
  }
  if (zeros(0, 6)) return { rule: "reserved", reason: `${address} is a deprecated IPv4-compatible IPv6 address` };
  if (g[0] === 0xfd00 && g[1] === 0x0ec2 && zeros(2, 7) && g[7] === 0x254) {
    return { rule: "metadata", reason: `${address} is a cloud metadata service` };
  }
  // NAT64 and 6to4 carry an IPv4 address inside: judge that address.
  if (g[0] === 0x64 && g[1] === 0xff9b && (zeros(2, 6) || g[2] === 1)) {
    const inner = judgeIpv4(embeddedIpv4(g[6], g[7]));
    if (inner) return { rule: inner.rule, reason: `${address} (NAT64) embeds an IPv4 address: ${inner.reason}` };
  }
  if (g[0] === 0x2002) {
    const inner = judgeIpv4(embeddedIpv4(g[1], g[2]));
    if (inner) return { rule: inner.rule, reason: `${address} (6to4) embeds an IPv4 address: ${inner.reason}` };
  }
  if ((g[0] & 0xfe00) === 0xfc00) return { rule: "private_address", reason: `${address} is a unique local (private) address` };
  if ((g[0] & 0xffc0) === 0xfe80) return { rule: "link_local", reason: `${address} is a link-local address` };
  if ((g[0] & 0xffc0) === 0xfec0) return { rule: "private_address", reason: `${address} is a site-local (private) address` };
  if (g[0] === 0x2001 && g[1] === 0x0db8) return { rule: "reserved", reason: `${address} is a documentation address` };
  if ((g[0] & 0xe000) !== 0x2000 && !(g[0] === 0x64 && g[1] === 0xff9b)) {
    return { rule: "reserved", reason: `${address} is not a global unicast address` };
  }
  return null;
}
