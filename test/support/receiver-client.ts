import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { Received, Scripted } from "./receiver";
import { unique } from "./api";

/** A fresh path on the test receiver, optionally scripted: `steps` answer the first requests, then `fallback`. */
export async function receiverPath(steps: Scripted[] = [], fallback: Scripted = { status: 200 }): Promise<string> {
  const path = `/hooks/${unique("r")}`;
  await script(path, steps, fallback);
  return path;
}

export async function script(path: string, steps: Scripted[], fallback: Scripted = { status: 200 }) {
  const res = await fetch(`${env.RECEIVER_URL}/__control/script`, {
    method: "POST",
    body: JSON.stringify({ path, steps, fallback }),
  });
  expect(res.status).toBe(204);
}

export async function received(path: string): Promise<Received[]> {
  const res = await fetch(`${env.RECEIVER_URL}/__control/received?path=${encodeURIComponent(path)}`);
  return (await res.json()) as Received[];
}

/** The payloads that arrived at `path`, parsed, optionally only those of one event type. */
export async function payloads(path: string, event?: string) {
  return (await received(path))
    .map((request) => ({ request, body: JSON.parse(request.body) as Record<string, any> }))
    .filter((item) => event === undefined || item.body.event === event);
}

/** Waits until `count` requests (of `event`, if given) have arrived at `path`. */
export async function waitForPayloads(path: string, count: number, event?: string, timeout = 15_000) {
  await expect
    .poll(async () => (await payloads(path, event)).length, { timeout, interval: 50 })
    .toBeGreaterThanOrEqual(count);
  return payloads(path, event);
}
