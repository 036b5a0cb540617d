/**
 * core/smb2/connection.ts ConnectionOpens: a connection's view of the opens of its sessions. Opens
 * live in Session.opens, so every channel holding the session sees them (multichannel), and a
 * connection that stops holding the session stops seeing them.
 */
import { assertEquals } from "../helpers/assert.ts";
import { ConnectionOpens } from "../../core/smb2/connection.ts";
import { Session } from "../../core/state/session.ts";
import { Open } from "../../core/state/open.ts";

function open(id: bigint, sessionId: bigint): Open {
  return new Open(id, id + 1000n, sessionId, 1, null, "f", false, 0, 7, 0, "k", "pipe");
}

Deno.test("ConnectionOpens: opens are stored in their session and seen by every connection holding it", () => {
  const s1 = new Session(1n);
  const s2 = new Session(2n);
  const conn1 = new Map<bigint, Session>([[1n, s1], [2n, s2]]);
  const conn2 = new Map<bigint, Session>([[1n, s1]]);
  const v1 = new ConnectionOpens(conn1);
  const v2 = new ConnectionOpens(conn2);
  v1.set(10n, open(10n, 1n));
  v1.set(11n, open(11n, 2n));
  assertEquals(s1.opens.has(10n), true);
  assertEquals(s2.opens.has(11n), true);
  // The second channel of session 1 finds its open, not session 2's.
  assertEquals(v2.get(10n)?.id, 10n);
  assertEquals(v2.get(11n), undefined);
  assertEquals(v1.size, 2);
  assertEquals(v2.size, 1);
  assertEquals([...v2.values()].map((o) => o.id), [10n]);
  // Closing through either view removes it for both.
  assertEquals(v2.delete(10n), true);
  assertEquals(v1.get(10n), undefined);
  assertEquals(v1.size, 1);
});

Deno.test("ConnectionOpens: a connection that drops the session no longer sees its opens", () => {
  const s1 = new Session(1n);
  const conn = new Map<bigint, Session>([[1n, s1]]);
  const v = new ConnectionOpens(conn);
  v.set(5n, open(5n, 1n));
  conn.delete(1n);
  assertEquals(v.get(5n), undefined);
  assertEquals(v.size, 0);
  assertEquals(s1.opens.size, 1);
});

Deno.test("ConnectionOpens: an open whose session is not on the connection is kept, not lost", () => {
  const v = new ConnectionOpens(new Map());
  v.set(7n, open(7n, 9n));
  assertEquals(v.get(7n)?.id, 7n);
  assertEquals(v.size, 1);
  assertEquals(v.delete(7n), true);
  assertEquals(v.size, 0);
});
