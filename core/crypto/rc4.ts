/**
 * RC4, needed only by NTLMSSP (MS-NLMP 3.4: key exchange and the sealed MAC checksum).
 * Deno's node:crypto does not ship it. Never use it for anything new.
 */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    if (key.byteLength === 0 || key.byteLength > 256) throw new RangeError("RC4 key must be 1..256 bytes");
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + s[k] + key[k % key.byteLength]) & 0xff;
      const t = s[k];
      s[k] = s[j];
      s[j] = t;
    }
  }

  /** XORs the next `data.byteLength` keystream bytes into a new array (the stream continues). */
  process(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.byteLength);
    const s = this.s;
    let i = this.i, j = this.j;
    for (let k = 0; k < data.byteLength; k++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]) & 0xff;
      const t = s[i];
      s[i] = s[j];
      s[j] = t;
      out[k] = data[k] ^ s[(s[i] + s[j]) & 0xff];
    }
    this.i = i;
    this.j = j;
    return out;
  }
}

/** One-shot RC4 (MS-NLMP's RC4K): a fresh keystream from `key` applied to `data`. */
export function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Rc4(key).process(data);
}
