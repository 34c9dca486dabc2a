// Issue 12 part 1: socket.io-client 2.5 (Engine.IO v3, Socket.IO protocol
// v4) against the C server with allow_eio3 and against the Node twin
// (socket.io 4.8 with allowEIO3: true), over polling, websocket and
// upgrade; v2 and v4 clients together; the v3 wire format read raw.
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const io2 = require("socket.io-client-v2");
const { io: io4 } = require("socket.io-client");
const WebSocket = require("ws");
const { startServer, serverKinds } = require("./lib/harness");

const MODES = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"] },
};

const once = (s, ev) => new Promise((r) => s.once(ev, (...a) => r(a)));

// A v2 socket, connected (its "connect" event) or failed.
function v2(url, opts = {}) {
  const s = io2(url, { forceNew: true, reconnection: false, ...opts });
  return s;
}
function connected(s) {
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
    s.once("error", reject);
  });
}
const ack = (s, ...args) => new Promise((r) => s.emit(...args, (...a) => r(a)));

const JSON_VALUES = [null, true, false, 0, -1, 42, 1.5, 1e21, "", "text",
  "ünïcødé ☃ 🎉 𝄞", "line\nbreak\t\"q\"\\", [], {}, [1, [2, [3]]],
  { a: 1, b: { c: [null, "x", { d: false }] } }];

// A v3 polling payload as text: "<len>:<packet>" records, len in UTF-16 units.
function parseV3Text(body) {
  const out = [];
  let i = 0;
  while (i < body.length) {
    const c = body.indexOf(":", i);
    assert.ok(c > i, `bad payload ${JSON.stringify(body)}`);
    const n = Number(body.slice(i, c));
    out.push(body.slice(c + 1, c + 1 + n));
    i = c + 1 + n;
  }
  return out;
}

for (const kind of serverKinds()) {
  describe(`socket.io-client 2.5 (EIO3): ${kind}`, () => {
    let srv, url;
    const open = [];
    const track = (s) => { open.push(s); return s; };
    before(async () => {
      srv = await startServer(kind, "sio_test_server", { allowEIO3: true });
      url = srv.url;
    });
    after(async () => {
      for (const s of open) s.close();
      await srv.stop();
    });

    for (const [mode, mopts] of Object.entries(MODES)) {
      describe(`transport: ${mode}`, () => {
        test("implicit main namespace: the id is the Engine.IO id, auth is {}", async () => {
          const s = track(v2(url, mopts));
          const auth = once(s, "auth");
          await connected(s);
          assert.equal(s.id, s.io.engine.id);
          assert.deepEqual(await auth, [{}]);
          const c = await srv.waitFor((e) => e.event === "connection" && e.id === s.id);
          assert.equal(c.nsp, "/");
          if (mode === "upgrade" && s.io.engine.transport.name !== "websocket")
            await once(s.io.engine, "upgrade");
          assert.equal(s.io.engine.transport.name, mode === "polling" ? "polling" : "websocket");
          const h = (await ack(s, "handshake"))[0];
          assert.equal(h.query.EIO, "3");
          assert.deepEqual(h.auth, {});
        });

        test("events with JSON values, acks and echoes", async () => {
          const s = track(await connected(v2(url, mopts)));
          for (const v of JSON_VALUES) assert.deepEqual(await ack(s, "echo", v), [v]);
          assert.deepEqual(await ack(s, "echo", 1, "two", { three: [3] }), [1, "two", { three: [3] }]);
          const back = once(s, "echo");
          s.emit("echo", "no ack", { n: 2 });
          assert.deepEqual(await back, ["no ack", { n: 2 }]);
        });

        test("binary both ways, nested and several buffers", async () => {
          const s = track(await connected(v2(url, mopts)));
          const big = Buffer.alloc(70000, 7);
          const r = await ack(s, "echo", Buffer.from([1, 2, 3]), { nested: [Buffer.from([]), Buffer.from("é")] }, big);
          assert.ok(Buffer.isBuffer(r[0]));
          assert.deepEqual([...r[0]], [1, 2, 3]);
          assert.equal(r[1].nested[0].length, 0);
          assert.equal(r[1].nested[1].toString(), "é");
          assert.ok(big.equals(r[2]));
          const back = once(s, "echo");
          s.emit("echo", Buffer.from([9, 8]), "t€xt");
          const [b, t] = await back;
          assert.deepEqual([...b], [9, 8]);
          assert.equal(t, "t€xt");
        });

        test("acks from the server to the client, with binary", async () => {
          const s = track(await connected(v2(url, mopts)));
          s.on("server-ack", (...args) => {
            const cb = args.pop();
            cb("got", args.length, Buffer.from([5]));
          });
          const [res] = await ack(s, "request-ack", 2000, "x", Buffer.from([4]));
          assert.equal(res.err, null);
          assert.equal(res.args[0], "got");
          assert.equal(res.args[1], 2);
        });

        test("namespaces: custom, middleware refusal (data or message), unknown", async () => {
          const c = track(v2(url + "/custom", mopts));
          const hello = once(c, "hello");
          await connected(c);
          assert.deepEqual(await hello, ["/custom"]);
          assert.equal(c.id, `/custom#${c.io.engine.id}`);
          await srv.waitFor((e) => e.event === "connection" && e.id === c.id && e.nsp === "/custom");
          assert.deepEqual(await ack(c, "echo", "via custom"), ["via custom"]);

          const bad = track(v2(url + "/auth", { ...mopts, query: { token: "nope" } }));
          assert.deepEqual(await once(bad, "error"), [{ reason: "bad token" }]);
          const nodata = track(v2(url + "/auth", { ...mopts, query: { token: "nodata" } }));
          assert.deepEqual(await once(nodata, "error"), ["Not authorized"]);
          const good = track(v2(url + "/auth", { ...mopts, query: { token: "secret" } }));
          const hi = once(good, "hello");
          await connected(good);
          assert.deepEqual(await hi, ["/auth"]);
          const none = track(v2(url + "/nope", mopts));
          assert.deepEqual(await once(none, "error"), [{ message: "Invalid namespace" }]);
        });

        test("namespaces multiplexed on one v3 connection", async () => {
          const m = new io2.Manager(url, { reconnection: false, ...mopts });
          const a = track(m.socket("/"));
          const b = track(m.socket("/custom"));
          const hello = once(b, "hello");
          await Promise.all([connected(a), connected(b)]);
          assert.deepEqual(await hello, ["/custom"]);
          assert.equal(b.id, `/custom#${a.id}`);
          const bid = b.id;
          b.disconnect();
          const d = await srv.waitFor((e) => e.event === "disconnect" && e.id === bid);
          assert.equal(d.reason, "client namespace disconnect");
          assert.deepEqual(await ack(a, "echo", "main still up"), ["main still up"]);
        });

        test("rooms and broadcast between v2 clients", async () => {
          const a = track(await connected(v2(url, mopts)));
          const b = track(await connected(v2(url, mopts)));
          const [rooms] = await ack(a, "join", "r2");
          assert.deepEqual(rooms, [a.id, "r2"].sort());
          const got = once(a, "news");
          await ack(b, "to", { rooms: ["r2"] }, "news", { n: 1 }, Buffer.from([1, 2]));
          const [obj, bin] = await got;
          assert.deepEqual(obj, { n: 1 });
          assert.deepEqual([...bin], [1, 2]);
          let self = 0;
          a.on("bc", () => { self++; });
          const toB = once(b, "bc");
          await ack(a, "broadcast", {}, "bc", "from a");
          assert.deepEqual(await toB, ["from a"]);
          await ack(a, "echo", "sync");
          assert.equal(self, 0);
        });

        test("v2 and v4 clients in one room get one broadcast, text and binary", async () => {
          const a = track(await connected(v2(url, mopts)));
          const b = track(io4(url, { forceNew: true, reconnection: false, ...mopts }));
          await once(b, "connect");
          await ack(a, "join", "mixed");
          await b.emitWithAck("join", "mixed");
          const payload = ["héllo 😀", { deep: [Buffer.from([0, 255]), 1] }, Buffer.alloc(3, 9)];
          for (const from of [a, b]) {
            const ga = once(a, "mix");
            const gb = once(b, "mix");
            await ack(from, "to", { rooms: ["mixed"] }, "mix", ...payload);
            for (const [s1, d0, d2] of [await ga, await gb]) {
              assert.equal(s1, payload[0]);
              assert.deepEqual([...d0.deep[0]], [0, 255]);
              assert.equal(d0.deep[1], 1);
              assert.deepEqual([...d2], [9, 9, 9]);
            }
          }
        });

        test("reconnection after the server drops the session", async () => {
          const s = track(v2(url, { ...mopts, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 }));
          await connected(s);
          const first = s.id;
          const reconnected = once(s, "reconnect");
          s.io.engine.write("not a socket.io packet"); // the server closes the session
          await reconnected;
          assert.notEqual(s.id, first);
          assert.deepEqual(await ack(s, "echo", "again"), ["again"]);
        });
      });
    }

    test("polling with b64=1 (forceBase64): binary as base64 text", async () => {
      const s = track(await connected(v2(url, { transports: ["polling"], forceBase64: true })));
      const r = await ack(s, "echo", Buffer.from([1, 2, 250]));
      assert.deepEqual([...r[0]], [1, 2, 250]);
    });

    test("raw v3 polling: payload format, client ping gets pong", async () => {
      const base = `${url}/socket.io/?EIO=3&transport=polling`;
      let res = await fetch(base + "&b64=1");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type"), /^text\/plain/);
      let packets = parseV3Text(await res.text());
      assert.match(packets[0], /^0\{"sid":"[^"]+","upgrades":\["websocket"\],"pingInterval":25000,"pingTimeout":20000/);
      const sid = JSON.parse(packets[0].slice(1)).sid;
      const seen = packets.slice(1);
      const poll = async () => {
        const r = await fetch(`${base}&b64=1&sid=${sid}`);
        assert.equal(r.status, 200);
        return parseV3Text(await r.text());
      };
      if (!seen.includes("40")) seen.push(...await poll());
      assert.ok(seen.includes("40"), JSON.stringify(seen));
      // "2:2" and a message whose UTF-16 length differs from its byte length
      const body = `1:2${"42[\"echo\",\"😀é\"]".length}:42["echo","😀é"]`;
      res = await fetch(`${base}&b64=1&sid=${sid}`, { method: "POST", body,
        headers: { "content-type": "text/plain;charset=UTF-8" } });
      assert.equal(await res.text(), "ok");
      const got = [];
      while (got.length < 2) got.push(...await poll());
      assert.deepEqual(got, ["3", '42["echo","😀é"]']);
      res = await fetch(`${base}&sid=${sid}`, { method: "POST", body: "1:1",
        headers: { "content-type": "text/plain;charset=UTF-8" } });
      assert.equal(res.status, 200);
    });

    test("raw v3 polling without b64: binary payloads both ways", async () => {
      // engine.io-client 3 in Node always asks b64=1; browsers with XHR2 do not.
      const base = `${url}/socket.io/?EIO=3&transport=polling`;
      const res0 = await fetch(base);
      const sid = JSON.parse(parseV3Text(await res0.text())[0].slice(1)).sid;
      const poll = async () => {
        const r = await fetch(`${base}&sid=${sid}`);
        return { type: r.headers.get("content-type"), body: Buffer.from(await r.arrayBuffer()) };
      };
      const record = (kind, bytes) => Buffer.concat([Buffer.from([kind, ...String(bytes.length).split("").map(Number), 255]), bytes]);
      const text = '451-["echo",{"_placeholder":true,"num":0},"é"]'; // 2 bytes, 1 unit
      const body = Buffer.concat([record(0, Buffer.from(text)), record(1, Buffer.from([4, 0xde, 0xad]))]);
      let seen = Buffer.alloc(0);
      const first = await poll(); // "40" and the "auth" event, as text
      assert.match(first.type, /^text\/plain/);
      assert.ok(parseV3Text(first.body.toString()).includes("40"));
      const r = await fetch(`${base}&sid=${sid}`, { method: "POST", body,
        headers: { "content-type": "application/octet-stream" } });
      assert.equal(await r.text(), "ok");
      let got;
      do {
        got = await poll();
        seen = Buffer.concat([seen, got.body]);
      } while (!got.type.startsWith("application/octet-stream"));
      assert.deepEqual(seen, Buffer.concat([record(0, Buffer.from(text)),
                                            record(1, Buffer.from([4, 0xde, 0xad]))]));
    });

    test("raw v3 websocket: binary frames carry the type byte", async () => {
      const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=3&transport=websocket`);
      const frames = [];
      const waiters = [];
      ws.on("message", (d, isBinary) => {
        frames.push(isBinary ? Buffer.from(d) : String(d));
        for (const w of waiters.splice(0)) w();
      });
      const nth = async (n) => { while (frames.length < n) await new Promise((r) => waiters.push(r)); return frames[n - 1]; };
      assert.match(await nth(1), /^0\{"sid"/);
      assert.equal(await nth(2), "40");
      assert.equal(await nth(3), '42["auth",{}]');
      ws.send("2");
      assert.equal(await nth(4), "3");
      ws.send('451-["echo",{"_placeholder":true,"num":0}]');
      ws.send(Buffer.from([4, 0xde, 0xad]));
      assert.equal(await nth(5), '451-["echo",{"_placeholder":true,"num":0}]');
      assert.deepEqual([...(await nth(6))], [4, 0xde, 0xad]);
      ws.terminate();
    });
  });

  describe(`EIO3 heartbeat and refusal: ${kind}`, () => {
    test("v2 clients stay up on their own pings; a silent v3 session times out", async () => {
      const srv = await startServer(kind, "sio_test_server", { allowEIO3: true, pingInterval: 300, pingTimeout: 700 });
      try {
        const s = v2(srv.url, { transports: ["websocket"] });
        await connected(s);
        let closed = false;
        s.on("disconnect", () => { closed = true; });
        await new Promise((r) => setTimeout(r, 1500)); // five client pings
        assert.equal(closed, false);
        assert.deepEqual(await ack(s, "echo", "alive"), ["alive"]);
        s.close();
        // a raw v3 client that never pings
        const ws = new WebSocket(`${srv.url.replace("http", "ws")}/socket.io/?EIO=3&transport=websocket`);
        await once(ws, "open");
        const d = await srv.waitFor((e) => e.event === "disconnect" && e.reason === "ping timeout", 5000);
        assert.equal(d.nsp, "/");
        ws.terminate();
      } finally {
        await srv.stop();
      }
    });

    test("without allowEIO3 a v2 client is refused", async () => {
      const srv = await startServer(kind, "sio_test_server", {});
      try {
        const res = await fetch(`${srv.url}/socket.io/?EIO=3&transport=polling`);
        assert.equal(res.status, 400);
        assert.deepEqual(await res.json(), { code: 5, message: "Unsupported protocol version" });
        const s = v2(srv.url, { transports: ["polling"] });
        await once(s, "connect_error");
        s.close();
      } finally {
        await srv.stop();
      }
    });
  });
}
