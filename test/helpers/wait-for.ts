/**
 * Waiting for a condition instead of sleeping for a fixed time: the test
 * goes on as soon as the condition holds, however fast or slow the machine,
 * and fails with `describe()` if it does not hold within the deadline.
 */

/** Resolves once `condition` (polled every `everyMs`) holds; rejects after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  describe: () => string = () => 'condition not met',
  timeoutMs = 30_000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Polls `read` until `done(value)` holds and returns that value; after
 * `timeoutMs` returns the last value read, for the test's assertions to
 * describe what never converged.
 */
export async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
