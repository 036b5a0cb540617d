/** ksmbd-deno's version, reported by `ksmbd-cli --version` and `control --version`. */
export const KSMBD_DENO_VERSION = "0.1.0";
