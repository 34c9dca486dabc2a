// Asynchronous allowRequest (Engine.IO) and namespace middleware that
// answer on a later loop iteration (after 50 ms), against the C server
// (eio_options.allow_request_async, sio_next answered from a timer) and the
// Node twin (allowRequest(req, cb) and io.of(...).use with setTimeout):
// accepted and refused cases, the client leaving while the decision is
// pending, and connectTimeout still bounding a pending middleware. The C
// server must stay healthy and leak-free (checked when it stops).
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const net = require("node:net");
const { io } = require("socket.io-client");
const { startServer, serverKinds, sleep } = require("./lib/harness");

const DELAY = 50;
const next = (s, ev) => new Promise((r) => s.once(ev, (...a) => r(a)));

function get(url) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    http.get(url, { agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(),
                                    ms: Date.now() - t0 }));
    }).on("error", reject);
  });
}

// Resolves with "connect" (and the socket) or with the connect_error.
function attempt(url, opts) {
  const s = io(url, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve) => {
    s.once("connect", () => resolve({ s, ok: true }));
    s.once("connect_error", (err) => { s.close(); resolve({ s, ok: false, err }); });
  });
}

for (const kind of serverKinds()) {
  describe(`asynchronous checks: ${kind}`, () => {
    let srv;
    before(async () => {
      srv = await startServer(kind, "sio_test_server", { allowRequestDelay: DELAY, connectTimeout: 300 });
    });
    after(async () => srv.stop());

    test("allowRequest answering later: the handshake waits for it, then succeeds", async () => {
      const r = await get(`${srv.url}/socket.io/?EIO=4&transport=polling`);
      assert.equal(r.status, 200);
      assert.match(r.body, /^0\{"sid":"[A-Za-z0-9_-]{20}"/);
      assert.ok(r.ms >= DELAY - 10, `answered after ${r.ms} ms`);
    });

    test("allowRequest refusing later: 403 with its message", async () => {
      const r = await get(`${srv.url}/socket.io/?EIO=4&transport=polling&deny=1`);
      assert.equal(r.status, 403);
      assert.deepEqual(JSON.parse(r.body), { code: 4, message: "denied later" });
      assert.ok(r.ms >= DELAY - 10, `answered after ${r.ms} ms`);
    });

    for (const transports of [["polling"], ["websocket"]]) {
      test(`socket.io-client over ${transports[0]}: accepted, then refused`, async () => {
        const a = await attempt(srv.url, { transports });
        assert.equal(a.ok, true);
        assert.equal(await a.s.emitWithAck("echo", "through"), "through");
        a.s.close();
        const b = await attempt(srv.url, { transports, query: { deny: "1" } });
        assert.equal(b.ok, false);
      });
    }

    test("a middleware answering later: accepted, and refused with message and data", async () => {
      const s = io(srv.url + "/slow", { forceNew: true, reconnection: false });
      assert.deepEqual(await next(s, "hello"), ["/slow"]);
      s.close();
      const r = await attempt(srv.url + "/slow-deny", {});
      assert.equal(r.ok, false);
      assert.equal(r.err.message, "Not authorized later");
      assert.deepEqual(r.err.data, { later: true });
    });

    test("the client leaves while allowRequest is pending: the late answer is a no-op", async () => {
      for (const transport of ["polling", "websocket"]) {
        const sock = net.connect(srv.port, "127.0.0.1");
        await new Promise((r) => sock.on("connect", r));
        const upgrade = transport === "websocket"
          ? "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          : "";
        sock.write(`GET /socket.io/?EIO=4&transport=${transport} HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n`);
        await sleep(10);
        sock.destroy();
      }
      await sleep(DELAY * 3);
      const a = await attempt(srv.url, { transports: ["websocket"] });
      assert.equal(a.ok, true);
      a.s.close();
    });

    test("the client leaves while a middleware is pending: never connected, server fine", async () => {
      const since = srv.events.length;
      // "/slower" answers after 600 ms; the client is gone long before
      const s = io(srv.url + "/slower", { forceNew: true, reconnection: false, transports: ["websocket"] });
      await next(s.io, "open"); // the CONNECT is on its way
      await sleep(DELAY);
      s.io.engine.close();
      s.close();
      await sleep(700);
      assert.equal(srv.events.slice(since).filter((e) => e.event === "connection" && e.nsp === "/slower").length, 0,
                   JSON.stringify(srv.events.slice(since)));
      const t = io(srv.url + "/slow", { forceNew: true, reconnection: false });
      assert.deepEqual(await next(t, "hello"), ["/slow"]);
      t.close();
    });

    test("connectTimeout still applies while a middleware is pending", async () => {
      const since = srv.events.length;
      const s = io(srv.url + "/slower", { forceNew: true, reconnection: false, transports: ["websocket"] });
      let hello = false;
      s.on("hello", () => { hello = true; });
      const [reason] = await next(s, "disconnect");
      assert.equal(reason, "transport close");
      s.close();
      await sleep(600); // the middleware answers (600 ms) after the close (300 ms)
      assert.equal(hello, false);
      assert.equal(srv.events.slice(since).filter((e) => e.event === "connection" && e.nsp === "/slower").length, 0);
      const a = await attempt(srv.url, { transports: ["websocket"] });
      assert.equal(a.ok, true);
      a.s.close();
    });
  });

  describe(`asynchronous checks at shutdown: ${kind}`, () => {
    test("the server stops while allowRequest and a middleware are pending", async () => {
      const srv = await startServer(kind, "sio_test_server", { allowRequestDelay: 300 });
      const pending = http.get(`${srv.url}/socket.io/?EIO=4&transport=polling`, { agent: false });
      pending.on("error", () => {});
      // a client past allowRequest whose CONNECT waits on "/slower" (600 ms)
      const s = io(srv.url + "/slower", { forceNew: true, reconnection: false, transports: ["websocket"] });
      await next(s.io, "open");
      await sleep(50);
      await srv.stop(); // exits cleanly (the C server: no leak, no sanitizer report)
      pending.destroy();
      s.close();
    });
  });
}
