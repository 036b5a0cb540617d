/**
 * The pure parts of the shared user database and share sections (core/cluster/shared_config.ts,
 * docs/cluster.md §7.3): splitting ksmbd.conf into the node-local part and the share sections and
 * merging them back, the etcd value codec, the three-way user merge, the sync decision, and the
 * in-place file write.
 *
 * Run: deno test -A tests/cluster/shared_config_unit_test.ts
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  decideSync,
  decodeSharedValue,
  encodeSharedValue,
  mergeConfig,
  mergeUsers,
  SHARED_CONFIG_VERSION,
  splitConfig,
  type SyncInputs,
  writeFileInPlace,
} from "../../core/cluster/shared_config.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

const CONF = "; node-local comment\n" +
  "[global]\n\tcluster node name = node1\n\n" +
  "[data]\n\tpath = /srv/data\n; trailing comment of data\n\n" +
  "[Global]\n\tnetbios name = N1\n" +
  "[docs]\n\tpath = /srv/docs\n\tread only = no";

Deno.test("splitConfig: [global] blocks (any case) and the preamble are local, the rest shared, exactly", () => {
  const s = splitConfig(CONF);
  assertEquals(
    s.local,
    "; node-local comment\n[global]\n\tcluster node name = node1\n\n[Global]\n\tnetbios name = N1\n",
  );
  assertEquals(
    s.shares,
    "[data]\n\tpath = /srv/data\n; trailing comment of data\n\n[docs]\n\tpath = /srv/docs\n\tread only = no",
  );
  assertEquals(s.local.length + s.shares.length, CONF.length, "no character lost or added");
  assertEquals(splitConfig("").local, "");
  assertEquals(splitConfig("[global]\n").shares, "");
  assertEquals(splitConfig("[a]\npath = /x\n").local, "");
  // An indented header and CRLF lines are headers too.
  assertEquals(splitConfig("[global]\r\n  [b]\r\npath = /b\r\n").shares, "  [b]\r\npath = /b\r\n");
});

Deno.test("mergeConfig keeps the local part exactly and round-trips through splitConfig", () => {
  const local = "[global]\n\tcluster node name = node2\n\tstate directory = /var/lib/n2";
  const shares = "[x]\n\tpath = /x\n\n[y]\n\tpath = /y\n";
  const merged = mergeConfig(local, shares);
  assertEquals(merged, local + "\n" + shares);
  assertEquals(splitConfig(merged), { local: local + "\n", shares });
  assertEquals(mergeConfig(local + "\n", shares), local + "\n" + shares);
  assertEquals(mergeConfig("", shares), shares);
  // Merging the same shares again changes nothing (no ping-pong between file and etcd).
  assertEquals(mergeConfig(splitConfig(merged).local, shares), merged);
});

Deno.test("value codec: round trip; malformed, wrong kind, newer versions and oversize refused", () => {
  const v = encodeSharedValue("users", "alice:AAAAAAAAAAAAAAAAAAAAAA==\n", "node1");
  const d = decodeSharedValue(enc(v), "users");
  assert(d.ok);
  assertEquals(d.value, { text: "alice:AAAAAAAAAAAAAAAAAAAAAA==\n", node: "node1" });
  const wrongKind = decodeSharedValue(enc(v), "shares");
  assert(!wrongKind.ok && !wrongKind.newer && /kind/.test(wrongKind.reason));
  const newer = decodeSharedValue(
    enc(JSON.stringify({ v: SHARED_CONFIG_VERSION + 1, kind: "users", node: "n", text: "" })),
    "users",
  );
  assert(!newer.ok && newer.newer, "a newer format is told apart");
  for (
    const bad of [
      "not json",
      "[1]",
      "null",
      JSON.stringify({ kind: "users", node: "n", text: "" }),
      JSON.stringify({ v: "1", kind: "users", node: "n", text: "" }),
      JSON.stringify({ v: 1, kind: "users", node: "n", text: 5 }),
      JSON.stringify({ v: 1, kind: "users", text: "" }),
    ]
  ) {
    const r = decodeSharedValue(enc(bad), "users");
    assert(!r.ok && !r.newer, `refused: ${bad}`);
  }
  const invalidUtf8 = decodeSharedValue(new Uint8Array([0x7b, 0xff, 0x7d]), "users");
  assert(!invalidUtf8.ok);
  const big = decodeSharedValue(enc(v), "users", 10);
  assert(!big.ok && /more than 10/.test(big.reason));
});

const H = (c: string): string => `${c.repeat(22)}==`;

Deno.test("mergeUsers: changes on each side by name; the same name changed on both: the cluster wins", () => {
  const base = `a:${H("A")}\nb:${H("B")}\nc:${H("C")}\n`;
  // Here: added d, changed a, removed c. There: added e, changed b.
  const local = `a:${H("X")}\nb:${H("B")}\nd:${H("D")}\n`;
  const remote = `a:${H("A")}\nb:${H("Y")}\nc:${H("C")}\ne:${H("E")}\n`;
  const m = mergeUsers(base, local, remote);
  assertEquals(m.text, `a:${H("X")}\nb:${H("Y")}\ne:${H("E")}\nd:${H("D")}\n`);
  assertEquals(m.lost, []);
  // Both changed b differently: the cluster's b stays and b is reported.
  const both = mergeUsers(base, `a:${H("A")}\nb:${H("Z")}\nc:${H("C")}\n`, remote);
  assertEquals(both.text, remote);
  assertEquals(both.lost, ["b"]);
  // Both added the same user the same way: no conflict.
  const same = mergeUsers("", `f:${H("F")}\n`, `f:${H("F")}\n`);
  assertEquals(same, { text: `f:${H("F")}\n`, lost: [] });
  // Removed here, changed there: the cluster's change stays.
  const rc = mergeUsers(base, `a:${H("A")}\nb:${H("B")}\n`, `a:${H("A")}\nb:${H("B")}\nc:${H("Q")}\n`);
  assertEquals(rc, { text: `a:${H("A")}\nb:${H("B")}\nc:${H("Q")}\n`, lost: ["c"] });
});

function remote(rev: bigint, text: string, problem: string | null = null): SyncInputs["remote"] {
  return { rev, decoded: { ok: true, value: { text, node: "other" } }, problem };
}

Deno.test("decideSync: seed, nothing to do, publish, pull, conflicts, refusals", () => {
  const base = { kind: "shares" as const, localProblem: null };
  // No value yet: seed with create-if-absent.
  assertEquals(decideSync({ ...base, synced: null, local: "[a]\n", remote: null }), {
    action: "publish",
    text: "[a]\n",
    compareRev: 0n,
    why: "seed",
  });
  // Join with a value: the cluster's wins.
  assertEquals(decideSync({ ...base, synced: null, local: "[a]\n", remote: remote(5n, "[b]\n") }), {
    action: "pull",
    text: "[b]\n",
    rev: 5n,
    lost: null,
  });
  // In sync.
  assertEquals(
    decideSync({ ...base, synced: { rev: 5n, text: "[b]\n" }, local: "[b]\n", remote: remote(5n, "[b]\n") }),
    { action: "none" },
  );
  // Local change, cluster unchanged: publish with a compare on the synced revision.
  assertEquals(
    decideSync({ ...base, synced: { rev: 5n, text: "[b]\n" }, local: "[c]\n", remote: remote(5n, "[b]\n") }),
    { action: "publish", text: "[c]\n", compareRev: 5n, why: "local" },
  );
  // Our own file just got the cluster's text: nothing to publish (no ping-pong).
  assertEquals(
    decideSync({ ...base, synced: { rev: 5n, text: "[b]\n" }, local: "[b]\n", remote: remote(7n, "[d]\n") }),
    { action: "pull", text: "[d]\n", rev: 7n, lost: null },
  );
  // Both changed: shares lose to the cluster, reported.
  const lost = decideSync({
    ...base,
    synced: { rev: 5n, text: "[b]\n" },
    local: "[c]\n",
    remote: remote(7n, "[d]\n"),
  });
  assert(lost.action === "pull" && lost.text === "[d]\n" && lost.lost !== null);
  // Both changed: users are merged and published against the cluster's revision.
  const users = decideSync({
    kind: "users",
    localProblem: null,
    synced: { rev: 5n, text: `a:${H("A")}\n` },
    local: `a:${H("A")}\nb:${H("B")}\n`,
    remote: remote(7n, `a:${H("A")}\nc:${H("C")}\n`),
  });
  assertEquals(users, {
    action: "publish",
    text: `a:${H("A")}\nc:${H("C")}\nb:${H("B")}\n`,
    compareRev: 7n,
    why: "merge",
  });
  // A value that does not parse: not applied, unless a local change replaces it.
  const bad = remote(9n, "[broken\n", "line 1: unterminated");
  assertEquals(
    decideSync({ ...base, synced: { rev: 5n, text: "[b]\n" }, local: "[b]\n", remote: bad }).action,
    "refuse",
  );
  assertEquals(
    decideSync({ ...base, synced: { rev: 5n, text: "[b]\n" }, local: "[e]\n", remote: bad }),
    { action: "publish", text: "[e]\n", compareRev: 9n, why: "replace-invalid" },
  );
  // Malformed or newer: refused whatever the local side did (never overwritten).
  for (
    const decoded of [{ ok: false, newer: true, reason: "v 2" }, {
      ok: false,
      newer: false,
      reason: "x",
    }] as const
  ) {
    const d = decideSync({
      ...base,
      synced: { rev: 5n, text: "[b]\n" },
      local: "[e]\n",
      remote: { rev: 9n, decoded, problem: null },
    });
    assertEquals(d.action, "refuse");
  }
  // A local file that does not parse is never published.
  assertEquals(
    decideSync({
      ...base,
      localProblem: "bad",
      synced: { rev: 5n, text: "[b]\n" },
      local: "[b\n",
      remote: remote(5n, "[b]\n"),
    }),
    { action: "refuse", reason: "local change not published: bad" },
  );
  assertEquals(
    decideSync({ ...base, localProblem: "bad", synced: null, local: "[b\n", remote: null }).action,
    "refuse",
  );
});

Deno.test("writeFileInPlace: same inode, shorter and longer content, mode kept at 0600", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = `${dir}/ksmbdpwd.db`;
    await Deno.writeTextFile(p, "x".repeat(1000));
    await Deno.chmod(p, 0o600);
    const ino = (await Deno.stat(p)).ino;
    await writeFileInPlace(p, "short\n", 0o600);
    assertEquals(await Deno.readTextFile(p), "short\n");
    await writeFileInPlace(p, "y".repeat(5000), 0o600);
    assertEquals(await Deno.readTextFile(p), "y".repeat(5000));
    const st = await Deno.stat(p);
    assertEquals(st.ino, ino, "written in place, not replaced");
    assertEquals(st.mode! & 0o777, 0o600);
    // A process without write permission on the file (the server's sandbox, core/permissions.ts):
    // the write is reported and the content untouched (whatever uid runs the test).
    const mod = new URL("../../core/cluster/shared_config.ts", import.meta.url).href;
    const script = `${dir}/try_write.ts`;
    await Deno.writeTextFile(
      script,
      `import { writeFileInPlace } from ${JSON.stringify(mod)};\n` +
        `try { await writeFileInPlace(${JSON.stringify(p)}, "z"); console.log("written"); }\n` +
        `catch (e) { console.log("refused: " + (e as Error).name); }\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", `--allow-read=${p},${script}`, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(out.stdout).trim();
    assert(said.startsWith("refused:"), `${said} ${new TextDecoder().decode(out.stderr)}`);
    assertEquals(await Deno.readTextFile(p), "y".repeat(5000));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
