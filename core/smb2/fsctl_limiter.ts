/**
 * A process-wide bound on the FSCTLs that move file data through server buffers (server-side copy,
 * SET_ZERO_DATA, QUERY_ALLOCATED_RANGES on a sparse file; docs/fsctl.md). Each holds at most two
 * buffers of about 1 MiB while it runs; at most Limits.fsctlMaxConcurrentDataOps run at once and the
 * others wait their turn without holding a buffer, so clients sending many of them at once (credits
 * allow thousands per connection) cannot make the server allocate without bound.
 */
import { Limits } from "../limits.ts";

let running = 0;
const waiting: (() => void)[] = [];

/** Runs `op` once a slot is free. */
export async function withDataSlot<T>(op: () => Promise<T>): Promise<T> {
  if (running >= Limits.fsctlMaxConcurrentDataOps) {
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else {
    running++;
  }
  try {
    return await op();
  } finally {
    // Hand the slot straight to the next waiter, or free it.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}
