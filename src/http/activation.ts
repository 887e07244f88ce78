/**
 * Where `serve` listens: systemd socket activation (`LISTEN_FDS`/`LISTEN_PID`, the listening
 * socket on fd 3, `sd_listen_fds(3)`) or an address and port, and how a listen failure and the
 * bound address are described to the operator. Pure.
 *
 * @module
 */

import type { AddressInfo } from "node:net";

/** Where to listen: an inherited listening socket, or an address and port. */
export type ListenTarget =
  | { kind: "fd"; fd: number }
  | { kind: "tcp"; host: string; port: number };

/**
 * Whether systemd passed this process a listening socket (`sd_listen_fds(3)`): `LISTEN_PID`
 * equals our pid and `LISTEN_FDS` is at least 1. The socket is fd 3 (`SD_LISTEN_FDS_START`);
 * further fds are ignored.
 *
 * @param env reads an environment variable
 * @param pid this process's id (`Deno.pid`)
 * @returns the fd target, or null when not socket-activated
 */
export function socketActivation(
  env: (name: string) => string | undefined,
  pid: number,
): ListenTarget | null {
  const listenPid = env("LISTEN_PID");
  const listenFds = env("LISTEN_FDS");
  if (listenPid === undefined || listenFds === undefined) return null;
  if (!/^\d{1,10}$/.test(listenPid) || Number(listenPid) !== pid) return null;
  if (!/^\d{1,4}$/.test(listenFds) || Number(listenFds) < 1) return null;
  return { kind: "fd", fd: 3 };
}

/**
 * A listen failure as the operator reads it (`cannot listen on 127.0.0.1:8081: address already
 * in use`).
 *
 * @param error the error `listen` raised
 * @param target where it tried to listen
 * @returns the error to throw
 */
export function listenError(error: Error & { code?: string }, target: ListenTarget): Error {
  const where = target.kind === "fd"
    ? `inherited fd ${target.fd}`
    : hostPort(target.host, target.port);
  const why = error.code === "EADDRINUSE"
    ? "address already in use"
    : error.code === "EADDRNOTAVAIL"
    ? "address not available on this machine"
    : error.code === "EACCES"
    ? "permission denied"
    : error.message;
  return new Error(`cannot listen on ${where}: ${why}`);
}

/**
 * `host:port`, IPv6 in brackets.
 *
 * @param host the address
 * @param port the port
 * @returns the text
 */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * What the server listens on, for the start-up line (`127.0.0.1:8081`, `fd 3 (0.0.0.0:8081)`).
 *
 * @param target where it was asked to listen
 * @param bound what the socket reports
 * @returns the text
 */
export function describe(target: ListenTarget, bound: AddressInfo | string | null): string {
  const actual = bound !== null && typeof bound === "object"
    ? hostPort(bound.address, bound.port)
    : null;
  if (target.kind === "fd") {
    return actual === null ? `fd ${target.fd}` : `fd ${target.fd} (${actual})`;
  }
  return actual ?? hostPort(target.host, target.port);
}
