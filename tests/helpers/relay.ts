/**
 * A round-robin TCP relay on a loopback port: each accepted connection is piped to the next backend
 * port in turn (the cluster tests of issue 13 put it in front of several ksmbd-deno nodes, so that
 * each new SMB connection lands on another node, as a DNS round robin or a load balancer would).
 *
 * Dead backends: when the chosen backend refuses the connection, the relay tries the following ones
 * (each at most once, in round-robin order) and closes the client's connection only when every
 * backend refused. So a killed node is skipped, and a client that reconnects after its node died
 * reaches a living one — which is what the failover tests need.
 *
 * Bytes are piped both ways; when either side ends (EOF or error) both connections are closed (no
 * half-close: SMB never uses it).
 *
 * @module
 */

/** A running relay. */
export interface Relay {
  /** The relay's port on 127.0.0.1. */
  port: number;
  /** Replaces the backend ports (the rotation starts again at the first). */
  setBackends(ports: number[]): void;
  /** How many accepted connections were piped to each backend port. */
  connectionsTo(port: number): number;
  /** Connections currently piped. */
  active(): number;
  /** Stops accepting, closes every piped connection and waits for the pipes to end. */
  stop(): Promise<void>;
}

async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) return;
      let off = 0;
      while (off < n) off += await to.write(buf.subarray(off, n));
    }
  } catch {
    // A reset or a close from the other pipe ends this one.
  }
}

function closeQuietly(c: Deno.Conn): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

/** Starts a relay on 127.0.0.1 (port 0: any free port) in front of `backends` (loopback ports). */
export function startRelay(backends: number[], port = 0): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  let list = [...backends];
  let next = 0;
  const counts = new Map<number, number>();
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let stopped = false;

  const serve = async (client: Deno.Conn): Promise<void> => {
    open.add(client);
    let backend: Deno.Conn | null = null;
    const n = list.length;
    for (let i = 0; i < n && backend === null && !stopped; i++) {
      const p = list[next % list.length];
      next = (next + 1) % list.length;
      try {
        backend = await Deno.connect({ hostname: "127.0.0.1", port: p });
        counts.set(p, (counts.get(p) ?? 0) + 1);
      } catch {
        // Refused: this backend is down, try the next one.
      }
    }
    if (backend === null || stopped) {
      if (backend !== null) closeQuietly(backend);
      open.delete(client);
      closeQuietly(client);
      return;
    }
    open.add(backend);
    const b = backend;
    const pipes = [pipe(client, b), pipe(b, client)];
    await Promise.race(pipes);
    closeQuietly(client);
    closeQuietly(b);
    await Promise.all(pipes);
    open.delete(client);
    open.delete(b);
  };

  const acceptLoop = (async () => {
    for (;;) {
      let c: Deno.Conn;
      try {
        c = await listener.accept();
      } catch {
        return; // listener closed
      }
      if (stopped) {
        closeQuietly(c);
        return;
      }
      const t = serve(c);
      tasks.add(t);
      t.finally(() => tasks.delete(t));
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    setBackends(ports: number[]): void {
      list = [...ports];
      next = 0;
    },
    connectionsTo(p: number): number {
      return counts.get(p) ?? 0;
    },
    active(): number {
      return tasks.size;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      try {
        listener.close();
      } catch { /* closed */ }
      for (const c of open) closeQuietly(c);
      await acceptLoop;
      await Promise.all([...tasks]);
    },
  };
}
