// autocannon, reduced to the numbers the table shows.
import autocannon from "autocannon";

let serverCpu = null;

/** Where load() reads the server's CPU seconds (the Worker host's processes), or null. */
export function setServerCpuSampler(sampler) {
  serverCpu = sampler;
}

/** The server's CPU seconds so far (0 without a sampler). */
export function serverCpuSeconds() {
  return serverCpu?.() ?? 0;
}

/**
 * Runs one load test. Options are autocannon's (url, method, headers, body, connections, duration,
 * amount, overallRate, requests…). Every response that is not 2xx counts as an error, as do socket
 * errors and timeouts (`expectStatus` names the one status that is not an error instead, e.g. 404).
 * `capSeconds` stops it early; `latencies` collects every response time (ms).
 */
export async function load(options, { capSeconds, latencies, expectStatus } = {}) {
  const settled = await settle();
  const started = performance.now();
  const cpuBefore = serverCpu?.();
  // autocannon notices the end of a run at its next sample tick (sampleInt); keep that short so the
  // numbers come from the last response, not from the tick.
  const instance = autocannon({ timeout: 30, sampleInt: 100, ...options });
  let lastResponseAt = started;
  instance.on("response", () => {
    lastResponseAt = performance.now();
  });
  let capped = false;
  // `amount` runs until done; a cap keeps a slow service from stretching the run.
  const timer = capSeconds
    ? setTimeout(() => {
        capped = true;
        instance.stop();
      }, capSeconds * 1000)
    : undefined;
  if (latencies) instance.on("response", (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  const result = await instance;
  clearTimeout(timer);
  const seconds = (Math.max(lastResponseAt, started + 1) - started) / 1000;
  const cpu = serverCpu ? serverCpu() - cpuBefore : null;
  const total = result.requests.total;
  const status = statusCounts(result);
  const unexpected =
    expectStatus === undefined
      ? result.non2xx
      : Object.entries(status).reduce((sum, [code, n]) => (/^\d+$/.test(code) && Number(code) !== expectStatus ? sum + n : sum), 0);
  const errors = unexpected + result.errors + result.timeouts;
  return {
    requests: total,
    seconds: round(seconds, 2),
    rps: round(total / seconds, 1),
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    errors,
    status,
    ...(capped ? { capped } : {}),
    ...(settled ? { settled } : {}),
    ...(cpu === null
      ? {}
      : { server_cpu_pct: round((100 * cpu) / seconds, 0), server_cpu_ms_per_request: total ? round((1000 * cpu) / total, 2) : null }),
  };
}

/**
 * Waits (≤ 10 s) until the server is idle — under 5 % of one core over 250 ms — so that the work an earlier
 * step left running (deliveries, sweeps, sockets closing) is not billed to this one; reports what it waited
 * for when it had to. Without a CPU sampler it does nothing.
 */
async function settle() {
  if (!serverCpu) return undefined;
  const began = performance.now();
  let busiest = 0;
  for (;;) {
    const before = serverCpu();
    await new Promise((resolve) => setTimeout(resolve, 250));
    const share = (serverCpu() - before) / 0.25;
    if (share < 0.05) break;
    busiest = Math.max(busiest, share);
    if (performance.now() - began > 10_000) return { waited_s: round((performance.now() - began) / 1000, 1), still_busy_pct: round(100 * share, 0) };
  }
  return busiest === 0 ? undefined : { waited_s: round((performance.now() - began) / 1000, 1), busiest_pct: round(100 * busiest, 0) };
}

function statusCounts(result) {
  const counts = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) counts[code] = count;
  if (result.errors) counts.socket_errors = result.errors;
  if (result.timeouts) counts.timeouts = result.timeouts;
  return counts;
}

export function round(value, digits = 1) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** p-th percentile (0–100) of a list of numbers, nearest rank. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}
