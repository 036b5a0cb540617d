/**
 * The launcher's side of a hand-over (core/handover.ts, docs/operations.md "Adding shares at run
 * time"): it runs the server process, passes its ordinary output through, and when the server asks
 * for a process with permissions it lacks (a share added or moved at run time), recomputes the
 * permission plan from the configuration as it is now (cli/serve.ts `planLaunch`,
 * core/permissions.ts), starts a new server process with exactly that set on the same port, moves
 * the control socket to it and lets the old process serve its connections out.
 *
 * @module
 */
import {
  decodeHandoverLine,
  encodeHandoverMessage,
  type HandoverMessage,
  LineSplitter,
} from "../core/handover.ts";
import { Limits } from "../core/limits.ts";
import { findShare } from "../core/config/parse.ts";
import type { ServerConfig } from "../core/config/types.ts";
import { sharePathProblem, statPathKind } from "../core/reload.ts";

/** One running server process. */
export interface CoreChild {
  readonly pid: number;
  readonly status: Promise<Deno.CommandStatus>;
  /** Sends a message on the child's stdin. */
  send(m: HandoverMessage): Promise<void>;
  /** Waits for a message matching `pred`, the child's exit, or the time limit. */
  expect(
    pred: (m: HandoverMessage) => boolean,
    timeoutMs: number,
  ): Promise<HandoverMessage | "exited" | "timeout">;
  kill(signal: Deno.Signal): void;
  /** Closes the child's stdin (end of file: the server stops). */
  closeStdin(): Promise<void>;
}

/** How to start a server process. */
export interface SpawnSpec {
  deno: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * Starts a server process with stdin and stdout piped; protocol lines from its stdout go to
 * `onMessage` (and to {@link CoreChild.expect} waiters), other lines to this process's stdout.
 *
 * @throws what `Deno.Command.spawn` throws (the `deno` binary cannot be run).
 */
export function spawnCore(spec: SpawnSpec, onMessage: (m: HandoverMessage) => void): CoreChild {
  const child = new Deno.Command(spec.deno, {
    args: spec.args,
    clearEnv: true,
    env: spec.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const waiters = new Set<(m: HandoverMessage | "exited") => void>();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    for (const w of [...waiters]) w("exited");
    return s;
  });
  const out = new TextEncoder();
  (async () => {
    const split = new LineSplitter();
    const pass = async (line: string): Promise<void> => {
      let m: HandoverMessage | null = null;
      try {
        m = decodeHandoverLine(line);
      } catch (e) {
        console.error(`ksmbd-deno: launcher: bad message from pid ${child.pid}: ${(e as Error).message}`);
        return;
      }
      if (m === null) {
        await Deno.stdout.write(out.encode(line + "\n")).catch(() => 0);
        return;
      }
      for (const w of [...waiters]) w(m);
      onMessage(m);
    };
    try {
      for await (const chunk of child.stdout) {
        for (const line of split.push(chunk)) await pass(line);
      }
    } catch { /* the child's stdout closed */ }
    const last = split.end();
    if (last !== null) await pass(last);
  })();
  return {
    pid: child.pid,
    status,
    async send(m: HandoverMessage): Promise<void> {
      await writer.write(out.encode(encodeHandoverMessage(m)));
    },
    expect(pred, timeoutMs): Promise<HandoverMessage | "exited" | "timeout"> {
      if (exited) return Promise.resolve("exited");
      return new Promise((resolve) => {
        let timer: ReturnType<typeof setTimeout> | undefined = undefined;
        const w = (m: HandoverMessage | "exited"): void => {
          if (m !== "exited" && !pred(m)) return;
          waiters.delete(w);
          clearTimeout(timer);
          resolve(m);
        };
        waiters.add(w);
        timer = setTimeout(() => {
          waiters.delete(w);
          resolve("timeout");
        }, timeoutMs);
      });
    },
    kill(signal: Deno.Signal): void {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
    async closeStdin(): Promise<void> {
      try {
        await writer.close();
      } catch { /* closed */ }
    },
  };
}

/**
 * Checks the shares a hand-over is for in the new configuration: each must still exist and have a
 * path that is an existing directory. Returns the problems (empty when all are fine).
 */
export function handoverShareProblems(
  config: ServerConfig,
  shares: readonly string[],
  kind: (path: string) => "dir" | "file" | "missing" = statPathKind,
): string[] {
  const out: string[] = [];
  for (const name of shares) {
    const s = findShare(config, name);
    if (!s) {
      out.push(`share [${name}] is no longer in the configuration`);
      continue;
    }
    const p = sharePathProblem(s, kind);
    if (p !== null) out.push(`share [${s.name}]: ${p}`);
  }
  return out;
}

/** What the supervisor needs from the launcher. */
export interface SupervisorOptions {
  /** The first server process. */
  first: SpawnSpec;
  /**
   * Plans a new server process for a hand-over on `port`: re-reads the configuration and computes
   * its permission set (cli/serve.ts `planLaunch`); throws with a message on a bad configuration.
   */
  replan(port: number): Promise<{ spec: SpawnSpec; config: ServerConfig }>;
  /** Signals forwarded to the server processes (SIGHUP only to the current one: it reloads). */
  signals: readonly Deno.Signal[];
}

/**
 * Runs the server process and any hand-overs it asks for; resolves with the status of the server
 * process that was current when it exited on its own.
 */
export async function superviseServer(opts: SupervisorOptions): Promise<Deno.CommandStatus> {
  let current: CoreChild;
  const draining = new Set<CoreChild>();
  let busy = false;
  let replaced: () => void = () => {};

  const handoverFor = async (old: CoreChild, m: HandoverMessage & { t: "need-restart" }): Promise<void> => {
    const fail = async (error: string, next?: CoreChild): Promise<void> => {
      console.error(`ksmbd-deno: hand-over failed: ${error}`);
      if (next) {
        await next.closeStdin();
        next.kill("SIGTERM");
      }
      await old.send({ t: "handover-failed", id: m.id, error }).catch(() => {});
    };
    if (busy || old !== current) return await fail("a hand-over is already in progress");
    busy = true;
    try {
      let planned: { spec: SpawnSpec; config: ServerConfig };
      try {
        planned = await opts.replan(m.port);
      } catch (e) {
        return await fail((e as Error).message);
      }
      const problems = handoverShareProblems(planned.config, m.shares);
      if (problems.length > 0) return await fail(problems.join("; "));
      let next: CoreChild;
      try {
        next = spawnCore(planned.spec, (msg) => onMessage(next, msg));
      } catch (e) {
        return await fail(`cannot start a new server process: ${(e as Error).message}`);
      }
      console.error(
        `ksmbd-deno: launcher: starting a new server process (pid ${next.pid}) with the permissions ` +
          (m.shares.length > 0
            ? `for share(s) ${m.shares.join(", ")}`
            : "of the configuration as it is now (new listen addresses, or a cluster node rejoining)"),
      );
      const ready = await next.expect((x) => x.t === "ready", Limits.handoverStartMs);
      if (typeof ready === "string") {
        return await fail(
          ready === "exited"
            ? "the new server process exited during start-up (its messages are above)"
            : `the new server process did not start within ${Limits.handoverStartMs / 1000} s`,
          next,
        );
      }
      await old.send({ t: "release", id: m.id });
      const released = await old.expect((x) => x.t === "released" && x.id === m.id, Limits.handoverStepMs);
      if (typeof released === "string") {
        return await fail("the old server process did not release the control socket", next);
      }
      await next.send({ t: "take-control" });
      const serving = await next.expect((x) => x.t === "serving", Limits.handoverStepMs);
      if (typeof serving === "string") {
        return await fail("the new server process did not open the control socket", next);
      }
      current = next;
      draining.add(old);
      old.status.then(() => draining.delete(old));
      replaced();
      await old.send({ t: "handed-over", id: m.id, pid: next.pid }).catch(() => {});
    } finally {
      busy = false;
    }
  };

  const onMessage = (from: CoreChild, m: HandoverMessage): void => {
    if (m.t === "need-restart") void handoverFor(from, m);
  };

  const first: CoreChild = spawnCore(opts.first, (msg) => onMessage(first, msg));
  current = first;
  const forward = new Map<Deno.Signal, () => void>();
  for (const sig of opts.signals) {
    const fn = (): void => {
      if (sig === "SIGHUP") return current.kill(sig);
      for (const c of [current, ...draining]) c.kill(sig);
    };
    forward.set(sig, fn);
    Deno.addSignalListener(sig, fn);
  }
  let status: Deno.CommandStatus;
  while (true) {
    const me = current;
    const changed = new Promise<"changed">((resolve) => replaced = () => resolve("changed"));
    const r = await Promise.race([me.status, changed]);
    if (r !== "changed" && me === current) {
      status = r;
      break;
    }
  }
  for (const [sig, fn] of forward) Deno.removeSignalListener(sig, fn);
  await current.closeStdin();
  // Old processes still serving connections stop with the launcher (end of file on their stdin).
  for (const c of draining) {
    await c.closeStdin();
    c.kill("SIGTERM");
  }
  let timer: ReturnType<typeof setTimeout> | undefined = undefined;
  await Promise.race([
    Promise.all([...draining].map((c) => c.status)),
    new Promise((resolve) => timer = setTimeout(resolve, Limits.handoverStepMs)),
  ]);
  clearTimeout(timer);
  return status;
}
