/**
 * Password input for `adduser`: from a terminal without echo (raw mode), or one line from a pipe.
 *
 * @module
 */

import { CliError } from "./common.ts";

const encoder = new TextEncoder();

function writeErr(s: string): void {
  Deno.stderr.writeSync(encoder.encode(s));
}

/** Reads one line from non-terminal stdin (without the line terminator); "" at end of input. */
export async function readLineFromStdin(): Promise<string> {
  const chunks: number[] = [];
  const buf = new Uint8Array(1);
  // Byte by byte so that nothing after the first line is consumed.
  while (true) {
    const n = await Deno.stdin.read(buf);
    if (n === null || n === 0) break;
    if (buf[0] === 0x0a) break;
    chunks.push(buf[0]);
    if (chunks.length > 64 * 1024) throw new CliError("password line too long");
  }
  if (chunks.length > 0 && chunks[chunks.length - 1] === 0x0d) chunks.pop();
  return new TextDecoder().decode(new Uint8Array(chunks));
}

/** Reads a line from the terminal in raw mode without echo. Ctrl-C aborts (exit 130). */
async function readHidden(prompt: string): Promise<string> {
  const bytes: number[] = [];
  const buf = new Uint8Array(256);
  // Raw mode (no echo) before the prompt appears, so nothing typed ahead is echoed.
  Deno.stdin.setRaw(true);
  try {
    writeErr(prompt);
    outer: while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (let i = 0; i < n; i++) {
        const b = buf[i];
        if (b === 0x0d || b === 0x0a) break outer;
        if (b === 0x03) throw new CliError("aborted", 130);
        if (b === 0x04) {
          if (bytes.length === 0) break outer;
          continue;
        }
        if (b === 0x7f || b === 0x08) {
          // Remove one UTF-8 character.
          while (bytes.length > 0 && (bytes[bytes.length - 1] & 0xc0) === 0x80) bytes.pop();
          bytes.pop();
          continue;
        }
        if (b === 0x15) {
          bytes.length = 0; // Ctrl-U
          continue;
        }
        bytes.push(b);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    writeErr("\n");
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * Gets a new password: on a terminal it is asked twice without echo and both entries must match;
 * otherwise one line is read from stdin.
 */
export async function promptNewPassword(user: string): Promise<string> {
  if (!Deno.stdin.isTerminal()) return await readLineFromStdin();
  const a = await readHidden(`New password for ${user}: `);
  const b = await readHidden("Retype new password: ");
  if (a !== b) throw new CliError("passwords do not match");
  return a;
}
