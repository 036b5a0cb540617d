/**
 * Failed-login throttling (docs/security.md "Brute force"): ksmbd answers a failed login and then makes
 * the account wait 5 s, but a client that opens many connections, or sends many SESSION_SETUPs at once,
 * had all of its guesses checked before any failure was counted (CVE-2023-32251 / ZDI-23-699), and the
 * count lived in the accounts module, so a restart of the module forgot it.
 *
 * Here the state lives in the core (one {@link LoginThrottle} per server, outside the rpc-wasm Worker)
 * and is decided before the password is checked:
 * - per client (an IPv4 address, an IPv6 /64: core/transport/tcp.ts ipLimitKey): password checks run
 *   one at a time, in arrival order, and after a failed one the next check of that client waits until
 *   the delay has passed. Parallel attempts queue behind the one being checked, so one client gets at
 *   most one check per delay. An attempt that would wait more than
 *   {@link Limits.loginThrottleMaxDelays} delays in all is refused (LOGON_FAILURE) without a check.
 * - per account (all clients together): checks of one account also run one at a time; after
 *   {@link Limits.loginUserFailuresBeforeLock} failures within {@link Limits.loginUserFailureWindowMs}
 *   each further failure makes the account's next check wait the delay (many clients guessing one
 *   password). A success clears the account's count. Below that count, another client's login of the
 *   same account is not held up.
 * A legitimate user who mistyped is delayed, never locked out. The waiting check, the queue entry and
 * the counters are read and written synchronously, before the asynchronous check in the module, so
 * there is no window between "checked" and "counted".
 */
import { Limits } from "../limits.ts";

/** One client's or account's state. */
interface Entry {
  /** Settles when the attempt being checked (and those queued before the last one) are done. */
  tail: Promise<void>;
  /** Attempts queued or being checked. */
  waiting: number;
  /** Failed checks counted (per account: within the window; per client: since the last success). */
  failures: number;
  /** When the last failed check ended (ms since the epoch). */
  lastFailureMs: number;
  /** No check of this client / account starts before this time. */
  lockedUntilMs: number;
}

/** Why an attempt was refused without checking the password; null when it was checked. */
export type ThrottleRefusal =
  | "client delayed too long"
  | "account delayed too long"
  | "too many attempts waiting"
  | null;

/** The outcome of {@link LoginThrottle.check}. */
export type ThrottledResult<T> = { refused: Exclude<ThrottleRefusal, null> } | { refused: null; value: T };

export interface LoginThrottleOptions {
  /** Lock-out after a failed check, in ms; 0 turns throttling off (`login failure delay`). */
  delayMs: number;
  /** Clock (tests pin it); defaults to Date.now. */
  now?: () => number;
  /** Waits `ms` (tests advance their clock); defaults to a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** Failed-login throttling per client address and per account (module comment). */
export class LoginThrottle {
  readonly #delayMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #clients = new Map<string, Entry>();
  readonly #accounts = new Map<string, Entry>();
  /** Attempts refused without a check, and checks that failed (for status and tests). */
  readonly stats = { refused: 0, failedChecks: 0 };
  #lastPruneMs = 0;

  constructor(opts: LoginThrottleOptions) {
    this.#delayMs = Math.max(0, opts.delayMs);
    this.#now = opts.now ?? Date.now;
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Tracked clients and accounts (bounded by {@link Limits.loginThrottleMaxTracked} each). */
  get tracked(): { clients: number; accounts: number } {
    return { clients: this.#clients.size, accounts: this.#accounts.size };
  }

  /**
   * Runs `verify` (one password check) for `account` from `client` once neither is delayed (see the
   * module comment); `failed` tells whether its result is a failed check. Refused attempts never call
   * `verify`.
   */
  async check<T>(
    account: string,
    client: string,
    verify: () => Promise<T>,
    failed: (value: T) => boolean,
  ): Promise<ThrottledResult<T>> {
    if (this.#delayMs === 0) return { refused: null, value: await verify() };
    const accountKey = account.toUpperCase();
    const arrival = this.#now();
    const maxWait = this.#delayMs * Limits.loginThrottleMaxDelays;
    // Synchronous part: refuse what would wait too long, then take a place in both queues.
    const early = this.#refusal(client, accountKey, arrival, maxWait);
    if (early !== null) return this.#refuse(early);
    const c = this.#entry(this.#clients, client);
    const a = this.#entry(this.#accounts, accountKey);
    if (c === null || a === null || c.waiting >= Limits.loginThrottleMaxWaiting) {
      return this.#refuse("too many attempts waiting");
    }
    let release!: () => void;
    const mine = new Promise<void>((r) => release = r);
    const before = Promise.all([c.tail, a.tail]);
    c.tail = mine;
    a.tail = mine;
    c.waiting++;
    a.waiting++;
    try {
      await before;
      // The checks ahead in the queue may have failed meanwhile: wait out their delay, or give up.
      for (;;) {
        const late = this.#refusal(client, accountKey, arrival, maxWait);
        if (late !== null) return this.#refuse(late);
        const wait = Math.max(c.lockedUntilMs, a.lockedUntilMs) - this.#now();
        if (wait <= 0) break;
        await this.#sleep(wait);
      }
      const value = await verify();
      const now = this.#now();
      if (failed(value)) {
        this.stats.failedChecks++;
        c.failures++;
        c.lastFailureMs = now;
        c.lockedUntilMs = now + this.#delayMs;
        if (now - a.lastFailureMs > Limits.loginUserFailureWindowMs) a.failures = 0;
        a.failures++;
        a.lastFailureMs = now;
        if (a.failures >= Limits.loginUserFailuresBeforeLock) a.lockedUntilMs = now + this.#delayMs;
      } else {
        a.failures = 0;
        c.failures = 0;
      }
      return { refused: null, value };
    } finally {
      c.waiting--;
      a.waiting--;
      release();
    }
  }

  #refuse(why: Exclude<ThrottleRefusal, null>): ThrottledResult<never> {
    this.stats.refused++;
    return { refused: why };
  }

  /** A refusal when the client's or the account's delay ends more than `maxWait` after `arrival`. */
  #refusal(client: string, accountKey: string, arrival: number, maxWait: number): ThrottleRefusal {
    if ((this.#clients.get(client)?.lockedUntilMs ?? 0) - arrival > maxWait) return "client delayed too long";
    if ((this.#accounts.get(accountKey)?.lockedUntilMs ?? 0) - arrival > maxWait) {
      return "account delayed too long";
    }
    return null;
  }

  /** The entry for `key`, created when missing; null when the map is full of live entries. */
  #entry(map: Map<string, Entry>, key: string): Entry | null {
    const e = map.get(key);
    if (e) return e;
    // Idle entries are dropped once the map is large, at most once a second (a flood of new
    // addresses must not make every attempt scan the map).
    if (map.size >= Limits.loginThrottlePruneAt && this.#now() - this.#lastPruneMs >= 1000) {
      this.#lastPruneMs = this.#now();
      this.#prune(map);
    }
    if (map.size >= Limits.loginThrottleMaxTracked) return null;
    const fresh: Entry = {
      tail: Promise.resolve(),
      waiting: 0,
      failures: 0,
      lastFailureMs: 0,
      lockedUntilMs: 0,
    };
    map.set(key, fresh);
    return fresh;
  }

  /** Drops entries that hold nothing: no attempt waiting, not locked, no failure within the window. */
  #prune(map: Map<string, Entry>): void {
    const now = this.#now();
    for (const [k, e] of map) {
      if (
        e.waiting === 0 && e.lockedUntilMs <= now &&
        (e.failures === 0 || now - e.lastFailureMs > Limits.loginUserFailureWindowMs)
      ) {
        map.delete(k);
      }
    }
  }
}
