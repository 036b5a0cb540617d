/**
 * Minimal assertions with the names and shapes of Deno std's `@std/assert` (JSR is unreachable here).
 *
 * @module
 */

import { inspect, isDeepStrictEqual } from "node:util";

/** Thrown by every assertion. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(v: unknown): string {
  return inspect(v, { depth: 6, maxArrayLength: 50, maxStringLength: 2000, breakLength: 100 });
}

/** Throws unless `expr` is truthy. */
export function assert(expr: unknown, msg = "Assertion failed"): asserts expr {
  if (!expr) throw new AssertionError(msg);
}

/** Throws unless `actual` and `expected` are deeply (strictly) equal. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (isDeepStrictEqual(actual, expected)) return;
  throw new AssertionError(
    `${msg ? `${msg}: ` : ""}values are not equal\n  actual:   ${show(actual)}\n` +
      `  expected: ${show(expected)}`,
  );
}

/** Throws when `actual` and `expected` are deeply (strictly) equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!isDeepStrictEqual(actual, expected)) return;
  throw new AssertionError(`${msg ? `${msg}: ` : ""}expected a value other than ${show(expected)}`);
}

/** Throws unless `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (expected.test(actual)) return;
  throw new AssertionError(`${msg ? `${msg}: ` : ""}text does not match ${expected}:\n${show(actual)}`);
}

/** Throws unless `actual` contains `expected`. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (actual.includes(expected)) return;
  throw new AssertionError(
    `${msg ? `${msg}: ` : ""}text does not contain ${show(expected)}:\n${show(actual)}`,
  );
}

/** Throws unless `fn` rejects (with an instance of `errorClass`, when given); returns the error. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  errorClass?: new (...args: never[]) => Error,
  msgIncludes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (errorClass && !(e instanceof errorClass)) {
      throw new AssertionError(`expected ${errorClass.name}, got ${show(e)}`);
    }
    if (msgIncludes && !(e instanceof Error && e.message.includes(msgIncludes))) {
      throw new AssertionError(`expected the error message to contain ${show(msgIncludes)}, got ${show(e)}`);
    }
    return e as Error;
  }
  throw new AssertionError("expected the function to reject");
}

/** Throws unless `fn` throws (with an instance of `errorClass`, when given); returns the error. */
export function assertThrows(
  fn: () => unknown,
  errorClass?: new (...args: never[]) => Error,
  msgIncludes?: string,
): Error {
  try {
    fn();
  } catch (e) {
    if (errorClass && !(e instanceof errorClass)) {
      throw new AssertionError(`expected ${errorClass.name}, got ${show(e)}`);
    }
    if (msgIncludes && !(e instanceof Error && e.message.includes(msgIncludes))) {
      throw new AssertionError(`expected the error message to contain ${show(msgIncludes)}, got ${show(e)}`);
    }
    return e as Error;
  }
  throw new AssertionError("expected the function to throw");
}
