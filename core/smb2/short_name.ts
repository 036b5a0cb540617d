/**
 * 8.3 alternate names (MS-FSCC 2.4.5): generated and resolved by the vfs (core/vfs/short_name.ts),
 * which keeps them unique per directory and maps them back to their long names.
 */
export { is83, looksMangled, shortNameOf, shortNamesOf } from "../vfs/short_name.ts";
