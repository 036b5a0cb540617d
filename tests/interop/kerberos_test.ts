/**
 * Kerberos test harness: a self-test of the private MIT KDC (tests/helpers/kdc.ts), and the helpers
 * that run Samba's clients with Kerberos against a server on 127.0.0.1:PORT.
 *
 * Then ksmbd-deno with `kerberos support = yes` and the KDC's keytab, driven by smbclient and
 * smbtorture with `--use-kerberos=required`: file round trips signed and encrypted, the session
 * expiry tests (smb2.session.expire1n/1s/1e/2s/2e: the session ends with the ticket and is
 * reauthenticated), refusals, and a service key rotation picked up by `ksmbd-cli control -r`.
 * Note: importing this file from another test file would also register its tests there.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { parseSubunit, smbOk, type SmbTarget, type TortureRun } from "../helpers/clients.ts";
import { type Kdc, type KdcLogEntry, KERBEROS_SERVICE_HOST, startKdc } from "../helpers/kdc.ts";
import { describeRun, runCommand, type RunResult } from "../helpers/run_command.ts";
import { runKsmbdCli, type ServerHandle, startKsmbd } from "../helpers/server.ts";
import { sha256File, writeRandomFile } from "../helpers/fixtures.ts";
import { Cmd, der, RawConn, sessionSetupBody, St, statusName } from "./raw_client.ts";

// =====================================================================================================
// Helpers for SMB clients with Kerberos (exported for the SMB-level steps to come)
// =====================================================================================================
//
// Found by experiment (Samba 4.17.12 clients with their embedded Heimdal, MIT KDC 1.20.1):
//  - Samba clients refuse Kerberos to an IP address and to "localhost" (smbclient: "Kerberos auth
//    with ... to access 'localhost' not possible"; smbtorture: NT_STATUS_INVALID_PARAMETER from
//    gensec_gse, "GSE to 'localhost' does not make sense"), so the server is named
//    KERBEROS_SERVICE_HOST ("ksmbdhost"), a name that is never resolved, and the clients ask the KDC
//    for `cifs/ksmbdhost@REALM`:
//      smbclient  //ksmbdhost/SHARE -I 127.0.0.1 -p PORT
//      smbtorture //127.0.0.1/SHARE -p PORT --option=gensec:target_hostname=ksmbdhost
//  - `--use-kerberos=required` (4.17 syntax; smbtorture's tests check for CRED_USE_KERBEROS_REQUIRED).
//    `-k yes` still works but prints "WARNING: The option -k|--kerberos is deprecated!".
//  - The realm must be given (`--realm=REALM` or `-U user@REALM%pass`); otherwise the client uses
//    the workgroup as realm (principal ksmbdtest@WORKGROUP) and fails.
//  - With a password on the command line the clients do their own AS-REQ (to an in-memory cache);
//    KRB5CCNAME still points at a per-run file so that nothing touches /tmp/krb5cc_<uid>.
//    smbclient can instead use a ccache from kinit: KRB5CCNAME=FILE:... plus `-N` (no -U).
//  - Only KRB5_CONFIG is needed from the environment (the KDC's krb5.conf).

/** Environment for a Kerberos client run: the KDC's krb5.conf and a fresh per-run credential cache. */
export function kerberosClientEnv(
  kdc: Kdc,
  ccache: string = kdc.newCcache("client"),
): Record<string, string> {
  return { KRB5_CONFIG: kdc.krb5Conf, KRB5CCNAME: ccache };
}

/** Credentials of a Kerberos client run. */
export interface KerberosAuth {
  user: string;
  pass: string;
  timeoutMs?: number;
  /** Extra arguments placed before the tests / the `-c` commands. */
  extraArgs?: string[];
}

/** smbtorture's arguments (without the program name) for `tests` with Kerberos against `target`. */
export function kerberosSmbtortureArgs(
  kdc: Kdc,
  target: SmbTarget,
  auth: KerberosAuth,
  tests: string[],
): string[] {
  if (!target.share) throw new TypeError("Target has no share");
  return [
    `//${target.host ?? "127.0.0.1"}/${target.share}`,
    "-p",
    String(target.port),
    "-U",
    `${auth.user}%${auth.pass}`,
    `--realm=${kdc.realm}`,
    "--use-kerberos=required",
    `--option=gensec:target_hostname=${KERBEROS_SERVICE_HOST}`,
    "--format=subunit",
    ...(auth.extraArgs ?? []),
    ...tests,
  ];
}

/** smbclient's arguments (without the program name) to run `cmds` with Kerberos against `target`. */
export function kerberosSmbclientArgs(
  kdc: Kdc,
  target: SmbTarget,
  auth: KerberosAuth,
  cmds: string | string[],
): string[] {
  if (!target.share) throw new TypeError("Target has no share");
  return [
    `//${KERBEROS_SERVICE_HOST}/${target.share}`,
    "-I",
    target.host ?? "127.0.0.1",
    "-p",
    String(target.port),
    "-U",
    `${auth.user}%${auth.pass}`,
    `--realm=${kdc.realm}`,
    "--use-kerberos=required",
    ...(auth.extraArgs ?? []),
    "-c",
    Array.isArray(cmds) ? cmds.join("; ") : cmds,
  ];
}

/**
 * Runs smbtorture with Kerberos (e.g. `smb2.session.expire1n`); results parsed as in clients.ts.
 *
 * @example
 * ```ts
 * const r = await kerberosSmbtorture(kdc, { port, share: "test" }, ["smb2.session.expire1n"],
 *   { user: TEST_USER, pass: TEST_PASS, timeoutMs: 120_000 });
 * ```
 */
export async function kerberosSmbtorture(
  kdc: Kdc,
  target: SmbTarget,
  tests: string[],
  auth: KerberosAuth,
): Promise<TortureRun> {
  const run = await runCommand("smbtorture", kerberosSmbtortureArgs(kdc, target, auth, tests), {
    env: kerberosClientEnv(kdc, kdc.newCcache("smbtorture")),
    timeoutMs: auth.timeoutMs ?? 300_000,
  });
  const { results, unfinished } = parseSubunit(run.stdout);
  return { run, results, unfinished };
}

/** Runs smbclient commands with Kerberos. */
export async function kerberosSmbclient(
  kdc: Kdc,
  target: SmbTarget,
  cmds: string | string[],
  auth: KerberosAuth,
): Promise<RunResult> {
  return await runCommand("smbclient", kerberosSmbclientArgs(kdc, target, auth, cmds), {
    env: kerberosClientEnv(kdc, kdc.newCcache("smbclient")),
    timeoutMs: auth.timeoutMs ?? 60_000,
  });
}

/**
 * `[global]` settings that make the private Samba smbd (startSamba, standalone server) accept
 * Kerberos with the KDC's keytab. The KDC's service principals must not ask for a PAC (the
 * default of startKdc): a standalone smbd rejects tickets with one (NT_STATUS_BAD_TOKEN_TYPE).
 * The Samba user must exist under the same name as the Kerberos principal (without realm).
 */
export function sambaKerberosGlobals(kdc: Kdc): Record<string, string> {
  return {
    "realm": kdc.realm,
    "kerberos method": "dedicated keytab",
    "dedicated keytab file": `FILE:${kdc.keytab}`,
  };
}

/** KDC log entries that issued a ticket for `service` (e.g. "cifs/ksmbdhost@KSMBD.TEST"). */
export function issuedFor(kdc: Kdc, service: string): KdcLogEntry[] {
  return kdc.requests().filter((e) => e.status === "ISSUE" && e.service === service);
}

// =====================================================================================================
// Self-test of the KDC
// =====================================================================================================

const USER = "kerbuser";
const PASS = "Kerb-Passw0rd 1";
const SERVICE = `cifs/${KERBEROS_SERVICE_HOST}`;
/** aes128-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96, arcfour-hmac: the only enctypes allowed. */
const ALLOWED_ETYPES = new Set([17, 18, 23]);

/** Parses klist's "MM/DD/YY HH:MM:SS" (LC_ALL=C) as local time, in milliseconds. */
function klistTime(s: string): number {
  const m = /^(\d\d)\/(\d\d)\/(\d\d)\s+(\d\d):(\d\d):(\d\d)$/.exec(s.trim());
  if (!m) throw new Error(`unexpected klist time: ${s}`);
  const [, mo, d, y, h, mi, se] = m.map(Number);
  return new Date(2000 + y, mo - 1, d, h, mi, se).getTime();
}

/** `{ service: [validFrom, expires] }` from `klist` output. */
function klistTickets(out: string): Map<string, [number, number]> {
  const map = new Map<string, [number, number]>();
  for (const line of out.split("\n")) {
    const m = /^(\d\d\/\d\d\/\d\d\s+\d\d:\d\d:\d\d)\s+(\d\d\/\d\d\/\d\d\s+\d\d:\d\d:\d\d)\s+(\S+)/.exec(line);
    if (m) map.set(m[3], [klistTime(m[1]), klistTime(m[2])]);
  }
  return map;
}

Deno.test("kerberos: private MIT KDC on a loopback port (self-test)", async (t) => {
  let kdc: Kdc | undefined;
  let startError: unknown;
  try {
    kdc = await startKdc({ users: { [USER]: PASS } });
  } catch (e) {
    startError = e;
  }
  const need = (): Kdc => {
    if (!kdc) {
      throw new Error(`KDC did not start: ${startError instanceof Error ? startError.message : startError}`);
    }
    return kdc;
  };
  let ok = true;
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    if (!(await t.step(name, fn))) ok = false;
  };
  const cc = kdc?.newCcache("selftest") ?? "";
  const run = (cmd: string, args: string[]) => need().run(cmd, args, { ccache: cc });
  try {
    await step(
      "KDC starts: krb5.conf and kdc.conf in its own directory, UDP and TCP on 127.0.0.1",
      async () => {
        const k = need();
        assert(
          k.krb5Conf.startsWith(k.dir) && k.kdcConf.startsWith(k.dir),
          "configuration outside the temp dir",
        );
        assertEquals(k.env().KRB5_CONFIG, k.krb5Conf);
        assertMatch(Deno.readTextFileSync(k.krb5Conf), new RegExp(`kdc = 127\\.0\\.0\\.1:${k.port}\\b`));
        assertMatch(k.log(), /set up 2 sockets/, `KDC did not open UDP and TCP sockets:\n${k.log()}`);
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: k.port });
        conn.close();
      },
    );

    await step("kinit with a 4-second lifetime: the KDC grants exactly 4 s", async () => {
      const k = need();
      const r = await k.kinit(USER, PASS, { ccache: cc, lifetime: "4s" });
      assert(r.code === 0, `kinit failed: ${describeRun(r)}\n${k.log()}`);
      const l = await runCommand("klist", [], { env: { ...k.env(), KRB5CCNAME: cc, LC_ALL: "C" } });
      assert(l.code === 0, `klist failed: ${describeRun(l)}`);
      const tgt = klistTickets(l.stdout).get(`krbtgt/${k.realm}@${k.realm}`);
      assert(tgt !== undefined, `no TGT in klist output:\n${l.stdout}`);
      assertEquals(tgt[1] - tgt[0], 4000, `TGT lifetime is not 4 s:\n${l.stdout}`);
      assertMatch(l.stdout, new RegExp(`Default principal: ${USER}@${k.realm.replaceAll(".", "\\.")}`));
    });

    await step(`kvno ${SERVICE}: service ticket with aes-sha1 enctypes, within the TGT's 4 s`, async () => {
      const k = need();
      const r = await run("kvno", [SERVICE]);
      assert(r.code === 0, `kvno failed: ${describeRun(r)}\n${k.log()}`);
      assertMatch(r.stdout, new RegExp(`${SERVICE}@${k.realm.replaceAll(".", "\\.")}: kvno = 1`));
      const l = await runCommand("klist", ["-e"], { env: { ...k.env(), KRB5CCNAME: cc, LC_ALL: "C" } });
      const svc = klistTickets(l.stdout).get(`${SERVICE}@${k.realm}`);
      assert(svc !== undefined, `no service ticket in klist output:\n${l.stdout}`);
      assert(svc[1] - svc[0] <= 4000, `service ticket outlives the TGT:\n${l.stdout}`);
      assertMatch(
        l.stdout,
        /Etype \(skey, tkt\): aes(256|128)-cts-hmac-sha1-96, aes(256|128)-cts-hmac-sha1-96/,
      );
      const issued = issuedFor(k, `${SERVICE}@${k.realm}`);
      assert(issued.length === 1 && issued[0].kind === "TGS_REQ", `TGS_REQ not in the KDC log:\n${k.log()}`);
      const e = issued[0].issued!;
      assert(
        ALLOWED_ETYPES.has(e.tkt) && ALLOWED_ETYPES.has(e.ses),
        `ticket or session key enctype outside 17/18/23: ${issued[0].line}`,
      );
    });

    await step("keytab: klist -kte lists the service principals with enctypes 18 and 17 only", async () => {
      const k = need();
      const r = await runCommand("klist", ["-kte", k.keytab], { env: { ...k.env(), LC_ALL: "C" } });
      assert(r.code === 0, `klist -kte failed: ${describeRun(r)}`);
      const entries = [...r.stdout.matchAll(/^\s*(\d+)\s+.*?\s(\S+@\S+)\s+\(([\w-]+)\)\s*$/gm)].map((m) => ({
        kvno: Number(m[1]),
        principal: m[2],
        enctype: m[3],
      }));
      const want = [`${SERVICE}@${k.realm}`, `cifs/localhost@${k.realm}`];
      assertEquals(k.servicePrincipals, want);
      for (const p of want) {
        const types = entries.filter((x) => x.principal === p).map((x) => x.enctype).sort();
        assertEquals(types, ["aes128-cts-hmac-sha1-96", "aes256-cts-hmac-sha1-96"], `${p}:\n${r.stdout}`);
      }
      assertEquals(entries.length, 4, `unexpected keytab entries:\n${r.stdout}`);
      assert(entries.every((x) => x.kvno === 1), `keytab kvno is not 1:\n${r.stdout}`);
    });

    await step("a wrong password is refused (pre-authentication failed)", async () => {
      const k = need();
      const r = await k.kinit(USER, `${PASS}x`, { ccache: k.newCcache("wrong") });
      assert(r.code !== 0, `kinit with a wrong password succeeded: ${describeRun(r)}`);
      assertMatch(r.stderr, /Password incorrect|Preauthentication failed/);
    });

    await step("the 4 s tickets expire: after 5 s kvno fails with 'Ticket expired'", async () => {
      const k = need();
      await new Promise((r) => setTimeout(r, 5000));
      const r = await run("kvno", ["cifs/localhost"]);
      assert(r.code !== 0, `kvno with an expired TGT succeeded: ${describeRun(r)}`);
      assertMatch(r.stderr, /Ticket expired/);
      assert(
        issuedFor(k, `cifs/localhost@${k.realm}`).length === 0,
        "the KDC issued a ticket for an expired TGT",
      );
    });
  } finally {
    if (!ok && kdc) console.error(`--- KDC log ---\n${kdc.log().slice(-6000)}`);
    await kdc?.stop();
  }
});

// =====================================================================================================
// ksmbd-deno accepting Kerberos
// =====================================================================================================

const KUSER = "kerbalice";
const KPASS = "Kerb-Alice-pw 7";
/** In the KDC but not in ksmbdpwd.db: ksmbd requires Kerberos users to exist there too. */
const KSTRANGER = "kerbstranger";
const KSTRANGER_PASS = "Stranger-pw 9";

Deno.test("kerberos: ksmbd-deno accepts Kerberos (smbclient, smbtorture session expiry)", async (t) => {
  let kdc: Kdc | undefined;
  let h: ServerHandle | undefined;
  let startError: unknown;
  const work = await Deno.makeTempDir({ prefix: "ksmbd-krb-" });
  try {
    kdc = await startKdc({ users: { [KUSER]: KPASS, [KSTRANGER]: KSTRANGER_PASS } });
    h = await startKsmbd({
      shares: { data: { "read only": "no" } },
      users: { [KUSER]: "ntlm-" + KPASS },
      global: { "kerberos support": "yes", "kerberos keytab file": kdc.keytab },
    });
  } catch (e) {
    startError = e;
  }
  const need = (): { kdc: Kdc; h: ServerHandle } => {
    if (!kdc || !h) {
      throw new Error(`set-up failed: ${startError instanceof Error ? startError.message : startError}`);
    }
    return { kdc, h };
  };
  let ok = true;
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    if (!(await t.step(name, fn))) ok = false;
  };
  const auth = { user: KUSER, pass: KPASS };
  try {
    await step("smbclient -k: ls works and the client got a ticket for cifs/ksmbdhost", async () => {
      const { kdc, h } = need();
      smbOk(await kerberosSmbclient(kdc, { port: h.port, share: "data" }, "ls", auth), "ls");
      assert(
        issuedFor(kdc, `cifs/${KERBEROS_SERVICE_HOST}@${kdc.realm}`).length > 0,
        "no service ticket issued",
      );
    });

    const src = `${work}/src.bin`;
    const hash = await writeRandomFile(src, 8 * 1024 * 1024);
    for (const protection of ["encrypt", "sign"]) {
      await step(`smbclient -k --client-protection=${protection}: 8 MiB put/get byte-identical`, async () => {
        const { kdc, h } = need();
        const back = `${work}/back-${protection}.bin`;
        const r = await kerberosSmbclient(
          kdc,
          { port: h.port, share: "data" },
          [`put ${src} k-${protection}.bin`, `get k-${protection}.bin ${back}`],
          { ...auth, extraArgs: ["-m", "SMB3", `--client-protection=${protection}`] },
        );
        smbOk(r, protection);
        assertEquals(sha256File(back), hash);
        assertEquals(sha256File(`${h.shareDirs.data}/k-${protection}.bin`), hash);
      });
    }

    await step("NTLM still works next to Kerberos (the ksmbdpwd.db password)", async () => {
      const { h } = need();
      const r = await runCommand("smbclient", [
        `//127.0.0.1/data`,
        "-p",
        String(h.port),
        "-U",
        `${KUSER}%ntlm-${KPASS}`,
        "--use-kerberos=disabled",
        "-c",
        "ls",
      ], { timeoutMs: 60_000 });
      smbOk(r, "ntlm ls");
    });

    await step(
      "a Kerberos principal without a ksmbdpwd.db account gets NT_STATUS_LOGON_FAILURE",
      async () => {
        const { kdc, h } = need();
        const r = await kerberosSmbclient(kdc, { port: h.port, share: "data" }, "ls", {
          user: KSTRANGER,
          pass: KSTRANGER_PASS,
        });
        assert(r.code !== 0, `stranger got in: ${describeRun(r)}`);
        assertMatch(r.stdout + r.stderr, /NT_STATUS_LOGON_FAILURE/);
      },
    );

    await step(
      "raw socket: garbage Kerberos tokens get LOGON_FAILURE and the server keeps serving",
      async () => {
        const { h } = need();
        // NegTokenInit naming KRB5 first, with a mechToken that is not a valid AP-REQ.
        const krb5Oid = new Uint8Array([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02]);
        const spnegoOid = new Uint8Array([0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]);
        const init = (mechToken: Uint8Array): Uint8Array =>
          der(
            0x60,
            spnegoOid,
            der(0xa0, der(0x30, der(0xa0, der(0x30, krb5Oid)), der(0xa2, der(0x04, mechToken)))),
          );
        const gssApReq = (apReq: Uint8Array): Uint8Array => der(0x60, krb5Oid, new Uint8Array([1, 0]), apReq);
        const tokens: [string, Uint8Array][] = [
          ["empty mechToken", new Uint8Array(0)],
          ["random bytes", crypto.getRandomValues(new Uint8Array(300))],
          ["GSS framing around garbage", gssApReq(crypto.getRandomValues(new Uint8Array(200)))],
          ["AP-REQ with pvno 4", gssApReq(der(0x6e, der(0x30, der(0xa0, der(0x02, new Uint8Array([4]))))))],
          ["length beyond the token", gssApReq(new Uint8Array([0x6e, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30]))],
        ];
        for (const [what, mech] of tokens) {
          const c = await RawConn.connect(h.port);
          try {
            await c.negotiate();
            const r = await c.call(Cmd.SESSION_SETUP, sessionSetupBody(init(mech)), { sign: false });
            assert(r.status === St.LOGON_FAILURE, `${what}: ${statusName(r.status)}`);
            const echo = await c.call(Cmd.ECHO, new Uint8Array([4, 0, 0, 0]), { sign: false });
            assertEquals(statusName(echo.status), statusName(St.SUCCESS), `${what}: the connection lives`);
          } finally {
            c.close();
          }
        }
        smbOk(
          await kerberosSmbclient(need().kdc, { port: h.port, share: "data" }, "ls", auth),
          "still serving",
        );
      },
    );

    const expire = [
      "smb2.session.expire1n",
      "smb2.session.expire1s",
      "smb2.session.expire1e",
      "smb2.session.expire2s",
      "smb2.session.expire2e",
    ];
    const sub = await (async () => {
      if (!kdc || !h) return null;
      return await kerberosSmbtorture(kdc, { port: h.port, share: "data" }, expire, {
        ...auth,
        timeoutMs: 300_000,
      });
    })();
    for (const name of expire) {
      await step(`smbtorture ${name}: the session expires with its 4 s ticket and is reauthenticated`, () => {
        need();
        const leaf = sub!.results.find((r) => `smb2.session.${r.name}` === name || r.name === name);
        assert(leaf, `${name} did not run: ${describeRun(sub!.run)}`);
        assert(leaf.outcome === "success", `${name}: ${leaf.outcome} ${leaf.detail}`);
        return Promise.resolve();
      });
    }

    await step(
      "a rotated service key: refused until the keytab is updated and control -r reloads it",
      async () => {
        const { kdc, h } = need();
        const principal = `cifs/${KERBEROS_SERVICE_HOST}`;
        // The KDC now issues tickets under a new key, which the server's keytab does not have yet.
        await kdc.kadmin(`cpw -randkey -e aes256-cts-hmac-sha1-96:normal ${principal}`);
        // The running server still holds the old keytab bytes: the new tickets do not decrypt.
        const refused = await kerberosSmbclient(kdc, { port: h.port, share: "data" }, "ls", auth);
        assert(refused.code !== 0, `accepted a ticket under an unknown key: ${describeRun(refused)}`);
        assertMatch(refused.stdout + refused.stderr, /NT_STATUS_LOGON_FAILURE/);
        // The keytab file gains the new key (kvno 2); a reload re-reads it (key rotation, no restart).
        await kdc.kadmin(`ktadd -k ${kdc.keytab} -norandkey ${principal}`);
        const reload = await runKsmbdCli(["control", "-C", h.confPath!, "-r"]);
        assert(reload.code === 0, `reload: ${describeRun(reload)}`);
        smbOk(await kerberosSmbclient(kdc, { port: h.port, share: "data" }, "ls", auth), "ls after reload");
      },
    );
  } finally {
    if (!ok) {
      if (kdc) console.error(`--- KDC log ---\n${kdc.log().slice(-4000)}`);
      if (h) console.error(`--- server log ---\n${h.logs().slice(-4000)}`);
    }
    await h?.stop().catch((e) => console.error(e));
    await kdc?.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("kerberos: kerberos support = yes without a readable keytab is a start-up error naming the file", async () => {
  const missing = "/nonexistent/ksmbd-test.keytab";
  let err = "";
  try {
    const h = await startKsmbd({
      shares: { data: {} },
      users: { [KUSER]: KPASS },
      global: { "kerberos support": "yes", "kerberos keytab file": missing },
      startTimeoutMs: 15_000,
    });
    await h.stop();
  } catch (e) {
    err = (e as Error).message;
  }
  assertMatch(err, /kerberos keytab file \/nonexistent\/ksmbd-test\.keytab/);
});
