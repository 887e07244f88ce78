/**
 * The socket layer (`src/http/listen.ts`) on real sockets, in-process: wire format, limits,
 * slow clients, the connection cap, idle exit and stop. The process-level tests (systemd socket
 * activation, restarts) are in serve_e2e_test.ts.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import {
  DEFAULT_LIMITS,
  type ListenOptions,
  type RunningServer,
  startServer,
} from "../src/http/listen.ts";
import { rawResponse, responseHeaders } from "../src/http/wire.ts";
import { socketActivation } from "../src/http/activation.ts";
import type { HttpRequest, HttpResponse } from "../src/http/types.ts";
import { errorResponse, STATUS_TEXT } from "../src/http/responses.ts";
import { freePort, get, idleConnection, rawRequest } from "./harness/serve_process.ts";
import { waitFor } from "./_wait.ts";

const JSON_HEADERS: [string, string][] = [
  ["Access-Control-Allow-Headers", "Authorization, Content-Type"],
  ["Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"],
  ["Access-Control-Allow-Origin", "*"],
  ["Connection", "close"],
  ["Content-Type", "application/json"],
];

/** A handler that records what it got and answers with the request echoed as JSON. */
function echoHandler(seen: HttpRequest[] = []) {
  return (request: HttpRequest): Promise<HttpResponse> => {
    seen.push(request);
    const body = JSON.stringify({ method: request.method, url: request.url });
    return Promise.resolve({
      status: 200,
      headers: JSON_HEADERS,
      body: new TextEncoder().encode(body),
    });
  };
}

async function withServer(
  options: Partial<ListenOptions>,
  fn: (server: RunningServer) => Promise<void>,
): Promise<void> {
  const server = await startServer({
    target: { kind: "tcp", host: "127.0.0.1", port: 0 },
    handler: echoHandler(),
    statusText: STATUS_TEXT,
    errorResponse,
    idleExitMs: 0,
    ...options,
  });
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

Deno.test("socketActivation follows sd_listen_fds: LISTEN_PID must be ours", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assertEquals(socketActivation(env({ LISTEN_FDS: "1", LISTEN_PID: "4242" }), 4242), {
    kind: "fd",
    fd: 3,
  });
  assertEquals(socketActivation(env({ LISTEN_FDS: "2", LISTEN_PID: "4242" }), 4242), {
    kind: "fd",
    fd: 3,
  });
  assertEquals(socketActivation(env({ LISTEN_FDS: "1", LISTEN_PID: "4243" }), 4242), null);
  assertEquals(socketActivation(env({ LISTEN_FDS: "0", LISTEN_PID: "4242" }), 4242), null);
  assertEquals(socketActivation(env({ LISTEN_FDS: "1" }), 4242), null);
  assertEquals(socketActivation(env({ LISTEN_PID: "4242" }), 4242), null);
  assertEquals(socketActivation(env({ LISTEN_FDS: "x", LISTEN_PID: "4242" }), 4242), null);
  assertEquals(socketActivation(env({ LISTEN_FDS: "1", LISTEN_PID: " 4242" }), 4242), null);
  assertEquals(socketActivation(env({}), 4242), null);
});

Deno.test("responseHeaders forces Connection: close and puts Content-Length in sorted place", () => {
  assertEquals(responseHeaders(JSON_HEADERS, 12).map(([n, v]) => `${n}: ${v}`), [
    "Access-Control-Allow-Headers: Authorization, Content-Type",
    "Access-Control-Allow-Methods: GET, HEAD, OPTIONS",
    "Access-Control-Allow-Origin: *",
    "Connection: close",
    "Content-Length: 12",
    "Content-Type: application/json",
  ]);
  // a wrong Content-Length from the handler is replaced; keep-alive is overridden
  assertEquals(
    responseHeaders([["Connection", "keep-alive"], ["Content-Length", "999"], ["X-A", "1"]], 3),
    [["Connection", "close"], ["Content-Length", "3"], ["X-A", "1"]],
  );
  // no body, no Content-Length (XMRig's OPTIONS answer has none); Connection still added
  assertEquals(responseHeaders([["Allow", "GET"]], 0), [["Allow", "GET"], ["Connection", "close"]]);
  // headers sorting after content-length stay after it
  assertEquals(responseHeaders([["Retry-After", "1"]], 2), [
    ["Connection", "close"],
    ["Content-Length", "2"],
    ["Retry-After", "1"],
  ]);
});

Deno.test("rawResponse serializes XMRig's error shape, with extra headers sorted in", () => {
  const text = new TextDecoder().decode(
    rawResponse(errorResponse(429), STATUS_TEXT, [["Retry-After", "1"]]),
  );
  const body = '{\n    "status": 429,\n    "error": "TOO_MANY_REQUESTS"\n}';
  assertEquals(
    text,
    "HTTP/1.1 429 TOO_MANY_REQUESTS\r\n" +
      "Access-Control-Allow-Headers: Authorization, Content-Type\r\n" +
      "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n" +
      "Access-Control-Allow-Origin: *\r\n" +
      "Connection: close\r\n" +
      `Content-Length: ${body.length}\r\n` +
      "Content-Type: application/json\r\n" +
      "Retry-After: 1\r\n\r\n" + body,
  );
});

Deno.test("the default limits are the ones the issue asks for", () => {
  assertEquals(DEFAULT_LIMITS.maxConnections, 64);
  assertEquals(DEFAULT_LIMITS.maxHeaderBytes, 8192);
  assertEquals(DEFAULT_LIMITS.headersTimeoutMs, 5000);
  assertEquals(DEFAULT_LIMITS.checkIntervalMs, 1000);
  assert(DEFAULT_LIMITS.requestTimeoutMs >= DEFAULT_LIMITS.headersTimeoutMs);
});

Deno.test("a response is exactly status line, XMRig's headers, body; then the server closes", async () => {
  const seen: HttpRequest[] = [];
  await withServer({ handler: echoHandler(seen) }, async (server) => {
    const port = server.port!;
    const reply = await rawRequest(
      port,
      get("/2/summary?x=1", ["X-Dup: a", "x-dup: b", "__proto__: p", "Authorization: Bearer t"]),
    );
    assertEquals(reply.end, "closed");
    const body = '{"method":"GET","url":"/2/summary?x=1"}';
    assertEquals(
      reply.text,
      "HTTP/1.1 200 OK\r\n" +
        "Access-Control-Allow-Headers: Authorization, Content-Type\r\n" +
        "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n" +
        "Access-Control-Allow-Origin: *\r\n" +
        "Connection: close\r\n" +
        `Content-Length: ${body.length}\r\n` +
        "Content-Type: application/json\r\n\r\n" + body,
    );
    const request = seen[0]!;
    assertEquals(request.method, "GET");
    assertEquals(request.url, "/2/summary?x=1");
    assertEquals(request.remoteAddress, "127.0.0.1");
    assertEquals(request.headers["x-dup"], ["a", "b"]);
    assertEquals(request.headers["authorization"], ["Bearer t"]);
    assertEquals(request.headers["host"], ["rig"]);
    assertEquals(Object.getPrototypeOf(request.headers), null);
    assertEquals(Object.hasOwn(request.headers, "__proto__"), true);
    assertEquals(request.headers["__proto__"], ["p"]);
  });
});

Deno.test("HEAD gets the same headers and Content-Length, and no body", async () => {
  const body = new TextEncoder().encode('{"same": "body"}');
  const handler = () => Promise.resolve({ status: 200, headers: JSON_HEADERS, body });
  await withServer({ handler }, async (server) => {
    const get200 = await rawRequest(server.port!, get("/x"));
    const head = await rawRequest(server.port!, "HEAD /x HTTP/1.1\r\nHost: rig\r\n\r\n");
    assertEquals(head.status, 200);
    assertEquals(head.body, "");
    assertEquals(get200.body, '{"same": "body"}');
    assertEquals(head.headers, get200.headers);
    assert(head.headers.includes(`Content-Length: ${body.byteLength}`), head.text);
    assertEquals(head.end, "closed");
  });
});

Deno.test("an empty body is sent without Content-Length and without chunking", async () => {
  const handler = () =>
    Promise.resolve({ status: 200, headers: JSON_HEADERS, body: new Uint8Array() });
  await withServer({ handler }, async (server) => {
    const reply = await rawRequest(server.port!, "OPTIONS / HTTP/1.1\r\nHost: rig\r\n\r\n");
    assertEquals(reply.status, 200);
    assertEquals(reply.body, "");
    assert(!reply.headers.some((h) => /^(content-length|transfer-encoding):/i.test(h)), reply.text);
    assertEquals(reply.end, "closed");
  });
});

Deno.test("malformed → 400, head over 8 KiB → 431, both JSON with CORS; the server stays up", async () => {
  await withServer({}, async (server) => {
    const port = server.port!;
    const bad = await rawRequest(port, "GARBAGE\r\n\r\n");
    assertEquals(bad.status, 400);
    assertEquals(bad.body, '{\n    "status": 400,\n    "error": "BAD_REQUEST"\n}');
    assert(bad.headers.includes("Access-Control-Allow-Origin: *"));
    assert(bad.headers.includes("Connection: close"));
    assert(bad.text.startsWith("HTTP/1.1 400 BAD_REQUEST\r\n"));
    const noHost = await rawRequest(port, "GET / HTTP/1.1\r\n\r\n");
    assertEquals(noHost.status, 400);
    assertEquals(noHost.body, bad.body);
    const big = await rawRequest(port, get("/", [`X-Big: ${"a".repeat(9000)}`]));
    assertEquals(big.status, 431);
    assert(big.text.startsWith("HTTP/1.1 431 REQUEST_HEADER_FIELDS_TOO_LARGE\r\n"), big.text);
    assertMatch(big.body, /"error": "REQUEST_HEADER_FIELDS_TOO_LARGE"/);
    const fits = await rawRequest(port, get("/", [`X-Big: ${"a".repeat(7000)}`]));
    assertEquals(fits.status, 200);
    for (const reply of [bad, noHost, big]) {
      assert(!reply.headers.some((h) => /^(server|date):/i.test(h)), reply.text);
    }
    assertEquals((await rawRequest(port, get("/after"))).status, 200);
  });
});

Deno.test("CONNECT and Expect get the handler's answer, not node's own", async () => {
  const seen: HttpRequest[] = [];
  await withServer({ handler: echoHandler(seen) }, async (server) => {
    const connect = await rawRequest(
      server.port!,
      "CONNECT rig:443 HTTP/1.1\r\nHost: rig:443\r\n\r\n",
    );
    assertEquals(connect.status, 200, connect.text);
    assertEquals(connect.body, '{"method":"CONNECT","url":"rig:443"}');
    const expectation = await rawRequest(server.port!, get("/e", ["Expect: something-else"]));
    assertEquals(expectation.status, 200, expectation.text);
    const expect100 = await rawRequest(
      server.port!,
      "POST /c HTTP/1.1\r\nHost: rig\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    assert(expect100.text.startsWith("HTTP/1.1 200 OK\r\n"), expect100.text);
    for (const reply of [connect, expectation, expect100]) {
      assert(!reply.headers.some((h) => /^(server|date):/i.test(h)), reply.text);
    }
    assertEquals(seen.map((r) => r.method), ["CONNECT", "GET", "POST"]);
  });
});

Deno.test("a client that half-closes after its request still gets the whole answer", async () => {
  const handler = async (): Promise<HttpResponse> => {
    // The scenario, not a wait for a condition: a handler slower than the client, so the
    // client's FIN arrives while the handler still works.
    await new Promise((r) => setTimeout(r, 100));
    return { status: 200, headers: JSON_HEADERS, body: new TextEncoder().encode('{"late":1}') };
  };
  await withServer({ handler }, async (server) => {
    for (const version of ["1.1", "1.0"]) {
      const reply = await rawRequest(
        server.port!,
        `GET /x HTTP/${version}\r\nHost: rig\r\n\r\n`,
        { halfClose: true },
      );
      assertEquals(reply.status, 200, `HTTP/${version}: ${reply.text}`);
      assertEquals(reply.body, '{"late":1}');
    }
  });
});

Deno.test("pipelined requests: only the first is answered (as XMRig), the handler runs once", async () => {
  const seen: HttpRequest[] = [];
  await withServer({ handler: echoHandler(seen) }, async (server) => {
    const reply = await rawRequest(server.port!, get("/one") + get("/two"));
    assertEquals(reply.status, 200);
    assertEquals(reply.text.split("HTTP/1.1 ").length - 1, 1);
    assertEquals(seen.map((r) => r.url), ["/one"]);
  });
});

Deno.test("request bodies are not read: a body that never comes does not delay the answer", async () => {
  await withServer({}, async (server) => {
    const reply = await rawRequest(
      server.port!,
      "POST /x HTTP/1.1\r\nHost: rig\r\nContent-Length: 1000000\r\n\r\npartial",
      { timeoutMs: 10_000 },
    );
    // Answered and closed by the server, not left waiting for the body (that would end in the
    // client's timeout, or a 408 from the server's request timeout).
    assertEquals(reply.status, 200);
    assertEquals(reply.end, "closed");
  });
});

Deno.test("a handler that throws or hangs gets the 500 error body, not a hang", async () => {
  let calls = 0;
  const handler = (): Promise<HttpResponse> => {
    calls++;
    return calls === 1 ? Promise.reject(new Error("bug")) : new Promise(() => {});
  };
  const errors: string[] = [];
  await withServer(
    { handler, limits: { handlerTimeoutMs: 300 }, onError: (m) => errors.push(m) },
    async (server) => {
      const thrown = await rawRequest(server.port!, get("/a"));
      assertEquals(thrown.status, 500);
      assertEquals(thrown.body, '{\n    "status": 500,\n    "error": "INTERNAL_SERVER_ERROR"\n}');
      const hung = await rawRequest(server.port!, get("/b"));
      assertEquals(hung.status, 500);
      assert(hung.ms >= 250, `answered after ${hung.ms} ms, before the 300 ms handler timeout`);
    },
  );
  assertEquals(errors, ["handler failed: bug", "handler failed: handler timed out"]);
});

Deno.test("a silent client gets 408 after the header timeout and delays nobody", async () => {
  await withServer(
    { limits: { headersTimeoutMs: 1000, requestTimeoutMs: 2000, checkIntervalMs: 200 } },
    async (server) => {
      const port = server.port!;
      let dropped = 0;
      const silent = rawRequest(port, null, { timeoutMs: 10_000 }).finally(() => dropped++);
      const trickle = rawRequest(port, "GET / HTTP/1.1\r\nHo", { timeoutMs: 10_000 })
        .finally(() => dropped++);
      await waitFor(
        "the silent and the trickling client to be connected",
        () => server.openConnections() >= 2,
      );
      const good = await rawRequest(port, get("/"));
      assertEquals(good.status, 200);
      assertEquals(dropped, 0, "the good request was answered before the slow ones were dropped");
      for (const reply of [await silent, await trickle]) {
        assertEquals(reply.status, 408, reply.text);
        assertMatch(reply.body, /"error": "REQUEST_TIMEOUT"/);
        assert(reply.ms >= 900, `dropped after ${reply.ms} ms, before the 1 s header timeout`);
      }
    },
  );
});

Deno.test("65 idle connections do not lock a client out: the quietest idle one makes room", async () => {
  // no grace, so which connection goes depends on the order of arrival alone
  await withServer({ limits: { evictGraceMs: 0 } }, async (server) => {
    const port = server.port!;
    const idle = [];
    for (let i = 0; i < 64; i++) idle.push(await idleConnection(port));
    await waitFor("64 open connections", () => server.openConnections() === 64);
    // a good client from another source: served; the quietest idle one is closed
    const other = await rawRequest(port, get("/"), { localAddress: "127.0.0.2" });
    assertEquals(other.status, 200);
    assertEquals(await idle[0]!.closed, "", "evicted without an answer");
    assertEquals(server.shedCounts().connections, 1);
    // back at the cap; a good client from the idle connections' own source is served too
    idle.push(await idleConnection(port));
    await waitFor("64 open connections again", () => server.openConnections() === 64);
    const same = await rawRequest(port, get("/"));
    assertEquals(same.status, 200);
    assertEquals(await idle[1]!.closed, "");
    assertEquals(server.shedCounts().connections, 2);
    // the newest idle ones are untouched (they wait for the header timeout)
    assertEquals(idle[64]!.socket.destroyed, false);
    assertEquals(idle[63]!.socket.destroyed, false);
    for (const { socket } of idle) socket.destroy();
  });
});

Deno.test("at the cap with every connection busy, a new connection is closed at once", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  let entered = 0;
  const handler = async (): Promise<HttpResponse> => {
    entered++;
    await gate;
    return { status: 200, headers: JSON_HEADERS, body: new TextEncoder().encode("{}") };
  };
  await withServer({ handler, limits: { maxConnections: 4 } }, async (server) => {
    const port = server.port!;
    const busy = Array.from({ length: 4 }, () => rawRequest(port, get("/busy")));
    await waitFor("four busy connections in the handler", () => entered === 4);
    const refused = await rawRequest(port, get("/"), { timeoutMs: 10_000 });
    assertEquals(refused.status, null);
    assert(refused.end === "closed" || refused.end === "reset", refused.end);
    assertEquals(server.shedCounts().connections, 1);
    release();
    assertEquals((await Promise.all(busy)).map((r) => r.status), [200, 200, 200, 200]);
    assertEquals((await rawRequest(port, get("/"))).status, 200);
  });
});

Deno.test("a 1 MiB header gets its 431 and a clean close, not a reset", async () => {
  await withServer({}, async (server) => {
    const reply = await rawRequest(server.port!, get("/", [`X-Big: ${"a".repeat(1 << 20)}`]));
    assertEquals(reply.status, 431);
    assertEquals(reply.end, "closed");
  });
});

Deno.test("idle exit: stops only after the idle time with no open connection", async () => {
  const server = await startServer({
    target: { kind: "tcp", host: "127.0.0.1", port: 0 },
    handler: echoHandler(),
    idleExitMs: 300,
  });
  const port = server.port!;
  let done: string | null = null;
  server.closed.then((reason) => (done = reason));
  const open = await idleConnection(port);
  // The behaviour under test: twice the idle time passes with a connection open, and the
  // server must not exit. Only waiting past the timeout can show that it did not fire.
  await new Promise((r) => setTimeout(r, 600));
  assertEquals(done, null, "exited with a connection open");
  open.socket.destroy();
  await open.closed;
  assertEquals((await rawRequest(port, get("/"))).status, 200); // re-arms
  const started = performance.now();
  assertEquals(await server.closed, "idle");
  const waited = performance.now() - started;
  assert(waited >= 250, `idle exit after ${waited} ms, before the 300 ms idle time`);
  assertEquals((await rawRequest(port, get("/"), { timeoutMs: 1000 })).end, "refused");
});

Deno.test("stop(): stops accepting, lets an in-flight request finish, then resolves", async () => {
  let release: () => void = () => {};
  const handler = async (): Promise<HttpResponse> => {
    await new Promise<void>((r) => (release = r));
    return { status: 200, headers: JSON_HEADERS, body: new TextEncoder().encode("{}") };
  };
  const server = await startServer({
    target: { kind: "tcp", host: "127.0.0.1", port: 0 },
    handler,
    idleExitMs: 0,
  });
  const port = server.port!;
  const inflight = rawRequest(port, get("/slow"));
  await waitFor("the in-flight request to be open", () => server.openConnections() > 0);
  const stopped = server.stop();
  await waitFor(
    "the listener to refuse new connections",
    async () => (await rawRequest(port, get("/"), { timeoutMs: 1000 })).end === "refused",
  );
  release();
  assertEquals((await inflight).status, 200);
  assertEquals(await stopped, "stopped");
  assertEquals(server.openConnections(), 0);
});

Deno.test("'::' listens dual-stack and reports IPv4 peers without the ::ffff: prefix", async () => {
  const seen: HttpRequest[] = [];
  const server = await startServer({
    target: { kind: "tcp", host: "::", port: 0 },
    handler: echoHandler(seen),
    idleExitMs: 0,
  });
  try {
    assertMatch(server.address, /^\[::\]:\d+$/);
    assertEquals((await rawRequest(server.port!, get("/v4"))).status, 200);
    assertEquals((await rawRequest(server.port!, get("/v6"), { host: "::1" })).status, 200);
    assertEquals(seen.map((r) => r.remoteAddress), ["127.0.0.1", "::1"]);
  } finally {
    await server.stop();
  }
});

Deno.test("a port in use is a clear error", async () => {
  const port = freePort();
  const holder = Deno.listen({ hostname: "127.0.0.1", port });
  try {
    let message = "";
    try {
      const server = await startServer({
        target: { kind: "tcp", host: "127.0.0.1", port },
        handler: echoHandler(),
        idleExitMs: 0,
      });
      await server.stop();
    } catch (error) {
      message = (error as Error).message;
    }
    assertEquals(message, `cannot listen on 127.0.0.1:${port}: address already in use`);
  } finally {
    holder.close();
  }
});
