/**
 * NETWORK_INTERFACE_INFO (MS-SMB2 2.2.32.5), the output of FSCTL_QUERY_NETWORK_INTERFACE_INFO: one
 * 152-byte entry per interface address, chained by Next.
 */
import type { Writer } from "../writer.ts";

/** Size of one entry: 24 bytes of fields and a 128-byte SOCKADDR_STORAGE. */
export const NETWORK_INTERFACE_INFO_SIZE = 152;

/** MS-SMB2 2.2.32.5 Capability bits. */
export const InterfaceCapability = { RSS_CAPABLE: 0x1, RDMA_CAPABLE: 0x2 } as const;

/** One address of one interface. */
export interface NetworkInterface {
  ifIndex: number;
  capability: number;
  /** Bits per second. */
  linkSpeed: bigint;
  /** 4 bytes (IPv4) or 16 bytes (IPv6), in network order. */
  address: Uint8Array;
}

const AF_INET = 0x0002;
const AF_INET6 = 0x0017;

/** Writes the entries; Next of the last one is zero (MS-SMB2 2.2.32.5). */
export function encodeNetworkInterfaceInfo(w: Writer, list: readonly NetworkInterface[]): void {
  list.forEach((ni, i) => {
    if (ni.address.byteLength !== 4 && ni.address.byteLength !== 16) {
      throw new RangeError("an interface address is 4 or 16 bytes");
    }
    w.u32(i === list.length - 1 ? 0 : NETWORK_INTERFACE_INFO_SIZE);
    w.u32(ni.ifIndex);
    w.u32(ni.capability);
    w.u32(0); // Reserved
    w.u64(ni.linkSpeed);
    if (ni.address.byteLength === 4) {
      // SOCKADDR_IN: Family, Port (0), IPv4Address, Reserved (8 bytes); the rest of the storage is zero.
      w.u16(AF_INET).u16(0).bytes(ni.address).zeros(8).zeros(128 - 16);
    } else {
      // SOCKADDR_IN6: Family, Port (0), FlowInfo (0), IPv6Address, ScopeId (0).
      w.u16(AF_INET6).u16(0).u32(0).bytes(ni.address).u32(0).zeros(128 - 28);
    }
  });
}
