/**
 * core/smb2/credits.ts CreditWindow: the MessageId window (MS-SMB2 3.3.1.1, 3.3.5.2.3) and credit
 * grants (3.3.1.2), alone and as dispatch uses it (the Credits field of a response).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { CreditWindow } from "../../core/smb2/credits.ts";
import { Body, Cmd, compound, exchange, newConnection, request } from "./_harness.ts";

/** A window that granted ids [0, n). */
function granted(n: number, max = 512): CreditWindow {
  const w = new CreditWindow(max);
  assertEquals(w.grant(n - 1), n - 1);
  return w;
}

Deno.test("CreditWindow: a new window holds MessageId 0 only (the first NEGOTIATE)", () => {
  const w = new CreditWindow(512);
  assertEquals(w.outstanding, 1);
  assertEquals(w.consume(1n, 1), false, "id 1 not granted yet");
  assertEquals(w.consume(0n, 1), true);
  assertEquals(w.outstanding, 0);
});

Deno.test("CreditWindow.consume: an id used twice is refused", () => {
  const w = granted(4);
  assert(w.consume(2n, 1));
  assertEquals(w.consume(2n, 1), false);
});

Deno.test("CreditWindow.consume: ids below the window or past the granted end are refused", () => {
  const w = granted(4);
  assert(w.consume(0n, 1));
  assertEquals(w.consume(0n, 1), false, "below the window");
  assertEquals(w.consume(4n, 1), false, "one past the last granted id");
  assertEquals(w.consume(3n, 2), false, "a charge that runs past the end");
});

Deno.test("CreditWindow.consume: skipped ids stay usable (smb2.credits.skipped_mid) and the low edge advances over used ids", () => {
  const w = granted(6);
  assert(w.consume(3n, 1));
  assert(w.consume(0n, 1));
  assertEquals(w.outstanding, 4);
  assert(w.consume(1n, 2), "ids 1 and 2");
  assertEquals(w.outstanding, 2, "ids 4 and 5 remain");
  assertEquals(w.consume(2n, 1), false);
});

Deno.test("CreditWindow.consume: a multi-credit charge takes the whole range or nothing", () => {
  const w = granted(8);
  assert(w.consume(3n, 1));
  assertEquals(w.consume(1n, 4), false, "overlaps id 3");
  assert(w.consume(1n, 2), "ids 1 and 2 still free");
  assert(w.consume(4n, 4), "ids 4..7");
  assertEquals(w.outstanding, 1, "only id 0 left");
});

Deno.test("CreditWindow.consume: a charge of 0 counts as 1", () => {
  const w = granted(2);
  assert(w.consume(0n, 0));
  assertEquals(w.consume(0n, 0), false);
  assertEquals(w.outstanding, 1);
});

Deno.test("CreditWindow.grant: never more than the maximum outstanding", () => {
  const w = new CreditWindow(10);
  assertEquals(w.grant(100), 9, "1 already outstanding");
  assertEquals(w.outstanding, 10);
  assertEquals(w.grant(5), 0);
});

Deno.test("CreditWindow.grant: at least one when the client would be left with none", () => {
  const w = new CreditWindow(10);
  assert(w.consume(0n, 1));
  assertEquals(w.grant(0), 1);
  assertEquals(w.outstanding, 1);
});

Deno.test("CreditWindow.grant: the span from the lowest unused id to the highest granted stays within twice the maximum", () => {
  const w = new CreditWindow(4);
  assertEquals(w.grant(3), 3); // ids 0..3
  // Use ids 1..3 and keep skipping id 0: the low edge cannot move.
  assert(w.consume(1n, 3));
  assertEquals(w.grant(4), 3, "outstanding 1 -> 4");
  assert(w.consume(4n, 3));
  // Span is 7 (ids 0..6); the cap is 8.
  assertEquals(w.grant(4), 1);
  assert(w.consume(7n, 1));
  assertEquals(w.grant(4), 0, "span at the cap: nothing more until id 0 is used");
  assert(w.consume(0n, 1));
  assert(w.grant(4) > 0, "the low edge moved");
});

Deno.test("processSmb2: each response's Credits field is what the window granted for its request", async () => {
  const h = newConnection({ maxCredits: 16 });
  // The harness asked for 63 credits after NEGOTIATE: the maximum held it to 16 (ids 1..16).
  const outstanding = h.conn.credits.outstanding;
  const [f] = await exchange(
    h,
    compound([
      request({ command: Cmd.ECHO, messageId: 1n, credits: 3, body: Body.empty4() }),
      request({ command: Cmd.ECHO, messageId: 2n, credits: 100, body: Body.empty4() }),
    ]),
  );
  const first = f.msgs[0].hdr.credits;
  const second = f.msgs[1].hdr.credits;
  // Each request used one id; the grant tops the client up to at most 16 outstanding.
  assertEquals(first, Math.min(3, 16 - (outstanding - 1)));
  assertEquals(outstanding - 2 + first + second, 16);
  assertEquals(h.conn.credits.outstanding, 16);
});
