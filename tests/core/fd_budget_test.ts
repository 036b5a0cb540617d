/**
 * core/fd_budget.ts: the /proc/self/limits parser and the descriptor budget for opens.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { openFileBudget, parseOpenFilesSoftLimit } from "../../core/fd_budget.ts";
import { Limits } from "../../core/limits.ts";

/** A /proc/self/limits text as Linux 6.x prints it (proc(5)). */
const PROC_LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
`;

Deno.test("parseOpenFilesSoftLimit: the soft value of the Max open files line", () => {
  assertEquals(parseOpenFilesSoftLimit(PROC_LIMITS), 1024);
});

Deno.test("parseOpenFilesSoftLimit: unlimited, a missing line or garbage give undefined", () => {
  assertEquals(parseOpenFilesSoftLimit(PROC_LIMITS.replace("1024  ", "unlimited")), undefined);
  assertEquals(parseOpenFilesSoftLimit("Max cpu time  unlimited  unlimited  seconds\n"), undefined);
  assertEquals(parseOpenFilesSoftLimit("Max open files   -3  4  files\n"), undefined);
  assertEquals(parseOpenFilesSoftLimit("Max open files\n"), undefined);
  assertEquals(parseOpenFilesSoftLimit(""), undefined);
});

Deno.test("parseOpenFilesSoftLimit: this process's own limits parse", () => {
  const n = parseOpenFilesSoftLimit(Deno.readTextFileSync("/proc/self/limits"));
  assert(n !== undefined && n > 0, `got ${n}`);
});

Deno.test("openFileBudget: the limit minus the reserve, one per connection and the shares' files", () => {
  const b = openFileBudget(20000, 256, 4);
  assertEquals(b.opens, 20000 - Limits.fdReserve - 256 - 4 * (Limits.fdPerShare + Limits.spareFdsPerShare));
  assertEquals(b.warning, undefined);
});

Deno.test("openFileBudget: max connections = 0 (65536) counts at most the limit itself", () => {
  const b = openFileBudget(1024, 0, 1);
  assertEquals(b.opens, Limits.fdBudgetFloor);
  assert(b.warning !== undefined && b.warning.includes("ulimit -n") && b.warning.includes("1024"));
});

Deno.test("openFileBudget: a limit too low for the configuration keeps the floor and warns", () => {
  const b = openFileBudget(300, 256, 2);
  assertEquals(b.opens, Limits.fdBudgetFloor);
  assert(b.warning?.includes("max connections"), b.warning);
});
