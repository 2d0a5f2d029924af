import { describe, expect, it } from 'vitest';
import { abortReason, deferred, Semaphore } from '../src/concurrency.js';

describe('Semaphore', () => {
  it('grants at once while permits last, then serves waiters first come, first served', async () => {
    const semaphore = new Semaphore(3);
    const signal = new AbortController().signal;
    await semaphore.acquire(2, signal);
    const order: string[] = [];
    const big = semaphore.acquire(2, signal).then(() => order.push('big'));
    // A small request behind a waiting big one waits too, so the big one is never starved.
    const small = semaphore.acquire(1, signal).then(() => order.push('small'));
    await Promise.resolve();
    expect(order).toEqual([]);
    semaphore.release(2);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
  });

  it('gives up a wait on abort with the abort reason, leaving the queue to the others', async () => {
    const semaphore = new Semaphore(1);
    await semaphore.acquire(1, new AbortController().signal);
    const controller = new AbortController();
    const abandoned = semaphore.acquire(1, controller.signal);
    const next = semaphore.acquire(1, new AbortController().signal);
    controller.abort(new Error('stop'));
    await expect(abandoned).rejects.toThrow('stop');
    semaphore.release(1);
    await expect(next).resolves.toBeUndefined();
  });

  it('refuses at once when already aborted, and releases after run() whatever the task did', async () => {
    const semaphore = new Semaphore(1);
    const aborted = new AbortController();
    aborted.abort(new Error('already'));
    await expect(semaphore.acquire(1, aborted.signal)).rejects.toThrow('already');
    const signal = new AbortController().signal;
    await expect(semaphore.run(1, signal, () => Promise.reject(new Error('task failed')))).rejects.toThrow('task failed');
    await expect(semaphore.run(1, signal, () => Promise.resolve(42))).resolves.toBe(42);
  });
});

describe('deferred', () => {
  it('exposes resolve and reject, and an unread rejection is not unhandled', async () => {
    const value = deferred<number>();
    value.resolve(7);
    await expect(value.promise).resolves.toBe(7);
    deferred<number>().reject(new Error('nobody reads this'));
  });
});

describe('abortReason', () => {
  it('keeps an Error reason and wraps anything else', () => {
    const error = new Error('x');
    const withError = new AbortController();
    withError.abort(error);
    expect(abortReason(withError.signal)).toBe(error);
    const withString = new AbortController();
    withString.abort('plain');
    expect(abortReason(withString.signal)).toEqual(new Error('plain'));
  });
});
