/**
 * DCE/RPC over IPC$ with real clients, as ksmbd.mountd serves it (and more): `smbclient -L` under
 * SMB2 and SMB3, signed and unsigned; rpcclient's srvinfo, netshareenumall, netsharegetinfo,
 * lsaquery, lookupnames, lookupsids, enumdomains, enumdomusers and queryuser; impacket's
 * hNetrShareEnum (levels 1 and 2) and hNetrWkstaGetInfo (100); named-pipe semantics
 * (STATUS_BUFFER_OVERFLOW with the rest kept for the next read, STATUS_PIPE_BUSY, pipe names) and
 * malformed PDUs over a live pipe, after which the server keeps serving.
 *
 * `KSMBD_TEST_TARGET=samba` runs the same steps against Samba; the ksmbd-deno specific ones (exact
 * comments, the SID file in the state directory, fault codes for hostile PDUs) are skipped there.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { impacket, rpcclient, smbclientList } from "../helpers/clients.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { describeRun, type RunResult } from "../helpers/run_command.ts";
import { startServerSlot } from "../helpers/server.ts";

const SHARE = "test";
const COMMENT = "Share for RPC tests";
const NETBIOS = { ksmbd: "KSMBDTEST", samba: "SAMBATEST" } as const;

function assertOk(r: RunResult, what: string): void {
  assert(
    r.code === 0 && !r.timedOut && !/NT_STATUS_(?!OK)\w+|WERR_(?!OK)\w+/.test(r.stdout + r.stderr),
    `${what} failed: ${describeRun(r)}`,
  );
}

/** impacket: share enumeration, workstation info, pipe semantics and hostile PDUs; prints JSON. */
const IMPACKET_SCRIPT = String.raw`
import json, struct, sys
from impacket.smbconnection import SMBConnection, SessionError as ConnSessionError
from impacket.smb3 import SessionError
from impacket.smb3structs import SMB2Read_Response, SMB2Ioctl_Response, FSCTL_PIPE_TRANSCEIVE, SMB2_0_IOCTL_IS_FSCTL
from impacket.dcerpc.v5 import transport, srvs, wkst

port, user, pw, ksmbd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == 'ksmbd'
out = {}

def dce(pipe, uuid):
    t = transport.SMBTransport('127.0.0.1', port, pipe, username=user, password=pw)
    d = t.get_dce_rpc()
    d.connect()
    d.bind(uuid)
    return d

d = dce(r'\srvsvc', srvs.MSRPC_UUID_SRVS)
for lvl in (1, 2):
    rows = []
    for e in srvs.hNetrShareEnum(d, lvl)['InfoStruct']['ShareInfo']['Level%d' % lvl]['Buffer']:
        row = {'name': e['shi%d_netname' % lvl][:-1], 'type': e['shi%d_type' % lvl], 'remark': e['shi%d_remark' % lvl][:-1]}
        if lvl == 2:
            row['path'] = e['shi2_path'][:-1]
        rows.append(row)
    out['enum%d' % lvl] = rows
w = dce(r'\wkssvc', wkst.MSRPC_UUID_WKST)
i = wkst.hNetrWkstaGetInfo(w, 100)['WkstaInfo']['WkstaInfo100']
out['wksta100'] = {'platform': i['wki100_platform_id'], 'computer': i['wki100_computername'][:-1],
                   'langroup': i['wki100_langroup'][:-1], 'major': i['wki100_ver_major'], 'minor': i['wki100_ver_minor']}

# ---- raw pipe semantics
conn = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port)
conn.login(user, pw)
tid = conn.connectTree('IPC$')
s = conn.getSMBServer()

def uuid_le(u, ver):
    h = bytes.fromhex(u.replace('-', ''))
    return h[3::-1] + h[5:3:-1] + h[7:5:-1] + h[8:] + struct.pack('<I', ver)

SRVSVC = uuid_le('4b324fc8-1670-01d3-1278-5a47bf6ee188', 3)
NDR20 = uuid_le('8a885d04-1ceb-11c9-9fe8-08002b104860', 2)

def hdr(ptype, flags, body, call_id, auth_len=0, frag_len=None):
    n = 16 + len(body) if frag_len is None else frag_len
    return struct.pack('<BBBB4sHHI', 5, 0, ptype, flags, b'\x10\x00\x00\x00', n, auth_len, call_id) + body

def bind(call_id):
    return hdr(11, 3, struct.pack('<HHIB3x', 4280, 4280, 0, 1) + struct.pack('<HBx', 0, 1) + SRVSVC + NDR20, call_id)

def request(call_id, opnum, stub, alloc=None, **kw):
    return hdr(0, 3, struct.pack('<IHH', len(stub) if alloc is None else alloc, 0, opnum) + stub, call_id, **kw)

def wstr(x):
    x += '\0'
    return struct.pack('<III', len(x), 0, len(x)) + x.encode('utf-16-le') + (b'\0\0' if len(x) % 2 else b'')

GETINFO101 = struct.pack('<I', 0) + struct.pack('<I', 101)  # NULL server name, level 101

def read_raw(fid, n):
    try:
        return 0, s.read(tid, fid, 0, n)
    except SessionError as e:
        if e.get_error_code() != 0x80000005:
            return e.get_error_code(), b''
        r = SMB2Read_Response(e.packet['Data'])
        return 0x80000005, r['Buffer'][:r['DataLength']]

def ioctl_raw(fid, blob, maxout):
    try:
        return 0, s.ioctl(tid, fid, FSCTL_PIPE_TRANSCEIVE, SMB2_0_IOCTL_IS_FSCTL, blob, maxOutputResponse=maxout)
    except SessionError as e:
        if e.get_error_code() != 0x80000005:
            return e.get_error_code(), b''
        r = SMB2Ioctl_Response(e.packet['Data'])
        return 0x80000005, r['Buffer'][:r['OutputCount']]

def pdu_info(b):
    if len(b) < 16:
        return [len(b)]
    ptype, frag = b[2], struct.unpack_from('<H', b, 8)[0]
    status = struct.unpack_from('<I', b, 24)[0] if ptype == 3 and len(b) >= 28 else None
    return [ptype, frag, len(b), status]

fid = conn.openFile(tid, 'srvsvc')
conn.writeFile(tid, fid, bind(1))
st1, p1 = read_raw(fid, 20)
st2, p2 = read_raw(fid, 4096)
out['read_overflow'] = [st1, len(p1), st2, len(p2)] + pdu_info(p1 + p2)
st3, q1 = ioctl_raw(fid, request(2, 21, GETINFO101), 16)
st4, q2 = read_raw(fid, 4096)
out['ioctl_overflow'] = [st3, len(q1), st4, len(q2)] + pdu_info(q1 + q2)
if ksmbd:
    # Samba blocks a READ on an empty pipe until data arrives; ksmbd-deno answers at once.
    ioctl_raw(fid, request(3, 21, GETINFO101), 16)
    st5, _ = ioctl_raw(fid, request(4, 21, GETINFO101), 4096)
    read_raw(fid, 4096)
    out['busy'] = st5
    st6, _ = read_raw(fid, 4096)
    out['empty'] = st6
    # One 20 KiB PDU in a single SMB WRITE (the core splits it into several bridge events): the
    # stub is NetrServerGetInfo(101) followed by padding the server ignores.
    big = request(5, 21, GETINFO101 + bytes(20000))
    conn.writeFile(tid, fid, big)
    st7, ans = read_raw(fid, 4096)
    out['big_write'] = [len(big), st7] + pdu_info(ans)
conn.closeFile(tid, fid)

names = {}
for name in ('\\srvsvc', 'SRVSVC', 'wkssvc', 'lsarpc', 'samr', 'winreg', 'LANMAN', 'mdssvc', 'srvsvc\\x'):
    try:
        f = conn.openFile(tid, name)
        conn.closeFile(tid, f)
        names[name] = 0
    except (SessionError, ConnSessionError) as e:
        names[name] = e.getErrorCode() if hasattr(e, 'getErrorCode') else e.get_error_code()
out['names'] = names

# ---- hostile PDUs on a bound pipe: each answer is recorded; the pipe is reopened between cases
good = request(10, 21, GETINFO101)
cases = {
    'truncated': good[:20],
    'frag_len_beyond_data': good[:8] + struct.pack('<H', len(good) + 100) + good[10:],
    'frag_len_below_header': good[:8] + struct.pack('<H', 10) + good[10:],
    'auth_len_lie': good[:10] + struct.pack('<H', 0xfff0) + good[12:],
    'unknown_opnum': request(11, 200, GETINFO101),
    'huge_alloc_hint': request(12, 21, GETINFO101, alloc=0xffffffff),
    'string_count_lie': request(13, 16, struct.pack('<I', 0) + struct.pack('<III', 2, 0, 50) + b'a\0' * 2 + struct.pack('<I', 1)),
    'array_count_lie': request(14, 15, struct.pack('<I', 0) + struct.pack('<IIIIIII', 1, 1, 0x20000, 5, 0x20004, 0x7fffffff, 0)),
    'random_bytes': bytes(range(7, 200, 3)),
}
bad = {}
for name, blob in (cases.items() if ksmbd else []):
    f = conn.openFile(tid, 'srvsvc')
    ioctl_raw(f, bind(1), 4096)
    st, ans = ioctl_raw(f, blob, 4096)
    bad[name] = [st] + pdu_info(ans)
    conn.closeFile(tid, f)
out['bad'] = bad
# the server still serves
d2 = dce(r'\srvsvc', srvs.MSRPC_UUID_SRVS)
out['after'] = [e['shi1_netname'][:-1] for e in srvs.hNetrShareEnum(d2, 1)['InfoStruct']['ShareInfo']['Level1']['Buffer']]
print(json.dumps(out))
`;

Deno.test("rpc: DCE/RPC over IPC$ with smbclient, rpcclient and impacket", async (t) => {
  const slot = await startServerSlot({
    shares: { [SHARE]: { "read only": "no", "comment": COMMENT }, hidden: { "browseable": "no" } },
    users: TEST_USERS,
  });
  const auth = { user: TEST_USER, pass: TEST_PASS, timeoutMs: 60_000 };
  const kind = (): "ksmbd" | "samba" => slot.get().kind;
  const rpc = async (
    cmd: string,
    extra: Partial<typeof auth> & { protocol?: string; extraArgs?: string[] } = {},
  ) => slot.watch(await rpcclient({ port: slot.get().port }, cmd, { ...auth, ...extra }));
  let ok = true;
  let domainSid = "";
  let userSid = "";
  let userRid = 0;
  try {
    for (const protocol of ["SMB2", "SMB3"]) {
      for (const signed of [true, false]) {
        ok = await t.step(
          `smbclient -L (${protocol}, ${signed ? "signed" : "unsigned"}) lists shares with comments`,
          async () => {
            const r = slot.watch(
              await smbclientList({ port: slot.get().port }, {
                ...auth,
                protocol,
                sign: signed,
                extraArgs: signed ? [] : ["--client-protection=off"],
              }),
            );
            assertOk(r, "smbclient -L");
            assertMatch(r.stdout, new RegExp(`^\\s+${SHARE}\\s+Disk\\s+${COMMENT}\\s*$`, "m"));
            assertMatch(r.stdout, /^\s+IPC\$\s+IPC\s/m);
            assert(!/^\s+hidden\s/m.test(r.stdout), `a share with browseable = no is listed:\n${r.stdout}`);
          },
        ) && ok;
      }
    }
    ok = await t.step("smbclient -L as an anonymous (restricted) session", async () => {
      const r = slot.watch(
        await smbclientList({ port: slot.get().port }, { user: "", pass: "", extraArgs: ["-N"] }),
      );
      assertOk(r, "smbclient -L -N");
      assertMatch(r.stdout, new RegExp(`^\\s+${SHARE}\\s+Disk`, "m"));
    }) && ok;
    ok = await t.step("rpcclient srvinfo (also over an encrypted SMB3 session)", async () => {
      for (const extraArgs of [[], ["--client-protection=encrypt"]]) {
        const r = await rpc("srvinfo", { protocol: "SMB3", extraArgs });
        assertOk(r, "srvinfo");
        assertMatch(r.stdout, new RegExp(`^\\s+${NETBIOS[kind()]}\\s+Wk Sv`, "m"));
        assertMatch(r.stdout, /platform_id\s*:\s*500/);
        assertMatch(r.stdout, /os version\s*:\s*\d+\.\d+/);
      }
    }) && ok;
    ok = await t.step("rpcclient netshareenumall", async () => {
      const r = await rpc("netshareenumall");
      assertOk(r, "netshareenumall");
      assertMatch(
        r.stdout,
        new RegExp(`^netname: ${SHARE}\\n\\s*remark:\\s*${COMMENT}\\n\\s*path:\\s*C:\\\\`, "m"),
      );
      assertMatch(r.stdout, /^netname: IPC\$$/m);
      assert(!/^netname: hidden$/m.test(r.stdout), "hidden share enumerated");
    }) && ok;
    ok = await t.step("rpcclient netsharegetinfo (level 502 by default, and 1)", async () => {
      for (
        const cmd of [`netsharegetinfo ${SHARE}`, `netsharegetinfo ${SHARE} 1`, "netsharegetinfo hidden 1"]
      ) {
        const r = await rpc(cmd);
        assertOk(r, cmd);
        assertMatch(r.stdout, new RegExp(`^netname: ${cmd.split(" ")[1]}$`, "m"));
      }
      const r = await rpc(`netsharegetinfo ${SHARE}`);
      assertMatch(r.stdout, new RegExp(`remark:\\s*${COMMENT}`));
      assertMatch(r.stdout, /type:\s*0x0/);
      const missing = await rpc("netsharegetinfo nosuchshare");
      assertMatch(missing.stdout + missing.stderr, /WERR_\w+/);
      if (kind() === "ksmbd") assertMatch(missing.stdout + missing.stderr, /WERR_NERR_NETNAMENOTFOUND/);
    }) && ok;
    ok = await t.step("rpcclient lsaquery (primary domain) and lsaquery 5 (account domain SID)", async () => {
      let r = await rpc("lsaquery");
      assertOk(r, "lsaquery");
      assertMatch(r.stdout, /^Domain Name: WORKGROUP$/m);
      r = await rpc("lsaquery 5");
      assertOk(r, "lsaquery 5");
      assertMatch(r.stdout, new RegExp(`^Domain Name: ${NETBIOS[kind()]}$`, "m"));
      const m = /^Domain Sid: (S-1-5-21-\d+-\d+-\d+)$/m.exec(r.stdout);
      assert(m !== null, `no domain SID in:\n${r.stdout}`);
      domainSid = m[1];
      if (kind() === "ksmbd") {
        // ksmbd's scheme: the three sub-authorities live in <state dir>/ksmbd.subauth.
        const file = (await Deno.readTextFile(`${slot.get().dir}/state/ksmbd.subauth`)).trim();
        assertEquals(domainSid, `S-1-5-21-${file.replaceAll(":", "-")}`);
      }
    }) && ok;
    ok = await t.step("rpcclient lookupnames <user>", async () => {
      const r = await rpc(`lookupnames ${TEST_USER}`);
      assertOk(r, "lookupnames");
      const m = new RegExp(`^${TEST_USER} (S-1-5-21-\\d+-\\d+-\\d+)-(\\d+) \\(User: 1\\)$`, "m").exec(
        r.stdout,
      );
      assert(m !== null, `unexpected lookupnames output:\n${r.stdout}`);
      assertEquals(m[1], domainSid);
      userRid = Number(m[2]);
      userSid = `${m[1]}-${m[2]}`;
      if (kind() === "ksmbd") {
        // RID = the unix uid when the account exists on this machine (ksmbd's scheme).
        const uid = await new Deno.Command("id", { args: ["-u", TEST_USER], stdout: "piped", stderr: "null" })
          .output();
        if (uid.success) assertEquals(userRid, Number(new TextDecoder().decode(uid.stdout).trim()));
      }
    }) && ok;
    ok = await t.step("rpcclient lookupsids <sid>", async () => {
      const r = await rpc(`lookupsids ${userSid} S-1-1-0 S-1-5-32-544`);
      assertOk(r, "lookupsids");
      assertMatch(r.stdout, new RegExp(`^${userSid} ${NETBIOS[kind()]}\\\\${TEST_USER} \\(1\\)$`, "m"));
      assertMatch(r.stdout, /^S-1-5-32-544 BUILTIN\\Administrators \(4\)$/m);
    }) && ok;
    ok = await t.step("rpcclient enumdomains", async () => {
      const r = await rpc("enumdomains");
      assertOk(r, "enumdomains");
      assertMatch(r.stdout, new RegExp(`^name:\\[${NETBIOS[kind()]}\\] idx:\\[0x[0-9a-f]+\\]$`, "mi"));
      assertMatch(r.stdout, /^name:\[Builtin\] idx:\[0x[0-9a-f]+\]$/m);
    }) && ok;
    ok = await t.step("rpcclient enumdomusers", async () => {
      const r = await rpc("enumdomusers");
      assertOk(r, "enumdomusers");
      assertMatch(r.stdout, new RegExp(`^user:\\[${TEST_USER}\\] rid:\\[0x${userRid.toString(16)}\\]$`, "m"));
    }) && ok;
    ok = await t.step("rpcclient queryuser <rid>", async () => {
      const r = await rpc(`queryuser ${userRid}`);
      assertOk(r, "queryuser");
      assertMatch(r.stdout, new RegExp(`User Name\\s*:\\s*${TEST_USER}$`, "m"));
      assertMatch(r.stdout, new RegExp(`user_rid\\s*:\\s*0x${userRid.toString(16)}$`, "m"));
      assertMatch(r.stdout, /acb_info\s*:\s*0x[0-9a-f]+$/m);
      if (kind() === "ksmbd") assertMatch(r.stdout, /acb_info\s*:\s*0x0*210$/m); // normal, password never expires
    }) && ok;
    ok = await t.step("rpcclient: lsarpc and samr are refused to anonymous sessions", async () => {
      if (kind() !== "ksmbd") return; // Samba's answer depends on `restrict anonymous`
      const r = await rpc("lsaquery", { user: "", pass: "", extraArgs: ["-N"] });
      assertMatch(r.stdout + r.stderr, /NT_STATUS_ACCESS_DENIED/);
      const s = await rpc("srvinfo", { user: "", pass: "", extraArgs: ["-N"] });
      assertOk(s, "anonymous srvinfo");
    }) && ok;
    ok = await t.step(
      "impacket: hNetrShareEnum 1 and 2, hNetrWkstaGetInfo 100, pipe semantics, hostile PDUs",
      async () => {
        const script = await Deno.makeTempFile({ prefix: "rpc-impacket-", suffix: ".py" });
        try {
          await Deno.writeTextFile(script, IMPACKET_SCRIPT);
          const r = slot.watch(
            await impacket(script, [String(slot.get().port), TEST_USER, TEST_PASS, kind()]),
          );
          assert(r.code === 0 && !r.timedOut, `impacket script failed: ${describeRun(r)}`);
          const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
          for (const lvl of [1, 2]) {
            const rows = out[`enum${lvl}`] as {
              name: string;
              type: number;
              remark: string;
              path?: string;
            }[];
            const test = rows.find((x) => x.name === SHARE);
            assert(test !== undefined, `level ${lvl}: ${JSON.stringify(rows)}`);
            assertEquals([test.type, test.remark], [0, COMMENT]);
            assert(
              rows.some((x) => x.name === "IPC$" && (x.type & 0xff) === 3),
              `no IPC$ at level ${lvl}`,
            );
            assert(!rows.some((x) => x.name === "hidden"), "hidden share enumerated");
            if (lvl === 2) {
              assertMatch(test.path!, /^C:\\/);
            }
          }
          assertEquals(out.wksta100.platform, 500);
          assertEquals(out.wksta100.computer, NETBIOS[kind()]);
          assertEquals(out.wksta100.langroup, "WORKGROUP");
          // A 20-byte READ of a longer bind_ack returns 20 bytes and the next READ the rest. ksmbd-deno
          // answers the short read with STATUS_BUFFER_OVERFLOW as Windows does for message-mode pipes;
          // Samba treats the pipe as a byte stream and answers STATUS_SUCCESS.
          const overflow = kind() === "ksmbd" ? 0x80000005 : 0;
          const [st1, n1, st2, n2, ptype, frag, total] = out.read_overflow;
          assertEquals([st1, n1, st2, ptype, frag, total], [overflow, 20, 0, 12, n1 + n2, n1 + n2]);
          // The same for FSCTL_PIPE_TRANSCEIVE with MaxOutputResponse 16: the rest comes with READ.
          const [st3, m1, st4, m2, ptype2, frag2] = out.ioctl_overflow;
          assertEquals([st3, m1, st4, ptype2, frag2], [0x80000005, 16, 0, 2, m1 + m2]);
          if (kind() === "ksmbd") {
            assertEquals(out.busy, 0xc00000ae); // STATUS_PIPE_BUSY: unread data left in the pipe
            assertEquals(out.empty, 0xc00000d9); // STATUS_PIPE_EMPTY
            assertEquals(out.big_write.slice(1, 3), [0, 2]); // a response to the 20 KiB request
            const nf = 0xc0000034;
            assertEquals(out.names, {
              "\\srvsvc": 0,
              "SRVSVC": 0,
              "wkssvc": 0,
              "lsarpc": 0,
              "samr": 0,
              "winreg": nf,
              "LANMAN": nf,
              "mdssvc": nf,
              "srvsvc\\x": nf,
            });
            // [status, ptype, frag_length, bytes, fault status]
            const fault = (code: number): number[] => [0, 3, 32, 32, code];
            assertEquals(out.bad.truncated, fault(0x1c01000b));
            assertEquals(out.bad.frag_len_beyond_data, fault(0x1c01000b));
            assertEquals(out.bad.frag_len_below_header, fault(0x1c01000b));
            assertEquals(out.bad.auth_len_lie, fault(0x1c01000b));
            assertEquals(out.bad.unknown_opnum, fault(0x1c010002));
            assertEquals(out.bad.string_count_lie, fault(0x6f7));
            assertEquals(out.bad.array_count_lie, fault(0x6f7));
            assertEquals(out.bad.random_bytes, fault(0x1c01000b));
            assertEquals(out.bad.huge_alloc_hint.slice(0, 2), [0, 2]); // an ordinary response
          }
          assert(out.after.includes(SHARE), `server stopped serving after hostile PDUs: ${out.after}`);
        } finally {
          await Deno.remove(script).catch(() => {});
        }
      },
    ) && ok;
  } finally {
    if (!ok && slot.logs()) console.error(`--- server output (tail) ---\n${slot.logs().slice(-6000)}`);
    await slot.stop();
  }
});
