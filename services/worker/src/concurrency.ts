/** A promise with its resolve and reject exposed, for results produced out of order and read in order. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A result nobody reads any more (the job already failed) must not crash the process.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Counting semaphore; waiters are served first come, first served, and give up on abort. */
export class Semaphore {
  private readonly waiters: { count: number; grant: () => void }[] = [];

  constructor(private available: number) {}

  async acquire(count: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.waiters.length === 0 && this.available >= count) {
      this.available -= count;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        count,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(count: number): void {
    this.available += count;
    for (let next = this.waiters[0]; next && this.available >= next.count; next = this.waiters[0]) {
      this.available -= next.count;
      this.waiters.shift();
      next.grant();
    }
  }

  async run<T>(count: number, signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    await this.acquire(count, signal);
    try {
      return await task();
    } finally {
      this.release(count);
    }
  }
}

/** The reason `signal` was aborted with, as an Error (AbortSignal types its reason as `any`). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason));
}
