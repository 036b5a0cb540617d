import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O } from "../../core/vfs/mod.ts";
import { assertKind, assertKindAsync, makeShare, snapshot } from "./_fixture.ts";

Deno.test("ShareFs on a read-only share refuses create, write, set-info, rename, link and delete", async () => {
  const f = makeShare({ readOnly: true });
  try {
    fs.writeFileSync(`${f.root}/f.txt`, "data");
    fs.mkdirSync(`${f.root}/d`);
    const before = snapshot(f.root);
    for (const d of [D.CREATE, D.OPEN_IF, D.OVERWRITE_IF, D.SUPERSEDE]) {
      assertKind(
        () => f.share.create("new.txt", { disposition: d }),
        "access_denied",
        `disposition ${d}`,
      );
    }
    assertKind(
      () => f.share.create("nd", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE }),
      "access_denied",
    );
    for (const d of [D.OVERWRITE, D.OVERWRITE_IF, D.SUPERSEDE]) {
      assertKind(() => f.share.create("f.txt", { disposition: d }), "access_denied");
    }
    assertKind(
      () => f.share.create("f.txt", { disposition: D.OPEN, writeAccess: true }),
      "access_denied",
    );
    // Reading works.
    const { handle: h } = f.share.create("F.TXT", { disposition: D.OPEN, writeAccess: "ifPossible" });
    assert.equal(h.writable, false);
    const buf = new Uint8Array(4);
    assert.equal(await f.share.read(h, buf, 0), 4);
    await assertKindAsync(() => f.share.write(h, buf, 0), "access_denied");
    assertKind(() => f.share.setBasicInfo(h, { lastWriteTime: 132594543671234567n }), "access_denied");
    assertKind(() => f.share.setEndOfFile(h, 0n), "access_denied");
    assertKind(() => f.share.setAllocationSize(h, 0n), "access_denied");
    assertKind(() => f.share.rename(h, "g.txt", false), "access_denied");
    assertKind(() => f.share.link(h, "g.txt", false), "access_denied");
    assertKind(() => f.share.canDelete(h), "access_denied");
    assertKind(() => f.share.remove("f.txt"), "access_denied");
    assertKind(() => f.share.remove("d"), "access_denied");
    f.share.closeHandle(h);
    assert.equal(f.share.listDir("", { includeDots: false }).length, 2);
    assert.equal(snapshot(f.root), before);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.statfs reports sizes, label and a stable serial", () => {
  const f = makeShare();
  try {
    const a = f.share.statfs();
    const b = f.share.statfs();
    assert.ok(a.totalBytes > 0n && a.freeBytes <= a.totalBytes && a.availBytes <= a.freeBytes);
    assert.ok(a.blockSize > 0);
    assert.equal(a.label, "test");
    assert.equal(a.serial, b.serial);
    assert.equal(a.fsName, "NTFS");
    assert.equal(a.maxNameLength, 255);
    assert.ok(a.volumeCreationTime > 116444736000000000n);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.open refuses a state directory inside the share", async () => {
  const { ShareFs } = await import("../../core/vfs/mod.ts");
  const f = makeShare();
  try {
    assertKind(
      () => ShareFs.open({ ...f.share.options, vetoFiles: [], stateDir: `${f.root}/.state` }),
      "invalid_argument",
    );
    assertKind(
      () => ShareFs.open({ ...f.share.options, vetoFiles: [], root: `${f.root}/missing` }),
      "no_share_root",
    );
  } finally {
    f.cleanup();
  }
});
