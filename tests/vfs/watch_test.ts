/** core/vfs/watch.ts: DiskWatchers against a real directory (inotify through Deno.watchFs). */
import { assert, assertEquals } from "../helpers/assert.ts";
import { type DiskChange, DiskWatchers } from "../../core/vfs/watch.ts";
import { Limits } from "../../core/limits.ts";

/** Collects what a subscription receives; `next` waits for the next batch. */
function sink(): { batches: (DiskChange[] | null)[]; next: (ms?: number) => Promise<DiskChange[] | null> } {
  const batches: (DiskChange[] | null)[] = [];
  return {
    batches,
    next: async (ms = 3000) => {
      const deadline = Date.now() + ms;
      while (batches.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (batches.length === 0) throw new Error("no change reported");
      return batches.shift()!;
    },
  };
}

async function withDir(fn: (dir: string, w: DiskWatchers) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "watch_test_" });
  const w = new DiskWatchers();
  try {
    await fn(dir, w);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

Deno.test("DiskWatchers.subscribe reports a create, a rename and a remove made on the disk", async () => {
  await withDir(async (dir, w) => {
    const s = sink();
    const sub = w.subscribe(dir, false, "s1", (c) => s.batches.push(c));
    assert(sub !== null, w.lastError);
    Deno.writeFileSync(`${dir}/a.txt`, new Uint8Array(1));
    assertEquals((await s.next())?.[0], { path: "a.txt", kind: "added", isDirectory: false });
    await settle();
    s.batches.length = 0;
    Deno.renameSync(`${dir}/a.txt`, `${dir}/b.txt`);
    assertEquals(await s.next(), [
      { path: "a.txt", kind: "renamed-old", isDirectory: false },
      { path: "b.txt", kind: "renamed-new", isDirectory: false },
    ]);
    Deno.removeSync(`${dir}/b.txt`);
    assertEquals(await s.next(), [{ path: "b.txt", kind: "removed", isDirectory: null }]);
    w.unsubscribe(sub!);
    assertEquals(w.size, 0);
  });
});

Deno.test("DiskWatchers.noteOwn drops the inotify echo of a change the server made", async () => {
  await withDir(async (dir, w) => {
    const s = sink();
    const sub = w.subscribe(dir, false, "s1", (c) => s.batches.push(c));
    w.noteOwn(`${dir}/own.txt`);
    Deno.writeFileSync(`${dir}/own.txt`, new Uint8Array(1));
    Deno.writeFileSync(`${dir}/other.txt`, new Uint8Array(1));
    const got = await s.next();
    assert(got !== null && got.every((c) => c.path === "other.txt"), JSON.stringify(got));
    w.unsubscribe(sub!);
  });
});

Deno.test("DiskWatchers.subscribe shares one watcher per directory and becomes recursive for WATCH_TREE", async () => {
  await withDir(async (dir, w) => {
    Deno.mkdirSync(`${dir}/sub`);
    const flat = sink(), tree = sink();
    const a = w.subscribe(dir, false, "s1", (c) => flat.batches.push(c));
    const b = w.subscribe(dir, true, "s2", (c) => tree.batches.push(c));
    assertEquals(w.size, 1);
    Deno.writeFileSync(`${dir}/sub/n.txt`, new Uint8Array(1));
    assertEquals((await tree.next())?.[0], { path: "sub\\n.txt", kind: "added", isDirectory: false });
    w.unsubscribe(a!);
    assertEquals(w.size, 1);
    w.unsubscribe(b!);
    assertEquals(w.size, 0);
  });
});

Deno.test("DiskWatchers.subscribe refuses past Limits.notifyMaxWatchesPerSession for one owner", async () => {
  await withDir(async (dir, w) => {
    const subs = [];
    for (let i = 0; i < Limits.notifyMaxWatchesPerSession; i++) {
      Deno.mkdirSync(`${dir}/d${i}`);
      subs.push(w.subscribe(`${dir}/d${i}`, false, "s1", () => {}));
    }
    assert(subs.every((s) => s !== null), w.lastError);
    Deno.mkdirSync(`${dir}/extra`);
    assertEquals(w.subscribe(`${dir}/extra`, false, "s1", () => {}), null);
    assert(w.subscribe(`${dir}/extra`, false, "s2", () => {}) !== null, "another session still may");
    for (const s of subs) w.unsubscribe(s!);
    assertEquals(w.countFor("s1"), 0);
    await settle(50);
  });
});

Deno.test("DiskWatchers reports a lost batch (more raw events than Limits.notifyMaxQueuedEvents) as null", async () => {
  await withDir(async (dir, w) => {
    const s = sink();
    const sub = w.subscribe(dir, false, "s1", (c) => s.batches.push(c));
    for (let i = 0; i < Limits.notifyMaxQueuedEvents * 2; i++) {
      Deno.writeFileSync(`${dir}/f${i}`, new Uint8Array(0));
    }
    let sawLost = false;
    for (let i = 0; i < 20 && !sawLost; i++) {
      const b = await s.next();
      if (b === null) sawLost = true;
    }
    assert(sawLost, "a flood of events was not reported as lost");
    w.unsubscribe(sub!);
  });
});

Deno.test("DiskWatchers.unsubscribe of a flat watch inside a recursive one leaves the recursive one working", async () => {
  await withDir(async (dir, w) => {
    Deno.mkdirSync(`${dir}/sub`);
    const tree = sink();
    const t = w.subscribe(dir, true, "s1", (c) => tree.batches.push(c));
    const f = w.subscribe(`${dir}/sub`, false, "s1", () => {});
    w.unsubscribe(f!);
    Deno.writeFileSync(`${dir}/sub/x`, new Uint8Array(1));
    assertEquals((await tree.next())?.[0], { path: "sub\\x", kind: "added", isDirectory: false });
    w.unsubscribe(t!);
  });
});
