// autocannon, reduced to the numbers the table shows.
import autocannon from "autocannon";

/**
 * Runs one load test. Options are autocannon's (url, method, headers, body, connections, duration,
 * amount, overallRate, requests…). Every response that is not 2xx counts as an error, as do socket
 * errors and timeouts (`expectStatus` names the one status that is not an error instead, e.g. 404).
 * `capSeconds` stops it early; `latencies` collects every response time (ms).
 */
export async function load(options, { capSeconds, latencies, expectStatus } = {}) {
  const started = performance.now();
  const instance = autocannon({ timeout: 30, ...options });
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
  const seconds = (performance.now() - started) / 1000;
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
  };
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
