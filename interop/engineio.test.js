// Engine.IO v4 interop: engine.io-client 6.6 and raw peers against the C
// server (eio_test_server) and the Node engine.io 6.6 reference server
// (eio_ref_server.js), with the same expectations for both.
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const { Socket } = require("engine.io-client");
const { startServer, serverKinds, sleep } = require("./lib/harness");
const { rawExchange, parseResponse, frame, wsConnect } = require("./lib/raw");

const RS = "\x1e";

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = new Socket(url, opts);
    s.on("open", () => resolve(s));
    s.on("error", reject);
  });
}

// Sends each message and resolves with the echoes, in arrival order.
function echoAll(socket, msgs) {
  return new Promise((resolve, reject) => {
    const got = [];
    const onMsg = (d) => {
      got.push(d);
      if (got.length === msgs.length) {
        socket.off("message", onMsg);
        resolve(got);
      }
    };
    socket.on("message", onMsg);
    socket.on("close", (r) => reject(new Error("closed: " + r)));
    for (const m of msgs) socket.send(m);
  });
}

const asBuf = (d) => Buffer.from(d instanceof ArrayBuffer ? new Uint8Array(d) : d);

function request(port, method, path, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers,
                               agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function handshake(port, extra = "") {
  const r = await request(port, "GET", `/engine.io/?EIO=4&transport=polling${extra}`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body[0], "0");
  return JSON.parse(r.body.slice(1));
}

for (const kind of serverKinds()) {
  describe(`engine.io server: ${kind}`, () => {
    describe("default options", () => {
      let srv;
      before(async () => {
        srv = await startServer(kind, "eio_test_server", { pingInterval: 1000, pingTimeout: 2000 });
      });
      after(async () => srv.stop());

      test("polling handshake: the open packet and its headers", async () => {
        const r = await request(srv.port, "GET", "/engine.io/?EIO=4&transport=polling");
        assert.equal(r.status, 200);
        assert.equal(r.headers["content-type"], "text/plain; charset=UTF-8");
        assert.equal(r.body[0], "0");
        const open = JSON.parse(r.body.slice(1));
        assert.deepEqual(Object.keys(open), ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]);
        assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
        assert.deepEqual(open.upgrades, ["websocket"]);
        assert.equal(open.pingInterval, 1000);
        assert.equal(open.pingTimeout, 2000);
        assert.equal(open.maxPayload, 1000000);
        assert.equal(r.headers["access-control-allow-origin"], undefined);
      });

      test("websocket handshake: the open packet is the first frame, upgrades []", async () => {
        const ws = await wsConnect(srv.port, "");
        assert.equal(ws.status, 101);
        const f = await ws.waitFrame((f) => f.opcode === 1);
        const text = f.data.toString();
        assert.equal(text[0], "0");
        assert.deepEqual(JSON.parse(text.slice(1)).upgrades, []);
        ws.send(frame(1, "4hi"));
        const echo = await ws.waitFrame((f) => f.opcode === 1 && f.data.toString() === "4hi");
        assert.ok(echo);
        ws.send(frame(2, Buffer.from([1, 2, 3, 4])));
        const bin = await ws.waitFrame((f) => f.opcode === 2);
        assert.deepEqual([...bin.data], [1, 2, 3, 4]);
        ws.socket.destroy();
      });

      test("raw polling: payloads joined with 0x1e, binary as b64, both ways", async () => {
        const { sid } = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        const p = await request(srv.port, "POST", q, { body: `4test1${RS}4test2${RS}bAQIDBA==` });
        assert.equal(p.status, 200);
        assert.equal(p.body, "ok");
        assert.equal(p.headers["content-type"], "text/html");
        const g = await request(srv.port, "GET", q);
        assert.equal(g.body, `4test1${RS}4test2${RS}bAQIDBA==`);
        await request(srv.port, "POST", q, { body: "1" });
        await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(srv.events.find((e) => e.event === "close" && e.id === sid).reason, "transport close");
      });

      for (const [name, opts] of [
        ["polling only", { transports: ["polling"] }],
        ["websocket only", { transports: ["websocket"] }],
        ["polling then upgrade", {}],
      ]) {
        test(`engine.io-client ${name}: text and binary both ways`, async () => {
          const s = await connect(srv.url, opts);
          if (name === "polling then upgrade") {
            await new Promise((r) => s.once("upgrade", r));
            assert.equal(s.transport.name, "websocket");
            await srv.waitFor((e) => e.event === "upgrade" && e.id === s.id);
          }
          const conn = await srv.waitFor((e) => e.event === "connection" && e.id === s.id);
          assert.equal(conn.transport, opts.transports ? opts.transports[0] : "polling");
          // The handshake request stays available to the application.
          assert.match(conn.url, new RegExp(`^/engine\\.io/\\?EIO=4&transport=${conn.transport}`));
          assert.equal(conn.address, "127.0.0.1");
          const msgs = ["hello", "", "ünïcødé ☃ 🎉", Buffer.from([0, 1, 2, 255]),
                        "x".repeat(70000), Buffer.alloc(70000, 7)];
          const got = await echoAll(s, msgs);
          assert.equal(got.length, msgs.length);
          for (let i = 0; i < msgs.length; i++) {
            // engine.io-parser decodes an empty message ("4") as undefined
            if (typeof msgs[i] === "string") assert.equal(got[i] ?? "", msgs[i]);
            else assert.deepEqual(asBuf(got[i]), msgs[i]);
          }
          const id = s.id;
          s.close();
          const c = await srv.waitFor((e) => e.event === "close" && e.id === id);
          assert.equal(c.reason, "transport close");
        });
      }

      test("messages sent during the upgrade are neither lost nor reordered", async () => {
        const s = new Socket(srv.url);
        const got = [];
        const all = new Promise((resolve) => s.on("message", (d) => {
          got.push(d);
          if (got.length === 300) resolve();
        }));
        s.on("open", () => {
          let i = 0;
          const t = setInterval(() => {
            for (let k = 0; k < 30 && i < 300; k++) s.send(String(i++));
            if (i >= 300) clearInterval(t);
          }, 5);
        });
        await all;
        assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => String(i)));
        assert.equal(s.transport.name, "websocket");
        s.close();
      });

      test("server-initiated close reaches the client, reason forced close", async () => {
        for (const transports of [["polling"], ["websocket"]]) {
          const s = await connect(srv.url, { transports });
          const id = s.id; // the client forgets its id once closed
          const closed = new Promise((r) => s.on("close", (reason) => r(reason)));
          s.send("__close__");
          assert.equal(await closed, "transport close");
          const c = await srv.waitFor((e) => e.event === "close" && e.id === id);
          assert.equal(c.reason, "forced close");
        }
      });

      test("heartbeat keeps a live client open across several intervals", async () => {
        const s = await connect(srv.url, { transports: ["websocket"] });
        let pings = 0;
        s.on("ping", () => pings++);
        await sleep(3500);
        assert.ok(pings >= 2, `pings: ${pings}`);
        assert.equal(s.readyState, "open");
        const got = await echoAll(s, ["still here"]);
        assert.deepEqual(got, ["still here"]);
        s.close();
      });

      test("200 concurrent clients x 100 messages: none lost or reordered", async () => {
        const N = 200, M = 100;
        const clients = await Promise.all(Array.from({ length: N }, (_, i) =>
          connect(srv.url, i % 2 ? { transports: ["websocket"] } : {})));
        const results = await Promise.all(clients.map((s, i) =>
          echoAll(s, Array.from({ length: M }, (_, k) => `${i}:${k}`))));
        let total = 0;
        results.forEach((got, i) => {
          assert.deepEqual(got, Array.from({ length: M }, (_, k) => `${i}:${k}`));
          total += got.length;
        });
        assert.equal(total, N * M);
        for (const s of clients) s.close();
      });

      test("errors: exact status and JSON body", async () => {
        const cases = [
          ["GET", "/engine.io/?transport=polling", 400, { code: 5, message: "Unsupported protocol version" }],
          ["GET", "/engine.io/?EIO=3&transport=polling", 400, { code: 5, message: "Unsupported protocol version" }],
          ["GET", "/engine.io/?EIO=4", 400, { code: 0, message: "Transport unknown" }],
          ["GET", "/engine.io/?EIO=4&transport=carrier-pigeon", 400, { code: 0, message: "Transport unknown" }],
          ["POST", "/engine.io/?EIO=4&transport=polling", 400, { code: 2, message: "Bad handshake method" }],
          ["OPTIONS", "/engine.io/?EIO=4&transport=polling", 400, { code: 2, message: "Bad handshake method" }],
          ["GET", "/engine.io/?EIO=4&transport=polling&sid=nope", 400, { code: 1, message: "Session ID unknown" }],
          ["GET", "/engine.io/?EIO=4&transport=websocket", 400, { code: 3, message: "Bad request" }],
        ];
        for (const [method, path, status, body] of cases) {
          const r = await request(srv.port, method, path);
          assert.equal(r.status, status, `${method} ${path}`);
          assert.deepEqual(JSON.parse(r.body), body, `${method} ${path}`);
          assert.match(r.headers["content-type"], /^application\/json/);
        }
      });

      test("transport mismatch and unknown method with a live sid", async () => {
        const { sid } = await handshake(srv.port);
        const r = await request(srv.port, "GET", `/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
        assert.equal(r.status, 400);
        assert.deepEqual(JSON.parse(r.body), { code: 3, message: "Bad request" });
        const put = await request(srv.port, "PUT", `/engine.io/?EIO=4&transport=polling&sid=${sid}`);
        assert.equal(put.status, 500);
        assert.equal(put.body, "");
      });

      test("a second concurrent GET: 400, the first gets a close packet, transport error", async () => {
        const { sid } = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        const first = request(srv.port, "GET", q);
        await sleep(100);
        const second = await request(srv.port, "GET", q);
        assert.ok(second.status === 400 || second.status === 500, String(second.status));
        const f = await first;
        assert.equal(f.status, 200);
        assert.equal(f.body, "1");
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "transport error");
        const after = await request(srv.port, "GET", q);
        assert.deepEqual(JSON.parse(after.body), { code: 1, message: "Session ID unknown" });
      });

      test("octet-stream POST: 400 and the session is closed", async () => {
        const { sid } = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        const r = await request(srv.port, "POST", q, {
          body: "4x", headers: { "content-type": "application/octet-stream" } }).catch(() => ({ status: 400 }));
        assert.equal(r.status, 400);
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "transport error");
      });

      test("invalid packet in a POST closes the session with parse error", async () => {
        const { sid } = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        await request(srv.port, "POST", q, { body: "abc" }).catch(() => null);
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "parse error");
        const g = await request(srv.port, "GET", q);
        assert.equal(g.status, 400);
      });

      test("client ping over websocket is a transport error", async () => {
        const ws = await wsConnect(srv.port, "");
        const open = await ws.waitFrame((f) => f.opcode === 1);
        const sid = JSON.parse(open.data.toString().slice(1)).sid;
        ws.send(frame(1, "2"));
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "transport error");
        ws.socket.destroy();
      });

      test("garbage request line: 400 and the connection is closed", async () => {
        const r = await rawExchange(srv.port, "HELLO THERE\r\n\r\n");
        assert.match(r.data, /^HTTP\/1\.1 400 Bad Request\r\n/);
        assert.equal(r.closed, true);
      });

      test("oversized headers: 431 and the connection is closed", async () => {
        const big = "x".repeat(20000);
        const r = await rawExchange(srv.port,
          `GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
        assert.match(r.data, /^HTTP\/1\.1 431 /);
        assert.equal(r.closed, true);
      });

      test("keep-alive: two requests on one connection", async () => {
        const req = "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
        const r = await rawExchange(srv.port, req + req, 1500);
        const opens = r.data.match(/0\{"sid":"[^"]+"/g) || [];
        assert.equal(opens.length, 2, r.data);
      });

      test("websocket upgrade with an unknown sid is refused before switching", async () => {
        const ws = await wsConnect(srv.port, "sid=nope");
        assert.notEqual(ws.status, 101);
        await ws.closedPromise;
        assert.match(ws.text, /^HTTP\/1\.1 400 /);
        assert.match(ws.text, /Session ID unknown$/);
      });

      test("a second websocket for a session already upgrading is closed", async () => {
        const { sid } = await handshake(srv.port);
        const a = await wsConnect(srv.port, `sid=${sid}`);
        a.send(frame(1, "2probe"));
        await a.waitFrame((f) => f.opcode === 1 && f.data.toString() === "3probe");
        const b = await wsConnect(srv.port, `sid=${sid}`);
        assert.equal(b.status, 101);
        await b.waitFrame((f) => f.opcode === 8);
        a.send(frame(1, "5"));
        a.send(frame(1, "4after"));
        await a.waitFrame((f) => f.opcode === 1 && f.data.toString() === "4after");
        const g = await request(srv.port, "GET", `/engine.io/?EIO=4&transport=polling&sid=${sid}`);
        assert.deepEqual(JSON.parse(g.body), { code: 3, message: "Bad request" });
        a.socket.destroy();
        b.socket.destroy();
      });

      test("upgrade: the pending GET is released with a noop", async () => {
        const { sid } = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        const pending = request(srv.port, "GET", q);
        await sleep(50);
        const ws = await wsConnect(srv.port, `sid=${sid}`);
        ws.send(frame(1, "2probe"));
        await ws.waitFrame((f) => f.data.toString() === "3probe");
        const g = await pending;
        assert.equal(g.body, "6");
        ws.send(frame(1, "5"));
        await srv.waitFor((e) => e.event === "upgrade" && e.id === sid);
        ws.socket.destroy();
      });

      for (const [name, bytes, code] of [
        ["unmasked client frame", frame(1, "4x", { mask: false }), 1002],
        ["reserved opcode", frame(3, "4x"), 1002],
        ["RSV1 without an extension", frame(1, "4x", { rsv: 4 }), 1002],
        ["invalid UTF-8 in a text frame", frame(1, Buffer.from([0x34, 0xc3, 0x28])), 1007],
        ["fragmented control frame", frame(9, "x", { fin: false }), 1002],
      ]) {
        test(`websocket: ${name} -> close ${code}, transport error`, async () => {
          const ws = await wsConnect(srv.port, "");
          const open = await ws.waitFrame((f) => f.opcode === 1);
          const sid = JSON.parse(open.data.toString().slice(1)).sid;
          ws.send(bytes);
          const f = await ws.waitFrame((f) => f.opcode === 8);
          assert.equal(f.code, code);
          await ws.closedPromise;
          const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
          assert.equal(c.reason, "transport error");
        });
      }

      test("a peer that vanishes mid-frame: transport close, others unaffected", async () => {
        const other = await connect(srv.url, { transports: ["websocket"] });
        const ws = await wsConnect(srv.port, "");
        const open = await ws.waitFrame((f) => f.opcode === 1);
        const sid = JSON.parse(open.data.toString().slice(1)).sid;
        const full = frame(1, "4" + "y".repeat(1000));
        ws.send(full.subarray(0, 500));
        await sleep(50);
        ws.socket.destroy();
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "transport close");
        assert.deepEqual(await echoAll(other, ["fine"]), ["fine"]);
        other.close();
      });

      test("after all the bad input the server still serves", async () => {
        const s = await connect(srv.url, {});
        assert.deepEqual(await echoAll(s, ["ok?"]), ["ok?"]);
        s.close();
      });
    });

    describe("limits: maxHttpBufferSize 1000", () => {
      let srv;
      before(async () => { srv = await startServer(kind, "eio_test_server", { maxHttpBufferSize: 1000 }); });
      after(async () => srv.stop());

      test("websocket: a message at maxPayload passes, one byte over closes 1009", async () => {
        const s = await connect(srv.url, { transports: ["websocket"] });
        const atLimit = "a".repeat(999); // frame payload "4" + 999 = 1000 bytes
        assert.deepEqual(await echoAll(s, [atLimit]), [atLimit]);
        s.close();
        const ws = await wsConnect(srv.port, "");
        const open = await ws.waitFrame((f) => f.opcode === 1);
        assert.equal(JSON.parse(open.data.toString().slice(1)).maxPayload, 1000);
        const sid = JSON.parse(open.data.toString().slice(1)).sid;
        ws.send(frame(1, "4" + "a".repeat(1000)));
        const f = await ws.waitFrame((f) => f.opcode === 8);
        assert.equal(f.code, 1009);
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "transport error");
      });

      test("websocket: fragments adding up past the limit close 1009", async () => {
        const ws = await wsConnect(srv.port, "");
        await ws.waitFrame((f) => f.opcode === 1);
        ws.send(frame(1, "4" + "a".repeat(600), { fin: false }));
        ws.send(frame(0, "b".repeat(600)));
        const f = await ws.waitFrame((f) => f.opcode === 8);
        assert.equal(f.code, 1009);
      });

      test("websocket: fragmented message within the limit is reassembled", async () => {
        const ws = await wsConnect(srv.port, "");
        await ws.waitFrame((f) => f.opcode === 1);
        ws.send(frame(1, "4ab", { fin: false }));
        ws.send(frame(9, "ping!"));
        ws.send(frame(0, "cd", { fin: false }));
        ws.send(frame(0, "ef"));
        const pong = await ws.waitFrame((f) => f.opcode === 10);
        assert.equal(pong.data.toString(), "ping!");
        const echo = await ws.waitFrame((f) => f.opcode === 1 && f.data.toString().startsWith("4a"));
        assert.equal(echo.data.toString(), "4abcdef");
        ws.socket.destroy();
      });

      test("polling: a body of exactly maxHttpBufferSize passes, over it gets 413 and the session lives", async () => {
        const { sid } = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        const ok = await request(srv.port, "POST", q, { body: "4" + "z".repeat(999) });
        assert.equal(ok.status, 200);
        const g = await request(srv.port, "GET", q);
        assert.equal(g.body, "4" + "z".repeat(999));
        const big = await request(srv.port, "POST", q, { body: "4" + "z".repeat(1000) }).catch((e) => ({ status: e.code }));
        assert.equal(big.status, 413);
        const again = await request(srv.port, "POST", q, { body: "4still" });
        assert.equal(again.status, 200);
        const g2 = await request(srv.port, "GET", q);
        assert.equal(g2.body, "4still");
        assert.equal(srv.events.some((e) => e.event === "close" && e.id === sid), false);
      });
    });

    describe("heartbeat: pingInterval 300, pingTimeout 200", () => {
      let srv;
      before(async () => {
        srv = await startServer(kind, "eio_test_server", { pingInterval: 300, pingTimeout: 200 });
      });
      after(async () => srv.stop());

      test("polling: first GET gets a ping; no pong closes with ping timeout", async () => {
        const t0 = Date.now();
        const { sid } = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        const g = await request(srv.port, "GET", q);
        assert.equal(g.body, "2");
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "ping timeout");
        // Closed only after pingInterval + pingTimeout had passed.
        assert.ok(c.at - t0 >= 450, `closed after ${c.at - t0} ms`);
        const r = await request(srv.port, "GET", q);
        assert.deepEqual(JSON.parse(r.body), { code: 1, message: "Session ID unknown" });
      });

      test("polling: a pong defers the timeout and the next ping follows", async () => {
        const { sid } = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        assert.equal((await request(srv.port, "GET", q)).body, "2");
        await request(srv.port, "POST", q, { body: "3" });
        assert.equal((await request(srv.port, "GET", q)).body, "2");
        await request(srv.port, "POST", q, { body: "3" });
        assert.equal((await request(srv.port, "GET", q)).body, "2");
        await request(srv.port, "POST", q, { body: "1" });
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "transport close");
      });

      test("websocket: a peer that never answers pings is closed", async () => {
        const ws = await wsConnect(srv.port, "");
        const open = await ws.waitFrame((f) => f.opcode === 1);
        const sid = JSON.parse(open.data.toString().slice(1)).sid;
        await ws.waitFrame((f) => f.opcode === 1 && f.data.toString() === "2");
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "ping timeout");
        await ws.waitFrame((f) => f.opcode === 8);
        ws.socket.destroy();
      });

      test("engine.io-client answers pings and stays open", async () => {
        const s = await connect(srv.url, {});
        await sleep(1200);
        assert.equal(s.readyState, "open");
        assert.equal(srv.events.some((e) => e.event === "close" && e.id === s.id), false);
        s.close();
      });
    });

    describe("HTTP timeouts", () => {
      let srv;
      before(async () => { srv = await startServer(kind, "eio_test_server", { httpRequestTimeout: 1000 }); });
      after(async () => srv.stop());

      test("an idle keep-alive connection is closed after its timeout", async () => {
        const req = "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
        const t0 = Date.now();
        const r = await rawExchange(srv.port, req, 9000);
        assert.equal(r.closed, true);
        assert.match(r.data, /^HTTP\/1\.1 200/);
        assert.ok(Date.now() - t0 >= 4000, `closed after ${Date.now() - t0} ms`);
      });

      test("a request that never finishes gets 408 and is closed", async () => {
        const r = await rawExchange(srv.port, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n", 6000);
        assert.equal(r.closed, true);
        assert.match(r.data, /^HTTP\/1\.1 408 /);
      });
    });

    describe("options: cors, cookie, allowRequest, path", () => {
      let srv;
      before(async () => {
        srv = await startServer(kind, "eio_test_server", {
          cors: { origin: ["https://a.example", "https://b.example"], credentials: true },
          cookie: true, denyQuery: true, path: "/custom/",
        });
      });
      after(async () => srv.stop());

      test("handshake on the custom path, with the session cookie", async () => {
        const r = await request(srv.port, "GET", "/custom/?EIO=4&transport=polling");
        assert.equal(r.status, 200);
        const sid = JSON.parse(r.body.slice(1)).sid;
        assert.deepEqual(r.headers["set-cookie"], [`io=${sid}; Path=/; HttpOnly; SameSite=Lax`]);
      });

      test("allowed origin is echoed with credentials; errors carry CORS too", async () => {
        const r = await request(srv.port, "GET", "/custom/?EIO=4&transport=polling",
                                { headers: { origin: "https://b.example" } });
        assert.equal(r.headers["access-control-allow-origin"], "https://b.example");
        assert.equal(r.headers["access-control-allow-credentials"], "true");
        assert.match(r.headers.vary, /Origin/);
        const e = await request(srv.port, "GET", "/custom/?EIO=4&transport=nope",
                                { headers: { origin: "https://a.example" } });
        assert.equal(e.status, 400);
        assert.equal(e.headers["access-control-allow-origin"], "https://a.example");
        const other = await request(srv.port, "GET", "/custom/?EIO=4&transport=polling",
                                    { headers: { origin: "https://evil.example" } });
        assert.equal(other.headers["access-control-allow-origin"], undefined);
      });

      test("preflight: 204 with methods and echoed request headers", async () => {
        const r = await request(srv.port, "OPTIONS", "/custom/?EIO=4&transport=polling", {
          headers: { origin: "https://a.example", "access-control-request-method": "POST",
                     "access-control-request-headers": "x-token" } });
        assert.equal(r.status, 204);
        assert.equal(r.headers["access-control-allow-origin"], "https://a.example");
        assert.equal(r.headers["access-control-allow-methods"], "GET,HEAD,PUT,PATCH,POST,DELETE");
        assert.equal(r.headers["access-control-allow-headers"], "x-token");
        assert.match(r.headers.vary, /Access-Control-Request-Headers/);
      });

      test("allowRequest refusal: 403 with the hook's message", async () => {
        const r = await request(srv.port, "GET", "/custom/?EIO=4&transport=polling&deny=1");
        assert.equal(r.status, 403);
        assert.deepEqual(JSON.parse(r.body), { code: 4, message: "denied by test" });
      });

      test("engine.io-client works on the custom path", async () => {
        const s = await connect(srv.url, { path: "/custom/" });
        assert.deepEqual(await echoAll(s, ["on custom path"]), ["on custom path"]);
        s.close();
      });
    });
  });
}
