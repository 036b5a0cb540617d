/**
 * The server's view of a connection's MessageId window (MS-SMB2 3.3.1.1 CommandSequenceWindow,
 * 3.3.5.2.3 verifying the sequence number). Ids are granted by credits; each id may be used once.
 * Gaps inside the window are legal (smb2.credits.skipped_mid); ids below the window or reused are not.
 */
export class CreditWindow {
  /** Lowest id not yet consumed; everything below has been used. */
  private low = 0n;
  /** One past the highest id granted. */
  private high = 1n;
  /** Ids in [low, high) already consumed (sparse, since clients may skip ids). */
  private readonly used = new Set<bigint>();
  private readonly max: number;

  constructor(maxCredits: number) {
    this.max = maxCredits;
  }

  /** Credits the client may still use (granted, not yet consumed). */
  get outstanding(): number {
    return Number(this.high - this.low) - this.used.size;
  }

  /**
   * Consumes ids [mid, mid+charge). Returns false (and consumes nothing) when any id lies outside
   * the granted window or was already used.
   */
  consume(mid: bigint, charge: number): boolean {
    if (charge <= 1 && mid === this.low && mid < this.high) {
      // The common case, one credit at the window's low edge: `low` itself is never in `used`.
      this.low++;
    } else {
      const n = BigInt(Math.max(1, charge));
      if (mid < this.low || mid + n > this.high) return false;
      for (let i = 0n; i < n; i++) if (this.used.has(mid + i)) return false;
      for (let i = 0n; i < n; i++) this.used.add(mid + i);
    }
    while (this.used.has(this.low)) {
      this.used.delete(this.low);
      this.low++;
    }
    return true;
  }

  /**
   * Grants what the client asked for, as far as the configured maximum of outstanding credits allows
   * (MS-SMB2 3.3.1.2), and at least one when the client would otherwise be left with none. The
   * window (lowest unused id to highest granted) is also capped at twice the maximum, so skipped
   * ids cannot make the used-id set grow without bound.
   */
  grant(requested: number): number {
    let g = Math.min(requested, this.max - this.outstanding);
    if (g < 0) g = 0;
    if (this.outstanding + g === 0) g = 1;
    const span = Number(this.high - this.low);
    if (span + g > 2 * this.max) g = Math.max(0, 2 * this.max - span);
    this.high += BigInt(g);
    return g;
  }
}
