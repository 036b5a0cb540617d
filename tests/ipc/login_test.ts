/** LOGIN through the real bridge and sandboxed module: NTLMv2 verification and mountd semantics. */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { Bridge, type LoginRequest } from "../../core/ipc/bridge.ts";
import { NTLMSSP_NEGOTIATE_KEY_EXCH, UserFlag } from "../../core/ipc/messages.ts";
import {
  ensureWasm,
  globalConfig,
  hex,
  ipcShare,
  ntlmv2Client,
  pwdDb,
  share,
  toHex,
  unixAccounts,
} from "./_fixtures.ts";
import type { GlobalConfig } from "../../core/config/types.ts";

await ensureWasm();

const CHALLENGE = hex("0123456789abcdef");
// MS-NLMP 4.2.4.2.2: NTProofStr + temp (AV pairs NbDomainName "Domain", NbComputerName "Server").
const SPEC_NT_RESPONSE = hex(
  "68cd0ab851e51c96aabc927bebef6a1c" +
    "01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000" +
    "02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000" +
    "00000000",
);

async function withBridge(
  fn: (b: Bridge) => Promise<void>,
  global: Partial<GlobalConfig> = {},
  extraUsers: Record<string, string> = {},
): Promise<void> {
  const b = await Bridge.start({ heartbeatMs: 0 });
  try {
    const db = pwdDb({ alice: "alice-pw", bob: "bob-pw", ...extraUsers });
    await b.configure({
      global: globalConfig(global),
      shares: [ipcShare(), share("data")],
      pwdDb: db,
      unixAccounts,
    });
    await fn(b);
  } finally {
    b.close();
  }
}

function req(
  account: string,
  password: string,
  domain = "WORKGROUP",
  over: Partial<LoginRequest> = {},
): LoginRequest {
  const { ntResponse } = ntlmv2Client(account, domain, password, CHALLENGE);
  return {
    account,
    domain,
    workstation: "WS",
    serverChallenge: CHALLENGE,
    ntResponse,
    lmResponse: new Uint8Array(24),
    encryptedRandomSessionKey: new Uint8Array(0),
    negotiateFlags: 0,
    ...over,
  };
}

Deno.test("Bridge.login: MS-NLMP 4.2.4 NTLMv2 example yields the spec's SessionBaseKey", async () => {
  const b = await Bridge.start({ heartbeatMs: 0 });
  try {
    await b.configure({
      global: globalConfig(),
      shares: [ipcShare()],
      pwdDb: new TextEncoder().encode(
        `User:${btoa(String.fromCharCode(...hex("a4f49c406510bdcab6824ee7c30fd852")))}\n`,
      ),
      unixAccounts: [],
    });
    const base: LoginRequest = {
      account: "User",
      domain: "Domain",
      workstation: "COMPUTER",
      serverChallenge: CHALLENGE,
      ntResponse: SPEC_NT_RESPONSE,
      lmResponse: hex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"),
      encryptedRandomSessionKey: new Uint8Array(0),
      negotiateFlags: 0xe28a8233 & ~NTLMSSP_NEGOTIATE_KEY_EXCH,
    };
    const r = await b.login(base);
    assertEquals(r.status, UserFlag.OK);
    assertEquals(r.account, "User");
    assertEquals(toHex(r.sessionKey), "8de40ccadbc14a82f15cb0ad0de95ca3");
    assertEquals([r.uid, r.gid], [65535, 65535]);
    // 4.2.4.2.3: with KEY_EXCH the exported key is RC4(SessionBaseKey, EncryptedRandomSessionKey) = 0x55 × 16.
    const kx = await b.login({
      ...base,
      negotiateFlags: 0xe28a8233,
      encryptedRandomSessionKey: hex("c5dad2544fc9799094ce1ce90bc9d03e"),
    });
    assertEquals(kx.status, UserFlag.OK);
    assertEquals(toHex(kx.sessionKey), "55".repeat(16));
    // One flipped bit in the blob breaks the proof.
    const tampered = SPEC_NT_RESPONSE.slice();
    tampered[40] ^= 1;
    const bad = await b.login({ ...base, ntResponse: tampered });
    assertEquals(bad.status, UserFlag.BAD_PASSWORD);
    assertEquals(bad.sessionKey.length, 0);
  } finally {
    b.close();
  }
});

Deno.test("Bridge.login: correct password -> OK with uid/gid/groups; case-insensitive user name", async () => {
  await withBridge(
    async (b) => {
      const r = await b.login(req("alice", "alice-pw"));
      assertEquals(r.status, UserFlag.OK | UserFlag.EXTENSION);
      assertEquals([r.account, r.uid, r.gid, r.groups], ["alice", 1001, 1001, [1001, 2000]]);
      assertEquals(r.sessionKey.length, 16);
      assertEquals(
        toHex(r.sessionKey),
        toHex(ntlmv2Client("alice", "WORKGROUP", "alice-pw", CHALLENGE).sessionBaseKey),
      );
      const upper = await b.login(req("ALICE", "alice-pw"));
      assertEquals(upper.status & UserFlag.OK, UserFlag.OK);
      assertEquals(upper.account, "alice");
      const noUnix = await b.login(req("carol", "carol-pw"));
      assertEquals(noUnix.status, UserFlag.OK);
      assertEquals([noUnix.uid, noUnix.gid], [65535, 65535]);
    },
    {},
    { carol: "carol-pw" },
  );
});

Deno.test("Bridge.login: domain tried as sent, uppercased and empty", async () => {
  await withBridge(async (b) => {
    // Client hashed the upper-case domain while sending lower case.
    const up = ntlmv2Client("bob", "WORKGROUP", "bob-pw", CHALLENGE).ntResponse;
    assertEquals((await b.login(req("bob", "bob-pw", "workgroup", { ntResponse: up }))).status, UserFlag.OK);
    // Client hashed an empty domain.
    const empty = ntlmv2Client("bob", "", "bob-pw", CHALLENGE).ntResponse;
    assertEquals((await b.login(req("bob", "bob-pw", "OTHER", { ntResponse: empty }))).status, UserFlag.OK);
  });
});

Deno.test("Bridge.login: wrong password -> BAD_PASSWORD, no session key", async () => {
  await withBridge(async (b) => {
    const r = await b.login(req("alice", "wrong"));
    assertEquals(r.status, UserFlag.BAD_PASSWORD);
    assertEquals(r.sessionKey.length, 0);
  });
});

Deno.test("Bridge.login: NTLMv1 and truncated NT responses -> BAD_PASSWORD without trapping", async () => {
  await withBridge(async (b) => {
    const good = req("alice", "alice-pw");
    for (const len of [0, 1, 16, 24, 43]) {
      const r = await b.login({ ...good, ntResponse: good.ntResponse.slice(0, len) });
      assertEquals(r.status, UserFlag.BAD_PASSWORD, `length ${len}`);
    }
    assertEquals(b.stats.traps, 0);
    assertEquals((await b.login(good)).status & UserFlag.OK, UserFlag.OK);
  });
});

Deno.test("Bridge.login: unknown user -> BAD_USER when map to guest = never", async () => {
  await withBridge(async (b) => {
    const r = await b.login(req("mallory", "x"));
    assertEquals(r.status, UserFlag.BAD_USER);
    assertEquals(r.sessionKey.length, 0);
  });
});

Deno.test("Bridge.login: unknown user -> guest account when map to guest = bad user", async () => {
  await withBridge(async (b) => {
    const r = await b.login(req("mallory", "x"));
    assertEquals(r.status, UserFlag.OK | UserFlag.GUEST_ACCOUNT);
    assertEquals([r.account, r.uid, r.gid], ["nobody", 65534, 65534]);
    assertEquals(r.sessionKey.length, 0);
    // A known user with a wrong password is still refused (bad user, not bad password).
    assertEquals((await b.login(req("alice", "nope"))).status, UserFlag.BAD_PASSWORD);
  }, { mapToGuest: "bad user" });
});

Deno.test("Bridge.login: empty account and NT response -> anonymous guest session", async () => {
  await withBridge(async (b) => {
    const r = await b.login({
      ...req("", ""),
      ntResponse: new Uint8Array(0),
      lmResponse: new Uint8Array(1),
    });
    assertEquals(r.status, UserFlag.OK | UserFlag.GUEST_ACCOUNT);
    assertEquals(r.account, "nobody");
    assertEquals(r.sessionKey.length, 0);
  });
});

Deno.test("Bridge.logout: 10 bad-password logouts set DELAY_SESSION until a successful login", async () => {
  await withBridge(async (b) => {
    for (let i = 0; i < 9; i++) b.logout("alice", UserFlag.BAD_PASSWORD);
    assertEquals((await b.login(req("alice", "bad"))).status, UserFlag.BAD_PASSWORD);
    b.logout("alice", UserFlag.BAD_PASSWORD);
    assertEquals((await b.login(req("alice", "bad"))).status, UserFlag.BAD_PASSWORD | UserFlag.DELAY_SESSION);
    // Other accounts are unaffected.
    assertEquals((await b.login(req("bob", "bad"))).status, UserFlag.BAD_PASSWORD);
    const good = await b.login(req("alice", "alice-pw"));
    ok((good.status & UserFlag.OK) !== 0 && (good.status & UserFlag.DELAY_SESSION) === 0);
    assertEquals((await b.login(req("alice", "bad"))).status, UserFlag.BAD_PASSWORD);
  });
});

Deno.test("Bridge.configure: reports users, shares and malformed user-DB lines", async () => {
  const b = await Bridge.start({ heartbeatMs: 0 });
  try {
    const db = new TextEncoder().encode("good:" + btoa("0123456789abcdef") + "\nbroken line\n:x\n");
    const r = await b.configure({
      global: globalConfig(),
      shares: [ipcShare(), share("a")],
      pwdDb: db,
      unixAccounts,
    });
    assertEquals(r, {
      users: 1,
      shares: 2,
      badLines: 2,
      badLineNumbers: [2, 3],
      keytabValid: true,
      keytabEntries: 0,
    });
    // pwdDb was transferred: the caller's buffer is detached.
    assertEquals(db.byteLength, 0);
    const hb = await b.heartbeatStatus();
    assertEquals(hb, { configured: true, users: 1, shares: 2 });
  } finally {
    b.close();
  }
});
