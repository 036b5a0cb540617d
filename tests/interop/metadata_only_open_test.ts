/**
 * Opens without a descriptor (docs/performance.md "Opens without a descriptor"; core/smb2/create.ts,
 * core/vfs/share_fs.ts CreateRequest.metadataOnly): a CREATE that asks only to read attributes (a
 * stat, Windows Explorer's and libsmbclient's) or to delete holds no descriptor in the server
 * process, answers QUERY_INFO from the path, is still refused data access, and still deletes on close.
 * Opens that read data hold one each, which shows the count below can see descriptors.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { corePid } from "../helpers/fsync_trace.ts";
import { startKsmbd } from "../helpers/server.ts";
import {
  Access,
  closeBody,
  Cmd,
  createBody,
  CreateOpt,
  Disposition,
  fileId,
  get64,
  queryInfoBody,
  queryInfoOutput,
  RawConn,
  readBody,
  St,
  statusName,
} from "./raw_client.ts";

const SHARE = "mo";
const FILE_ALL_INFORMATION = 18; // MS-FSCC 2.4.2
const HANDLES = 40;

function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

Deno.test("metadata-only opens hold no descriptor, answer QUERY_INFO, refuse READ and delete on close", async () => {
  const srv = await startKsmbd({ shares: { [SHARE]: { "read only": "no" } }, users: TEST_USERS });
  let c: RawConn | undefined;
  try {
    const dir = srv.shareDirs[SHARE];
    Deno.writeTextFileSync(`${dir}/f.txt`, "0123456789");
    Deno.writeTextFileSync(`${dir}/gone.txt`, "x");
    const pid = corePid(srv.pid);
    c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
    const open = async (name: string, access: number, options = 0): Promise<Uint8Array> => {
      const m = await c!.call(
        Cmd.CREATE,
        createBody(name, { access, disposition: Disposition.OPEN, options }),
      );
      assertEquals(statusName(m.status), statusName(St.SUCCESS), `CREATE ${name} 0x${access.toString(16)}`);
      return fileId(m);
    };

    const before = fdCount(pid);
    const statOpens: Uint8Array[] = [];
    for (let i = 0; i < HANDLES; i++) {
      statOpens.push(await open(i % 2 ? "f.txt" : "", Access.READ_ATTRIBUTES | Access.SYNCHRONIZE));
    }
    const held = fdCount(pid) - before;
    assert(held < 5, `${HANDLES} attribute-only opens held ${held} more descriptors`);

    const q = await c.call(Cmd.QUERY_INFO, queryInfoBody(statOpens[1], 1, FILE_ALL_INFORMATION));
    assertEquals(statusName(q.status), statusName(St.SUCCESS));
    // FileAllInformation: Basic (40 bytes), then Standard: AllocationSize, EndOfFile.
    assertEquals(get64(queryInfoOutput(q), 48), 10n);
    const r = await c.call(Cmd.READ, readBody(statOpens[1], 0, 10));
    assertEquals(statusName(r.status), statusName(St.ACCESS_DENIED));

    const dataOpens: Uint8Array[] = [];
    for (let i = 0; i < HANDLES; i++) {
      dataOpens.push(await open("f.txt", Access.READ_DATA | Access.SYNCHRONIZE));
    }
    const dataHeld = fdCount(pid) - before - held;
    assert(dataHeld >= HANDLES, `${HANDLES} opens for reading held only ${dataHeld} more descriptors`);

    for (const f of [...statOpens, ...dataOpens]) {
      const cl = await c.call(Cmd.CLOSE, closeBody(f));
      assertEquals(statusName(cl.status), statusName(St.SUCCESS));
    }

    // libsmbclient's unlink: DELETE alone, delete on close.
    const del = await open("gone.txt", Access.DELETE, CreateOpt.DELETE_ON_CLOSE);
    const cl = await c.call(Cmd.CLOSE, closeBody(del));
    assertEquals(statusName(cl.status), statusName(St.SUCCESS));
    let exists = true;
    try {
      Deno.statSync(`${dir}/gone.txt`);
    } catch {
      exists = false;
    }
    assert(!exists, "gone.txt was not deleted on close");
  } finally {
    await c?.dispose();
    await srv.stop();
  }
});
