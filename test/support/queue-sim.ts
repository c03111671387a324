// A Cloudflare Queue played out inside a test: the deliveries queue's producer binding and its consumer
// loop, with the platform's at-least-once habits made worse on purpose — messages handed to the consumer
// in random order, some delivered twice, delays honoured on a clock the test may move — and a producer
// that can be "down" (send throws, as during a queue outage).
import worker from "../../src/index";
import type { QueueMessage } from "../../src/delivery/outbox";
import { clock } from "../../src/faults";

/** The Worker's queue handler (src/index.ts routes each kind of message), as the platform calls it. */
const context = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;

type Queued = { id: string; body: QueueMessage; at: number; attempts: number };

export class SimulatedQueue {
  private queued: Queued[] = [];
  readonly dead: Queued[] = [];
  private next = 0;
  stats = { sent: 0, consumed: 0, duplicated: 0, retried: 0, refused: 0 };

  constructor(
    private readonly options: {
      /** Share of messages handed to the consumer twice (0–1). */
      duplicate?: number;
      /** Producer outage: send/sendBatch throw while true. */
      down?: () => boolean;
      maxRetries?: number;
    } = {},
  ) {}

  get size() {
    return this.queued.length;
  }

  private push(body: QueueMessage, delaySeconds = 0, attempts = 1) {
    this.queued.push({ id: `m${this.next++}`, body, at: clock.now() + delaySeconds * 1000, attempts });
  }

  /** The producer binding (env.DELIVERIES). */
  readonly binding = {
    send: async (body: QueueMessage, options?: { delaySeconds?: number }) => {
      if (this.options.down?.()) {
        this.stats.refused += 1;
        throw new Error("Queue send failed: service unavailable");
      }
      this.stats.sent += 1;
      this.push(body, options?.delaySeconds);
    },
    sendBatch: async (messages: Iterable<{ body: QueueMessage; delaySeconds?: number }>) => {
      if (this.options.down?.()) {
        this.stats.refused += 1;
        throw new Error("Queue send failed: service unavailable");
      }
      for (const message of messages) {
        this.stats.sent += 1;
        this.push(message.body, message.delaySeconds);
      }
    },
  };

  /** Puts messages in directly (what a request published before the test's troubles began). */
  preload(bodies: QueueMessage[]) {
    for (const body of bodies) this.push(body);
  }

  /** Loses the queued messages that match (a crash of the local queue); returns how many. */
  async drop(match: (body: QueueMessage) => boolean): Promise<number> {
    const before = this.queued.length;
    this.queued = this.queued.filter((message) => !match(message.body));
    return before - this.queued.length;
  }

  /** Up to `max` due messages, picked at random (the queue keeps no order); some stay behind as duplicates. */
  private take(max: number): Queued[] {
    const now = clock.now();
    const due = this.queued.filter((message) => message.at <= now);
    const picked: Queued[] = [];
    while (picked.length < max && due.length > 0) {
      const [message] = due.splice(Math.floor(Math.random() * due.length), 1);
      picked.push(message!);
    }
    this.queued = this.queued.filter((message) => !picked.includes(message));
    for (const message of picked) {
      if (Math.random() < (this.options.duplicate ?? 0)) {
        this.stats.duplicated += 1;
        this.queued.push({ ...message, id: `m${this.next++}`, at: now + Math.random() * 200 });
      }
    }
    return picked;
  }

  nextDueAt(): number | undefined {
    return this.queued.reduce<number | undefined>((min, message) => (min === undefined || message.at < min ? message.at : min), undefined);
  }

  private batch(messages: Queued[], queue: string): MessageBatch<QueueMessage> {
    const maxRetries = this.options.maxRetries ?? 100;
    return {
      queue,
      messages: messages.map((message) => ({
        id: message.id,
        timestamp: new Date(),
        body: message.body,
        attempts: message.attempts,
        ack: () => {
          this.stats.consumed += 1;
        },
        retry: (options?: { delaySeconds?: number }) => {
          this.stats.retried += 1;
          if (message.attempts > maxRetries) this.dead.push(message);
          else this.push(message.body, options?.delaySeconds, message.attempts + 1);
        },
      })),
      ackAll: () => {},
      retryAll: () => {},
    } as unknown as MessageBatch<QueueMessage>;
  }

  /**
   * Runs the consumer until `done()` holds: up to `concurrency` batches of `batchSize` at once, like
   * several consumer invocations. With `moveClock`, idle time is skipped: when nothing is due and nothing
   * is running, the clock jumps to the next due message (and `tick` runs at least once a simulated minute,
   * the way the recovery sweep would).
   */
  async run(
    env: Env,
    options: { done: () => Promise<boolean>; concurrency?: number; batchSize?: number; moveClock?: boolean; tick?: () => Promise<void>; timeoutMs?: number },
  ) {
    const concurrency = options.concurrency ?? 4;
    const batchSize = options.batchSize ?? 10;
    const started = Date.now();
    const running = new Set<Promise<void>>();
    let lastTick = clock.now();
    let checks = 0;
    for (;;) {
      if (Date.now() - started > (options.timeoutMs ?? 60_000)) throw new Error(`simulated queue did not finish: ${JSON.stringify(this.stats)}, ${this.queued.length} queued`);
      if (options.tick && clock.now() - lastTick >= 60_000) {
        lastTick = clock.now();
        await options.tick().catch(() => undefined);
      }
      while (running.size < concurrency) {
        const messages = this.take(batchSize);
        if (messages.length === 0) break;
        const work = worker.queue(this.batch(messages, "edge-inbox-deliveries"), env, context).finally(() => running.delete(work));
        running.add(work);
      }
      if (this.dead.length > 0) {
        const dead = this.dead.splice(0, this.dead.length);
        await worker.queue(this.batch(dead, "edge-inbox-deliveries-dlq"), env, context);
      }
      if (running.size > 0) {
        await Promise.race(running);
        continue;
      }
      if (++checks % 5 === 0 || this.queued.length === 0) {
        if (await options.done()) return;
      }
      const due = this.nextDueAt();
      const now = clock.now();
      if (options.moveClock) {
        const target = Math.min(due ?? Infinity, lastTick + 60_000);
        if (target > now) clock.advance(target - now);
      } else {
        await new Promise((resolve) => setTimeout(resolve, due === undefined ? 20 : Math.max(1, Math.min(50, due - now))));
      }
    }
  }
}
