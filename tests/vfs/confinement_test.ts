import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O } from "../../core/vfs/mod.ts";
import { assertKind, makeShare, snapshot } from "./_fixture.ts";

Deno.test("ShareFs.create refuses traversal paths and touches nothing outside the root", () => {
  const f = makeShare();
  try {
    const before = snapshot(f.base + "/outside");
    const attempts = [
      "..\\outside\\secret.txt",
      "..\\outside\\new.txt",
      "a\\..\\..\\outside\\x",
      "\\..\\outside\\x",
      f.outside.replaceAll("/", "\\") + "\\secret.txt",
      f.outside + "/secret.txt",
      "..%2foutside",
      "..\u2215outside", // division slash is a plain character: created inside, harmless
      "\uff0e\uff0e\\outside\\x", // fullwidth dots are ordinary characters
      "%2e%2e\\outside\\x",
      ".. \\outside\\x",
      "...\\outside",
      "a\\..",
      "a\\.\\..\\..\\outside",
      "..\u0000\\outside",
      "outside\\..\\..\\outside\\secret.txt",
      "::$DATA\\..\\outside",
    ];
    for (const p of attempts) {
      for (const disposition of [D.OPEN, D.OPEN_IF, D.CREATE, D.OVERWRITE_IF, D.SUPERSEDE]) {
        try {
          const r = f.share.create(p, { disposition, writeAccess: true });
          // Anything that succeeds must live inside the root.
          const real = fs.realpathSync(`${f.root}/${r.relPath.replaceAll("\\", "/")}`);
          assert.ok(real.startsWith(f.root + "/"), `${p} escaped to ${real}`);
          f.share.closeHandle(r.handle);
        } catch (_e) {
          // refused: fine
        }
      }
    }
    assert.equal(snapshot(f.base + "/outside"), before);
    assert.equal(fs.readFileSync(`${f.outside}/secret.txt`, "utf8"), "secret");
    assertKind(
      () => f.share.create("..\\outside\\secret.txt", { disposition: D.OPEN }),
      "path_syntax_bad", // a leading `..` climbs above the root (core/vfs/path.ts)
    );
    assertKind(() => f.share.create("\\etc\\passwd", { disposition: D.OPEN }), "invalid_name");
    assertKind(() => f.share.create("C:\\x", { disposition: D.OPEN }), "invalid_name");
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs refuses symlinks when followSymlinks is off (file, dir component, dangling)", () => {
  const f = makeShare();
  try {
    fs.symlinkSync(`${f.outside}/secret.txt`, `${f.root}/link.txt`);
    fs.symlinkSync(f.outside, `${f.root}/linkdir`);
    fs.mkdirSync(`${f.root}/real`);
    fs.writeFileSync(`${f.root}/real/in.txt`, "in");
    fs.symlinkSync(`${f.root}/real`, `${f.root}/insidelink`);
    fs.symlinkSync(`${f.outside}/nothere.txt`, `${f.root}/dangling.txt`);
    const before = snapshot(f.outside);
    assertKind(() => f.share.create("link.txt", { disposition: D.OPEN }), "access_denied");
    assertKind(() => f.share.create("LINK.TXT", { disposition: D.OPEN }), "access_denied");
    assertKind(
      () => f.share.create("link.txt", { disposition: D.OVERWRITE_IF, writeAccess: true }),
      "access_denied",
    );
    assertKind(() => f.share.create("linkdir\\secret.txt", { disposition: D.OPEN }), "access_denied");
    assertKind(() => f.share.create("linkdir\\new.txt", { disposition: D.CREATE }), "access_denied");
    assertKind(() => f.share.create("linkdir", { disposition: D.OPEN }), "access_denied");
    // Even a link that stays inside the share is refused without followSymlinks.
    assertKind(() => f.share.create("insidelink\\in.txt", { disposition: D.OPEN }), "access_denied");
    assertKind(() => f.share.create("dangling.txt", { disposition: D.OPEN_IF }), "access_denied");
    assertKind(() => f.share.statPath("linkdir\\secret.txt"), "access_denied");
    assertKind(() => f.share.listDir("linkdir"), "access_denied");
    // Listings hide symlinks entirely.
    const names = f.share.listDir("", { includeDots: false }).map((m) => m.name).sort();
    assert.deepEqual(names, ["real"]);
    assert.equal(snapshot(f.outside), before);
    assert.ok(!fs.existsSync(`${f.outside}/nothere.txt`));
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs with followSymlinks follows links inside the root only", () => {
  const f = makeShare({ followSymlinks: true });
  try {
    fs.mkdirSync(`${f.root}/real`);
    fs.writeFileSync(`${f.root}/real/in.txt`, "in");
    fs.symlinkSync(`${f.root}/real`, `${f.root}/insidelink`);
    fs.symlinkSync("real/in.txt", `${f.root}/rel.txt`);
    fs.symlinkSync(f.outside, `${f.root}/linkdir`);
    fs.symlinkSync("../outside/secret.txt", `${f.root}/up.txt`);
    const r = f.share.create("insidelink\\IN.TXT", { disposition: D.OPEN });
    assert.equal(r.relPath, "insidelink\\in.txt");
    f.share.closeHandle(r.handle);
    const r2 = f.share.create("rel.txt", { disposition: D.OPEN, createOptions: O.NON_DIRECTORY_FILE });
    assert.equal(r2.meta.endOfFile, 2n);
    f.share.closeHandle(r2.handle);
    assertKind(() => f.share.create("linkdir\\secret.txt", { disposition: D.OPEN }), "access_denied");
    assertKind(() => f.share.create("up.txt", { disposition: D.OPEN }), "access_denied");
    const names = f.share.listDir("", { includeDots: false }).map((m) => m.name).sort();
    assert.deepEqual(names, ["insidelink", "real", "rel.txt"]);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.rename and link refuse targets outside the root", () => {
  const f = makeShare();
  try {
    const before = snapshot(f.outside);
    fs.symlinkSync(f.outside, `${f.root}/linkdir`);
    const r = f.share.create("a.txt", { disposition: D.CREATE });
    assertKind(() => f.share.rename(r.handle, "..\\outside\\a.txt", true), "path_syntax_bad");
    assertKind(() => f.share.rename(r.handle, "linkdir\\a.txt", true), "access_denied");
    assertKind(() => f.share.link(r.handle, "linkdir\\b.txt", true), "access_denied");
    assertKind(() => f.share.remove("linkdir\\secret.txt"), "access_denied");
    f.share.closeHandle(r.handle);
    assert.equal(snapshot(f.outside), before);
  } finally {
    f.cleanup();
  }
});
