/** core/state/session.ts Session: its initial state (MS-SMB2 3.3.1.8), Kerberos expiry and tree ids. */
import { assert, assertEquals } from "../helpers/assert.ts";
import { Session, SigningAlg } from "../../core/state/session.ts";
import { Tree } from "../../core/state/tree.ts";
import type { ShareConfigResponse } from "../../core/ipc/bridge.ts";

function tree(session: Session, id: number): Tree {
  return new Tree(id, session.id, "IPC$", {} as ShareConfigResponse, null, false, 0, 0);
}

Deno.test("Session: starts in progress, unsigned, unencrypted, with no keys and no trees", () => {
  const s = new Session(0x1234n);
  assertEquals(s.id, 0x1234n);
  assertEquals(s.state, "in-progress");
  assertEquals([s.sessionKey, s.signingKey, s.encryptionKey, s.decryptionKey], [null, null, null, null]);
  assertEquals([s.encryptor, s.decryptor], [null, null]);
  assertEquals([s.signingRequired, s.encryptData, s.guest, s.anonymous], [false, false, false, false]);
  assertEquals(s.signingAlg, SigningAlg.HMAC_SHA256);
  assertEquals(s.trees.size, 0);
  assertEquals(s.expiresAtMs, null);
});

Deno.test("SigningAlg: the MS-SMB2 2.2.3.1.7 signing algorithm ids", () => {
  assertEquals(SigningAlg, { HMAC_SHA256: 0, AES_CMAC: 1, AES_GMAC: 2 });
});

Deno.test("Session.isExpired: never for a session without an end (NTLM)", () => {
  const s = new Session(1n);
  assertEquals(s.isExpired(), false);
  assertEquals(s.isExpired(Number.MAX_SAFE_INTEGER), false);
});

Deno.test("Session.isExpired: a Kerberos session expires at its ticket's end time, not before", () => {
  const s = new Session(1n);
  s.expiresAtMs = 1_000_000;
  assertEquals(s.isExpired(999_999), false);
  assertEquals(s.isExpired(1_000_000), true);
  assertEquals(s.isExpired(2_000_000), true);
  // Default "now" is the wall clock.
  s.expiresAtMs = Date.now() + 60_000;
  assertEquals(s.isExpired(), false);
  s.expiresAtMs = Date.now() - 1;
  assertEquals(s.isExpired(), true);
});

Deno.test("Session.allocTreeId: counts up from 1 and skips ids still connected", () => {
  const s = new Session(1n);
  assertEquals(s.allocTreeId(), 1);
  s.trees.set(2, tree(s, 2));
  s.trees.set(3, tree(s, 3));
  assertEquals(s.allocTreeId(), 4);
  assertEquals(s.allocTreeId(), 5);
});

Deno.test("Session.allocTreeId: wraps before 0xFFFFFFFF and never returns 0", () => {
  const s = new Session(1n);
  // Reaching the wrap by allocation would take 4 billion calls: start the counter near the end.
  (s as unknown as { nextTreeId: number }).nextTreeId = 0xfffffffd;
  s.trees.set(1, tree(s, 1));
  const ids = [s.allocTreeId(), s.allocTreeId(), s.allocTreeId()];
  assertEquals(ids, [0xfffffffd, 0xfffffffe, 2]);
  for (const id of ids) assert(id !== 0 && id !== 0xffffffff, `tree id ${id}`);
});
