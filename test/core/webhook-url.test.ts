import { describe, expect, it } from "vitest";
import { checkWebhookUrl, judgeWebhookUrl, parseIpv6 } from "../../src/core/webhook-url";
import { ApiError } from "../../src/errors/problem";

const production = { allowLoopback: false };
const localDev = { allowLoopback: true };

function ruleOf(url: string, options = production) {
  const verdict = judgeWebhookUrl(url, options);
  return verdict.ok ? "allowed" : verdict.rule;
}

describe("webhook URL policy", () => {
  it.each([
    ["https://hooks.example.com/edge-inbox", "https://hooks.example.com/edge-inbox"],
    ["https://Hooks.Example.COM:8443/a?b=c", "https://hooks.example.com:8443/a?b=c"],
    ["https://8.8.8.8/hook", "https://8.8.8.8/hook"],
    ["https://[2606:4700:4700::1111]/hook", "https://[2606:4700:4700::1111]/hook"],
    ["  https://example.org  ", "https://example.org/"],
  ])("allows the public https URL %s", (url, normalised) => {
    expect(judgeWebhookUrl(url, production)).toEqual({ ok: true, url: normalised });
  });

  it.each([
    ["not a url", "not_a_url"],
    ["", "not_a_url"],
    ["/relative/path", "not_a_url"],
    ["https://", "not_a_url"],
    ["https://999.1.1.1/", "not_a_url"],
    ["https://user:pass@example.com/hook", "credentials"],
    ["https://token@example.com/hook", "credentials"],
    ["ftp://example.com/hook", "scheme"],
    ["javascript:alert(1)", "not_a_url"],
    ["http://example.com/hook", "https_required"],
    ["https://localhost/hook", "loopback"],
    ["https://api.localhost/hook", "loopback"],
    ["https://localhost./hook", "loopback"],
    ["https://127.0.0.1/hook", "loopback"],
    ["https://127.1/hook", "loopback"],
    ["https://2130706433/hook", "loopback"],
    ["https://0x7f000001/hook", "loopback"],
    ["https://[::1]/hook", "loopback"],
    ["https://0.0.0.0/hook", "unspecified"],
    ["https://[::]/hook", "unspecified"],
    ["https://10.1.2.3/hook", "private_address"],
    ["https://172.16.0.1/hook", "private_address"],
    ["https://172.31.255.255/hook", "private_address"],
    ["https://192.168.1.1/hook", "private_address"],
    ["https://[fd12:3456::1]/hook", "private_address"],
    ["https://[fc00::1]/hook", "private_address"],
    ["https://169.254.1.1/hook", "link_local"],
    ["https://[fe80::1]/hook", "link_local"],
    ["https://169.254.169.254/latest/meta-data", "metadata"],
    ["http://169.254.169.254/latest/meta-data", "metadata"],
    ["https://metadata.google.internal/computeMetadata/v1", "metadata"],
    ["https://[fd00:ec2::254]/", "metadata"],
    ["https://100.100.100.200/", "metadata"],
    ["https://100.64.0.1/hook", "shared_address_space"],
    ["https://100.127.255.254/hook", "shared_address_space"],
    ["https://[::ffff:127.0.0.1]/hook", "ipv4_mapped"],
    ["https://[::ffff:8.8.8.8]/hook", "ipv4_mapped"],
    ["https://[64:ff9b::10.0.0.1]/hook", "private_address"],
    ["https://[2002:a9fe:a9fe::1]/hook", "metadata"],
    ["https://224.0.0.1/hook", "reserved"],
    ["https://255.255.255.255/hook", "reserved"],
    ["https://192.0.2.10/hook", "reserved"],
    ["https://[2001:db8::1]/hook", "reserved"],
    ["https://[ff02::1]/hook", "reserved"],
    ["https://intranet/hook", "internal_hostname"],
    ["https://printer.local/hook", "internal_hostname"],
    ["https://api.corp/hook", "internal_hostname"],
    ["https://router.home.arpa/hook", "internal_hostname"],
  ])("refuses %s by rule %s", (url, rule) => {
    expect(ruleOf(url)).toBe(rule);
  });

  it("keeps public neighbours of refused ranges allowed", () => {
    for (const url of ["https://172.15.255.255/", "https://172.32.0.1/", "https://100.63.255.255/", "https://100.128.0.1/", "https://169.253.1.1/", "https://11.0.0.1/", "https://[2a00:1450::1]/"]) {
      expect(ruleOf(url), url).toBe("allowed");
    }
  });

  it("with ALLOW_LOOPBACK_WEBHOOKS allows http(s) to 127.0.0.1 and localhost only", () => {
    expect(judgeWebhookUrl("http://127.0.0.1:8787/hook", localDev)).toEqual({ ok: true, url: "http://127.0.0.1:8787/hook" });
    expect(ruleOf("https://localhost:3000/hook", localDev)).toBe("allowed");
    expect(ruleOf("http://localhost/hook", localDev)).toBe("allowed");
    expect(ruleOf("http://127.0.0.2/hook", localDev)).toBe("loopback");
    expect(ruleOf("http://[::1]/hook", localDev)).toBe("loopback");
    expect(ruleOf("http://10.0.0.1/hook", localDev)).toBe("private_address");
    expect(ruleOf("http://169.254.169.254/", localDev)).toBe("metadata");
    expect(ruleOf("http://example.com/hook", localDev)).toBe("https_required");
    expect(ruleOf("http://user:pw@127.0.0.1/hook", localDev)).toBe("credentials");
  });

  it("checkWebhookUrl throws a 422 naming the rule, without echoing credentials", () => {
    let thrown: unknown;
    try {
      checkWebhookUrl("https://alice:s3cret@example.com/", production);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    const error = thrown as ApiError;
    expect(error.status).toBe(422);
    expect(error.code).toBe("webhook_url_not_allowed");
    expect(error.extensions.rule).toBe("credentials");
    expect(error.detail).toContain("credentials");
    expect(error.detail).not.toContain("s3cret");
    expect(error.errors?.[0]?.pointer).toBe("/webhook_url");
  });

  it("parses compressed IPv6 the way the URL parser writes it", () => {
    expect(parseIpv6("::1")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("fe80::1:2")).toEqual([0xfe80, 0, 0, 0, 0, 0, 1, 2]);
    expect(parseIpv6("1:2:3:4:5:6:7:8")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIpv6("1::2::3")).toBeNull();
    expect(parseIpv6("1:2:3")).toBeNull();
  });
});
