/**
 * Constant-time comparison of secrets (signatures, MACs, MICs).
 *
 * A data-dependent early exit would let a network peer learn how many leading bytes of a forged
 * signature are right (ksmbd CVE-2026-23364 fixed exactly that), so every byte is always visited.
 * Only the lengths, which are public, decide the result early.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
