/**
 * IPv4/IPv6 address and CIDR parsing, used to validate `api_allow_from`, `api_bind` and
 * `--bind`, and to normalise client addresses (`::ffff:127.0.0.1` → `127.0.0.1`).
 *
 * @module
 */

/** A parsed address or CIDR block. */
export interface Cidr {
  family: 4 | 6;
  /** The address as written, canonical for IPv4 (dotted quad) and lower-case for IPv6. */
  address: string;
  /** Prefix length; 32 or 128 for a single address. */
  prefix: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Whether text is a dotted-quad IPv4 address (no leading zeros, each octet 0-255).
 *
 * @param text candidate
 * @returns true for a valid IPv4 address
 */
export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

/**
 * Parses an IPv6 address into eight 16-bit groups, or `null` when it is not one. Accepts `::`
 * compression and an embedded IPv4 tail (`::ffff:1.2.3.4`); rejects zone ids.
 *
 * @param text candidate
 * @returns the groups, or null
 */
export function parseIPv6(text: string): number[] | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.length > 45) return null;
  let head = text;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = text.slice(lastColon + 1);
    if (!isIPv4(v4)) return null;
    const o = v4.split(".").map(Number) as [number, number, number, number];
    tail.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === "") return [];
    const groups = part.split(":");
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parse(halves[0] ?? "");
  const right = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (left === null || right === null) return null;
  const count = left.length + right.length + tail.length;
  if (halves.length === 1) return count === 8 ? [...left, ...tail] : null;
  if (count > 7) return null;
  return [...left, ...new Array(8 - count).fill(0), ...right, ...tail];
}

/**
 * Whether text is an IPv6 address.
 *
 * @param text candidate
 * @returns true for a valid IPv6 address
 */
export function isIPv6(text: string): boolean {
  return parseIPv6(text) !== null;
}

/**
 * Parses an address or CIDR (`192.168.1.10`, `10.0.0.0/8`, `fd00::/64`).
 *
 * @param text candidate
 * @returns the parsed block, or null when invalid
 */
export function parseCidr(text: string): Cidr | null {
  const [address = "", prefixText, extra] = text.trim().split("/");
  if (extra !== undefined) return null;
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : null;
  if (family === null) return null;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) return null;
    prefix = Number(prefixText);
    if (prefix > max) return null;
  }
  return { family, address: family === 6 ? address.toLowerCase() : address, prefix };
}

/**
 * Formats a parsed block back to text (`addr` for a single address, `addr/prefix` otherwise).
 *
 * @param cidr the block
 * @returns its text form
 */
export function formatCidr(cidr: Cidr): string {
  const max = cidr.family === 4 ? 32 : 128;
  return cidr.prefix === max ? cidr.address : `${cidr.address}/${cidr.prefix}`;
}

/**
 * Parses an allow-list: one or more addresses or CIDRs separated by commas or spaces, or an
 * array of them (RigForge's `api_allow_from` holds one; rigforge-api accepts several).
 *
 * @param value a string, an array of strings, or empty
 * @returns the blocks, or an error message giving the first bad entry's position (never its
 *   value: a config error prints no values)
 */
export function parseAllowList(value: unknown): Cidr[] | { error: string } {
  if (value === null || value === undefined || value === "") return [];
  const items = Array.isArray(value)
    ? value
    : typeof value === "string"
    ? value.split(/[\s,]+/).filter((s) => s !== "")
    : null;
  if (items === null) return { error: "must be a string or a list of addresses" };
  const out: Cidr[] = [];
  for (const [i, item] of items.entries()) {
    const cidr = typeof item === "string" ? parseCidr(item) : null;
    if (cidr === null) {
      // the value is never echoed (config errors print no values): its position and type only
      const kind = typeof item === "string" ? "" : ` (a ${item === null ? "null" : typeof item})`;
      return {
        error: `entry ${i + 1} of ${items.length}${kind} is not an IPv4/IPv6 address or CIDR`,
      };
    }
    out.push(cidr);
  }
  return out;
}

/**
 * Normalises a socket's remote address for comparison and bucketing: strips the IPv4-mapped
 * prefix a dual-stack socket reports (`::ffff:127.0.0.1` → `127.0.0.1`) and lower-cases IPv6.
 *
 * @param address as reported by the socket
 * @returns the normalised address
 */
export function normaliseAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith("::ffff:") && isIPv4(lower.slice(7)) ? lower.slice(7) : lower;
}
