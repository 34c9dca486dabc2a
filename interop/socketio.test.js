// Socket.IO v5 interop: socket.io-client 4.8 and raw peers against the C
// server (sio_test_server) and the Node socket.io 4.8 reference server
// (sio_ref_server.js, same handlers), over websocket, polling and upgrade.
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const client = require("socket.io-client");
const { startServer: start, serverKinds, sleep } = require("./lib/harness");
const { wsConnect, frame } = require("./lib/raw");

// The parser both sides use: "default" (socket.io-parser), or "msgpack"
// when msgpack.test.js runs this suite with socket.io-msgpack-parser (then
// the feature tests run over websocket and polling; the tests of the
// default parser's wire bytes, and the scale and timeout tests that do not
// depend on the parser, are left to the default run).
const PARSER = process.env.SIO_TEST_PARSER || "default";
const CLIENT_PARSER = PARSER === "msgpack" ? { parser: require("socket.io-msgpack-parser") } : {};
const io = (url, opts = {}) => client.io(url, { ...CLIENT_PARSER, ...opts });
class Manager extends client.Manager {
  constructor(url, opts = {}) { super(url, { ...CLIENT_PARSER, ...opts }); }
}
const startServer = (kind, program, opts = {}) =>
  start(kind, program, PARSER === "default" ? opts : { ...opts, sioParser: PARSER });
const describeDefault = PARSER === "default" ? describe : () => {};
const testDefault = PARSER === "default" ? test : () => {};

const MODES = PARSER === "default" ? {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: {},
} : {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
};

function connectTo(url, opts = {}) {
  const s = io(url, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => { s.close(); reject(e); });
  });
}

function connectError(url, opts = {}) {
  const s = io(url, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    s.once("connect", () => { s.close(); reject(new Error("connected")); });
    s.once("connect_error", (e) => { s.close(); resolve(e); });
  });
}

const next = (s, ev) => new Promise((r) => s.once(ev, (...a) => r(a)));

// Collects every event a client gets until the "marker" event arrives.
function collectUntilMarker(s) {
  const got = [];
  const onAny = (ev, ...args) => { if (ev !== "marker") got.push([ev, ...args]); };
  s.onAny(onAny);
  return new Promise((r) => s.once("marker", () => { s.offAny(onAny); r(got); }));
}

async function broadcastMarker(s) {
  await s.emitWithAck("to", {}, "marker");
}

const JSON_VALUES = [null, true, false, 0, -1, 42, 1.5, -0.25, 1e21, 12345678901234,
  "", "text", "ünïcødé ☃ 🎉", "line\nbreak\t\"quoted\"\\", [], {}, [1, [2, [3, [4]]]],
  { a: 1, b: { c: [null, "x", { d: false }] } }]
  // notepack.io 2.2 (the msgpack parser's codec) writes integers of 2^64
  // and above modulo 2^64, on either side.
  .filter((v) => PARSER === "default" || v !== 1e21);

for (const kind of serverKinds()) {
  describe(`socket.io server: ${kind}${PARSER === "default" ? "" : ` (${PARSER} parser)`}`, () => {
    for (const [mode, modeOpts] of Object.entries(MODES)) {
      describe(`transport: ${mode}`, () => {
        let srv, url;
        const open = [];
        const conn = async (path = "/", opts = {}) => {
          const s = await connectTo(url + path, { ...modeOpts, ...opts });
          open.push(s);
          return s;
        };
        before(async () => {
          srv = await startServer(kind, "sio_test_server", {});
          url = srv.url;
        });
        after(async () => {
          for (const s of open) s.close();
          await srv.stop();
        });

        test("main namespace: the auth payload reaches the server and comes back", async () => {
          const s = io(url, { forceNew: true, reconnection: false, auth: { token: "abc", n: 1 }, ...modeOpts });
          open.push(s);
          const [auth] = await next(s, "auth");
          assert.deepEqual(auth, { token: "abc", n: 1 });
          const c = await srv.waitFor((e) => e.event === "connection" && e.id === s.id);
          assert.equal(c.nsp, "/");
          assert.deepEqual(c.auth, { token: "abc", n: 1 });
          const none = await conn("/");
          assert.notEqual(none.id, s.id);
        });

        test("handshake details are available to handlers", async () => {
          const s = await conn("/", { query: { foo: "bar" } });
          const h = await s.emitWithAck("handshake");
          assert.equal(h.query.foo, "bar");
          assert.equal(h.query.EIO, "4");
          assert.match(h.url, /^\/socket\.io\/\?/);
          assert.equal(h.address, "127.0.0.1");
          assert.equal(h.xdomain, false);
          assert.equal(h.secure, false);
          assert.equal(h.hasHost, true);
          assert.equal(h.issuedIsNumber, true);
          assert.equal(h.timeIsString, true);
          assert.deepEqual(h.auth, {});
        });

        test("custom namespace multiplexed with the main one on one connection", async () => {
          const manager = new Manager(url, { reconnection: false, ...modeOpts });
          const a = manager.socket("/");
          const b = manager.socket("/custom");
          const hello = next(b, "hello");
          await Promise.all([next(a, "connect"), next(b, "connect")]);
          assert.deepEqual(await hello, ["/custom"]);
          assert.notEqual(a.id, b.id);
          assert.deepEqual(await b.emitWithAck("echo", "via custom"), "via custom");
          const bid = b.id;
          b.disconnect();
          const d = await srv.waitFor((e) => e.event === "disconnect" && e.id === bid);
          assert.equal(d.reason, "client namespace disconnect");
          assert.equal(d.nsp, "/custom");
          assert.equal(await a.emitWithAck("echo", "main still up"), "main still up");
          a.disconnect();
          manager.engine && manager.engine.close();
        });

        test("unknown namespace: connect_error Invalid namespace", async () => {
          const e = await connectError(url + "/nope", modeOpts);
          assert.equal(e.message, "Invalid namespace");
        });

        test("namespace middleware: refusal with message and data, then success", async () => {
          const e1 = await connectError(url + "/auth", modeOpts);
          assert.equal(e1.message, "Not authorized");
          assert.deepEqual(e1.data, { reason: "bad token" });
          const e2 = await connectError(url + "/auth", { ...modeOpts, auth: { token: "nodata" } });
          assert.equal(e2.message, "Not authorized");
          assert.equal(e2.data, undefined);
          const s = io(url + "/auth", { forceNew: true, reconnection: false, auth: { token: "secret" }, ...modeOpts });
          open.push(s);
          assert.deepEqual(await next(s, "hello"), ["/auth"]);
        });

        test("asynchronous middleware delays the connection", async () => {
          const s = io(url + "/slow", { forceNew: true, reconnection: false, ...modeOpts });
          open.push(s);
          assert.deepEqual(await next(s, "hello"), ["/slow"]);
        });

        test("dynamic namespaces by pattern", async () => {
          const s = io(url + "/dyn-42", { forceNew: true, reconnection: false, ...modeOpts });
          open.push(s);
          assert.deepEqual(await next(s, "hello"), ["/dyn-42"]);
          const t = io(url + "/dyn-42", { forceNew: true, reconnection: false, ...modeOpts });
          open.push(t);
          assert.deepEqual(await next(t, "hello"), ["/dyn-42"]);
          const e = await connectError(url + "/dyn-x", modeOpts);
          assert.equal(e.message, "Invalid namespace");
        });

        test("dynamic namespaces by a function of name and auth", async () => {
          const s = io(url + "/fn-a", { forceNew: true, reconnection: false, auth: { ok: true }, ...modeOpts });
          open.push(s);
          assert.deepEqual(await next(s, "hello"), ["/fn-a"]);
          const e = await connectError(url + "/fn-b", { ...modeOpts, auth: { ok: false } });
          assert.equal(e.message, "Invalid namespace");
        });

        test("every JSON type round-trips, with and without acks", async () => {
          const s = await conn();
          const back = await s.emitWithAck("echo", ...JSON_VALUES);
          assert.deepEqual(back, JSON_VALUES[0]);
          const all = await new Promise((r) => s.emit("echo", ...JSON_VALUES, (...a) => r(a)));
          assert.deepEqual(all, JSON_VALUES);
          const pushed = next(s, "echo");
          s.emit("echo", ...JSON_VALUES);
          assert.deepEqual(await pushed, JSON_VALUES);
        });

        test("binary anywhere in the arguments, both ways", async () => {
          const s = await conn();
          const args = [Buffer.from([1, 2, 3]), { nested: { deep: Buffer.from("hi") }, list: [Buffer.alloc(0), 5] },
                        "text", [Buffer.from([255]), { x: Buffer.alloc(70000, 9) }]];
          const acked = await new Promise((r) => s.emit("echo", ...args, (...a) => r(a)));
          assert.deepEqual(acked, args);
          const pushed = next(s, "echo");
          s.emit("echo", ...args);
          assert.deepEqual(await pushed, args);
        });

        test("server ack to a client: answer with binary, or time out", async () => {
          const s = await conn();
          s.on("server-ack", (...a) => { const ack = a.pop(); if (a[0] !== "silent") ack("pong", Buffer.from([7]), a); });
          const ok = await s.emitWithAck("request-ack", 2000, "x", 1);
          assert.deepEqual(ok, { err: null, args: ["pong", Buffer.from([7]), ["x", 1]] });
          const late = await s.emitWithAck("request-ack", 200, "silent");
          assert.deepEqual(late, { err: "operation has timed out" });
        });

        test("reserved event names are refused on emit", async () => {
          const s = await conn();
          for (const name of ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"])
            assert.deepEqual(await s.emitWithAck("try-emit", name), { ok: false }, name);
          assert.deepEqual(await s.emitWithAck("try-emit", "fine"), { ok: true });
        });

        test("rooms and broadcast operators: to, in many, except, broadcast, socket.to", async () => {
          const [a, b, c] = await Promise.all([conn(), conn(), conn()]);
          assert.deepEqual(await a.emitWithAck("join", "r1"), [a.id, "r1"].sort());
          await b.emitWithAck("join", "r1");
          await b.emitWithAck("join", "r2");
          await c.emitWithAck("join", "r2");
          const got = [a, b, c].map(collectUntilMarker);
          await a.emitWithAck("to", { rooms: ["r1"] }, "m1", 1);
          await a.emitWithAck("to", { rooms: ["r1", "r2"] }, "m2", Buffer.from([2]));
          await a.emitWithAck("to", { rooms: ["r2"], except: ["r1"] }, "m3");
          await a.emitWithAck("broadcast", {}, "m4");
          await a.emitWithAck("broadcast", { rooms: ["r1"] }, "m5");
          await a.emitWithAck("to", { except: [c.id] }, "m6");
          await a.emitWithAck("to", { rooms: [b.id] }, "m7");
          await a.emitWithAck("to", { local: true, rooms: ["r2"] }, "m8");
          await broadcastMarker(a);
          const [ga, gb, gc] = await Promise.all(got);
          const names = (g) => g.map((x) => x[0]).filter((n) => /^m\d$/.test(n));
          assert.deepEqual(names(ga), ["m1", "m2", "m6"]);
          assert.deepEqual(names(gb), ["m1", "m2", "m4", "m5", "m6", "m7", "m8"]);
          assert.deepEqual(names(gc), ["m2", "m3", "m4", "m8"]);
          assert.deepEqual(gb.find((x) => x[0] === "m2"), ["m2", Buffer.from([2])]);
          assert.deepEqual(await b.emitWithAck("leave", "r1"), [b.id, "r2"].sort());
          const got2 = [a, b].map(collectUntilMarker);
          await a.emitWithAck("to", { rooms: ["r1"] }, "m9");
          await broadcastMarker(a);
          const [ga2, gb2] = await Promise.all(got2);
          assert.deepEqual(names(ga2), ["m9"]);
          assert.deepEqual(names(gb2), []);
        });

        test("volatile broadcast: delivered at most once, nothing else disturbed", async () => {
          const [a, b] = await Promise.all([conn(), conn()]);
          const got = [a, b].map(collectUntilMarker);
          await a.emitWithAck("to", { volatile: true }, "v1");
          await sleep(50);
          await broadcastMarker(a);
          for (const g of await Promise.all(got)) {
            const n = g.filter((x) => x[0] === "v1").length;
            assert.ok(n <= 1, `v1 delivered ${n} times`);
            if (mode === "websocket") assert.equal(n, 1);
          }
        });

        test("broadcast with acks: every answer, or a timeout with those that came", async () => {
          const clients = await Promise.all([conn(), conn(), conn()]);
          const room = "ack-room-" + Math.random().toString(36).slice(2);
          for (const s of clients) await s.emitWithAck("join", room);
          clients.forEach((s, i) => s.on("ping-all", (x, ack) => { if (i < 2 || x === "all") ack({ from: i, x }); }));
          const partial = await clients[0].emitWithAck("broadcast-ack", { rooms: [room], timeout: 300 }, "ping-all", "some");
          assert.equal(partial.err, "operation has timed out");
          assert.deepEqual(partial.responses.map((r) => r.from).sort(), [0, 1]);
          const full = await clients[0].emitWithAck("broadcast-ack", { rooms: [room], timeout: 3000 }, "ping-all", "all");
          assert.equal(full.err, null);
          assert.deepEqual(full.responses.map((r) => r.from).sort(), [0, 1, 2]);
        });

        test("onAny sees events; socket.use can refuse a packet with an error", async () => {
          const s = await conn();
          const seen = next(s, "any-seen");
          s.emit("any-probe", 1, 2);
          assert.deepEqual(await seen, [["any-probe", 2]]);
          const err = next(s, "middleware-error");
          s.emit("forbidden", "payload");
          assert.deepEqual(await err, [{ message: "forbidden event", data: { why: "test" } }]);
          const line = await srv.waitFor((e) => e.event === "error" && e.id === s.id);
          assert.equal(line.message, "forbidden event");
          assert.equal(await s.emitWithAck("echo", "after"), "after");
        });

        test("onAnyOutgoing sees what the server emits", async () => {
          const s = await conn();
          const back = next(s, "echo");
          s.emit("echo", "out");
          await back;
          assert.equal(await s.emitWithAck("last-outgoing"), "echo");
        });

        test("fetchSockets, socketsJoin, socketsLeave with ids, rooms and data", async () => {
          const [a, b] = await Promise.all([conn(), conn()]);
          const room = "f-" + Math.random().toString(36).slice(2);
          await a.emitWithAck("set-data", { name: "alice" });
          await b.emitWithAck("set-data", { name: "bob", n: [1] });
          await a.emitWithAck("sockets-join", { rooms: [a.id, b.id] }, room);
          const list = await a.emitWithAck("fetch", { rooms: [room] });
          const expect = [{ id: a.id, rooms: [a.id, room].sort(), data: { name: "alice" } },
                          { id: b.id, rooms: [b.id, room].sort(), data: { name: "bob", n: [1] } }]
            .sort((x, y) => (x.id < y.id ? -1 : 1));
          assert.deepEqual(list.map(({ handshake, ...rest }) => rest), expect);
          assert.ok(list.every((x) => x.handshake.address === "127.0.0.1" && typeof x.handshake.issued === "number"));
          await a.emitWithAck("sockets-leave", { rooms: [room], except: [a.id] }, room);
          const after = await a.emitWithAck("fetch", { rooms: [room] });
          assert.deepEqual(after.map((x) => x.id), [a.id]);
        });

        test("disconnectSockets and the disconnect reasons on both sides", async () => {
          const a = await conn();
          const room = "kick-" + Math.random().toString(36).slice(2);
          await a.emitWithAck("join", room);
          const b = await conn();
          const aid = a.id;
          const gone = next(a, "disconnect");
          await b.emitWithAck("disconnect-sockets", { rooms: [room] }, false);
          assert.deepEqual(await gone, ["io server disconnect", undefined]);
          const line = await srv.waitFor((e) => e.event === "disconnect" && e.id === aid);
          assert.equal(line.reason, "server namespace disconnect");
          const dg = await srv.waitFor((e) => e.event === "disconnecting" && e.id === aid);
          assert.deepEqual(dg.rooms, [aid, room].sort()); // rooms still known while disconnecting

          const c = await conn();
          const cid = c.id;
          const cgone = next(c, "disconnect");
          c.emit("disconnect-me", false);
          assert.equal((await cgone)[0], "io server disconnect");
          assert.equal((await srv.waitFor((e) => e.event === "disconnect" && e.id === cid)).reason,
                       "server namespace disconnect");

          const d = await conn();
          const did = d.id;
          d.disconnect();
          assert.equal((await srv.waitFor((e) => e.event === "disconnect" && e.id === did)).reason,
                       "client namespace disconnect");

          const e = await conn();
          const eid = e.id;
          e.io.engine.close();
          assert.equal((await srv.waitFor((x) => x.event === "disconnect" && x.id === eid)).reason,
                       "transport close");
        });

        test("disconnect(true) closes every namespace of the connection", async () => {
          const manager = new Manager(url, { reconnection: false, ...modeOpts });
          const a = manager.socket("/");
          const b = manager.socket("/custom");
          await Promise.all([next(a, "connect"), next(b, "connect")]);
          const [aid, bid] = [a.id, b.id];
          const ga = next(a, "disconnect"), gb = next(b, "disconnect");
          a.emit("disconnect-me", true);
          assert.equal((await ga)[0], "io server disconnect");
          assert.equal((await gb)[0], "io server disconnect");
          for (const id of [aid, bid])
            assert.equal((await srv.waitFor((e) => e.event === "disconnect" && e.id === id)).reason,
                         "server namespace disconnect");
        });

        test("serverSideEmit is a no-op alone and refuses reserved names", async () => {
          const s = await conn();
          assert.deepEqual(await s.emitWithAck("server-side-emit"), { ok: true, reservedRefused: true });
        });
      });
    }

    describe("at scale, recovery and bad input", () => {
      let srv;
      before(async () => {
        srv = await startServer(kind, "sio_test_server", { connectionStateRecovery: true });
      });
      after(async () => srv.stop());

      testDefault("500 clients in 10 rooms: every room message reaches exactly its members", async () => {
        const N = 500;
        const clients = [];
        for (let i = 0; i < N; i += 50) {
          clients.push(...await Promise.all(Array.from({ length: 50 }, (_, k) =>
            connectTo(srv.url, { transports: (i + k) % 3 ? ["websocket"] : ["polling"] }))));
        }
        await Promise.all(clients.map((s, i) => s.emitWithAck("join", "g" + (i % 10))));
        const got = clients.map(() => []);
        clients.forEach((s, i) => s.on("room-msg", (r, k) => got[i].push([r, k])));
        const done = clients.map(collectUntilMarker);
        for (let k = 0; k < 5; k++)
          for (let r = 0; r < 10; r++) await clients[0].emitWithAck("to", { rooms: ["g" + r] }, "room-msg", "g" + r, k);
        await broadcastMarker(clients[0]);
        await Promise.all(done);
        let total = 0;
        got.forEach((g, i) => {
          assert.deepEqual(g, [0, 1, 2, 3, 4].map((k) => ["g" + (i % 10), k]), `client ${i}`);
          total += g.length;
        });
        assert.equal(total, N * 5);
        for (const s of clients) s.close();
      });

      // With SIO_WORKERS > 1 (C) the reconnection may land on another loop
      // than the one keeping the session.
      test("connection state recovery: same id, rooms and data, missed events replayed",
           async () => {
        const a = io(srv.url, { forceNew: true, transports: ["websocket"], reconnectionDelay: 100,
                                reconnectionDelayMax: 200 });
        let b;
        try {
        await next(a, "connect");
        assert.equal(a.recovered, false);
        const id = a.id;
        await a.emitWithAck("join", "news");
        await a.emitWithAck("set-data", { kept: true });
        b = await connectTo(srv.url, { transports: ["websocket"] });
        const first = next(a, "news");
        await b.emitWithAck("to", { rooms: ["news"] }, "news", 0);
        await first;
        const down = next(a, "disconnect");
        a.io.engine.close();
        await down;
        assert.equal((await srv.waitFor((e) => e.event === "disconnect" && e.id === id)).reason,
                     "transport close");
        for (let i = 1; i <= 3; i++) await b.emitWithAck("to", { rooms: ["news"] }, "news", i, Buffer.from([i]));
        const missed = [];
        a.on("news", (i) => missed.push(i));
        await next(a, "connect");
        assert.equal(a.recovered, true);
        assert.equal(a.id, id);
        await sleep(50);
        assert.deepEqual(missed, [1, 2, 3]);
        const line = await srv.waitFor((e) => e.event === "connection" && e.id === id && e.recovered);
        assert.equal(line.recovered, true);
        const list = await b.emitWithAck("fetch", { rooms: ["news"] });
        assert.deepEqual(list.map((x) => [x.id, x.data]), [[id, { kept: true }]]);
        } finally { // a failure must not leave a reconnecting client behind
          a.close();
          b?.close();
        }
      });

      // Raw Socket.IO over a raw WebSocket: what no well-behaved client sends.
      async function raw(query = "") {
        const ws = await wsConnect(srv.port, query, "", "/socket.io/");
        await ws.waitFrame((f) => f.opcode === 1 && f.data.toString()[0] === "0");
        ws.text = (t) => ws.send(frame(1, t));
        ws.bin = (b) => ws.send(frame(2, b));
        ws.textFrames = () => ws.frames.filter((f) => f.opcode === 1).map((f) => f.data.toString());
        return ws;
      }
      async function connectedRaw() {
        const ws = await raw();
        ws.text("40");
        const f = await ws.waitFrame((f) => f.opcode === 1 && f.data.toString().startsWith("40{"));
        ws.sid = JSON.parse(f.data.toString().slice(2)).sid;
        return ws;
      }

      testDefault("CONNECT to an unknown namespace: 44 Invalid namespace, connection stays", async () => {
        const ws = await raw();
        ws.text("40/nope,");
        const f = await ws.waitFrame((f) => f.opcode === 1 && f.data.toString().startsWith("44"));
        assert.equal(f.data.toString(), '44/nope,{"message":"Invalid namespace"}');
        ws.text("40");
        await ws.waitFrame((f) => f.opcode === 1 && f.data.toString().startsWith("40{"));
        ws.socket.destroy();
      });

      testDefault("exact wire bytes: CONNECT reply, event and ack, binary ack", async () => {
        const ws = await connectedRaw();
        assert.match(ws.sid, /^[A-Za-z0-9_-]{20}$/);
        const reply = ws.textFrames().find((t) => t.startsWith("40{"));
        assert.deepEqual(Object.keys(JSON.parse(reply.slice(2))), ["sid", "pid"]); // recovery on
        ws.text('429007199254740991["echo",1,"2",{"3":[false]}]');
        await ws.waitFrame((f) => f.opcode === 1 && f.data.toString().startsWith("43"));
        assert.ok(ws.textFrames().includes('439007199254740991[1,"2",{"3":[false]}]'), ws.textFrames().join("|"));
        ws.text('452-7["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
        ws.bin(Buffer.from([1, 2, 3]));
        ws.bin(Buffer.from([4]));
        await ws.waitFrame((f) => f.opcode === 1 && f.data.toString().startsWith("462-7"));
        assert.ok(ws.textFrames().includes('462-7[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'));
        // the attachments follow the text as their own frames: wait for the last one
        await ws.waitFrame((f) => f.opcode === 2 && f.data.length === 1 && f.data[0] === 4);
        const bins = ws.frames.filter((f) => f.opcode === 2).map((f) => [...f.data]);
        assert.deepEqual(bins.slice(-2), [[1, 2, 3], [4]]);
        ws.socket.destroy();
      });

      testDefault("deeply nested JSON within reason is echoed", async () => {
        const ws = await connectedRaw();
        const depth = 500;
        const nested = "[".repeat(depth) + "]".repeat(depth);
        ws.text(`421["echo",${nested}]`);
        const f = await ws.waitFrame((f) => f.opcode === 1 && f.data.toString().startsWith("431"));
        assert.equal(f.data.toString(), `431[${nested}]`);
        ws.socket.destroy();
      });

      for (const [name, send, reason] of [
        ["invalid payload", (ws) => ws.text("42{}"), "forced close"],
        ["unknown packet type", (ws) => ws.text("47[]"), "forced close"],
        ["reserved event name", (ws) => ws.text('42["disconnect"]'), "forced close"],
        ["bad attachments count", (ws) => ws.text('4511-["x"]'), "forced close"],
        ["placeholder out of range", (ws) => { ws.text('451-["echo",{"_placeholder":true,"num":3}]'); ws.bin(Buffer.from([1])); }, "forced close"],
        ["binary with no packet waiting", (ws) => ws.bin(Buffer.from([1])), "forced close"],
        ["text while attachments are awaited", (ws) => { ws.text('451-["echo",{"_placeholder":true,"num":0}]'); ws.text('42["x"]'); }, "forced close"],
        // Node closes the connection first; over WebSocket that ends the
        // session at once, so the sockets hear "forced close" (over polling
        // they would hear "forced server close").
        ["packet for a namespace never joined", (ws) => ws.text('42/custom,["x"]'), "forced close"],
        ["a second CONNECT on the same namespace", (ws) => ws.text("40"), "forced close"],
        ["a CONNECT_ERROR from the client", (ws) => ws.text('44{"message":"x"}'), "forced close"],
        ["an Engine.IO parse error", (ws) => ws.text("x"), "parse error"],
        ["a client ping", (ws) => ws.text("2"), "transport error"],
      ]) {
        testDefault(`bad input: ${name} closes the connection (${reason})`, async () => {
          const ws = await connectedRaw();
          send(ws);
          const line = await srv.waitFor((e) => e.event === "disconnect" && e.id === ws.sid);
          assert.equal(line.reason, reason);
          await ws.closedPromise;
        });
      }

      test("the server still serves after all of it", async () => {
        const s = await connectTo(srv.url, {});
        assert.equal(await s.emitWithAck("echo", "alive"), "alive");
        s.close();
      });
    });

    describeDefault("serveClient", () => {
      test("the client bundle with Node's headers, ETag and 304", async () => {
        const srv = await startServer(kind, "sio_test_server", {});
        const get = (p, headers = {}) => new Promise((resolve, reject) => {
          require("node:http").get(srv.url + p, { headers, agent: false }, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                          body: Buffer.concat(chunks).toString() }));
          }).on("error", reject);
        });
        try {
          const r = await get("/socket.io/socket.io.min.js");
          assert.equal(r.status, 200);
          assert.equal(r.headers["content-type"], "application/javascript; charset=utf-8");
          assert.equal(r.headers["cache-control"], "public, max-age=0");
          assert.match(r.headers.etag, /^"4\.8\.\d+"$/);
          assert.match(r.body, /^\/\*!\n \* Socket\.IO v4\.8/);
          const again = await get("/socket.io/socket.io.min.js", { "if-none-match": r.headers.etag });
          assert.equal(again.status, 304);
          const weak = await get("/socket.io/socket.io.min.js", { "if-none-match": "W/" + r.headers.etag });
          assert.equal(weak.status, 304);
          const map = await get("/socket.io/socket.io.js.map");
          assert.equal(map.headers["content-type"], "application/json; charset=utf-8");
          JSON.parse(map.body);
        } finally {
          await srv.stop();
        }
      });
    });

    describeDefault("timeouts", () => {
      let srv;
      before(async () => {
        srv = await startServer(kind, "sio_test_server",
                                { connectTimeout: 300, pingInterval: 300, pingTimeout: 200 });
      });
      after(async () => srv.stop());

      test("no CONNECT within connectTimeout: the connection is closed", async () => {
        const ws = await wsConnect(srv.port, "", "", "/socket.io/");
        await ws.waitFrame((f) => f.opcode === 1 && f.data.toString()[0] === "0");
        await ws.closedPromise; // well before the 500 ms ping timeout could act
        assert.ok(ws.frames.some((f) => f.opcode === 8));
      });

      test("a client that never answers pings: ping timeout", async () => {
        const ws = await wsConnect(srv.port, "", "", "/socket.io/");
        await ws.waitFrame((f) => f.opcode === 1 && f.data.toString()[0] === "0");
        ws.send(frame(1, "40"));
        const f = await ws.waitFrame((f) => f.opcode === 1 && f.data.toString().startsWith("40{"));
        const sid = JSON.parse(f.data.toString().slice(2)).sid;
        const line = await srv.waitFor((e) => e.event === "disconnect" && e.id === sid, 5000);
        assert.equal(line.reason, "ping timeout");
        ws.socket.destroy();
      });

      test("socket.io-client answers pings and stays connected", async () => {
        const s = await connectTo(srv.url, {});
        await sleep(1000);
        assert.equal(s.connected, true);
        assert.equal(await s.emitWithAck("echo", "still"), "still");
        s.close();
      });
    });

    describeDefault("server shutdown", () => {
      test("sockets see 'server shutting down'", async () => {
        const srv = await startServer(kind, "sio_test_server", {});
        const s = await connectTo(srv.url, { transports: ["websocket"] });
        const id = s.id;
        const gone = next(s, "disconnect");
        await srv.stop();
        await gone;
        const line = srv.events.find((e) => e.event === "disconnect" && e.id === id);
        assert.equal(line.reason, "server shutting down");
        s.close();
      });
    });
  });
}
