// socket.io-client 4.8 with socket.io-msgpack-parser 3 against the C server
// (sio_options.parser = &sio_parser_msgpack) and the Node twin (socket.io
// 4.8 with parser: require("socket.io-msgpack-parser")): the feature tests
// of socketio.test.js, run with that parser on both sides, plus what only
// this parser has (its wire form, its checks on bad input).
"use strict";
process.env.SIO_TEST_PARSER = "msgpack";
require("./socketio.test.js");

// A cluster where every server speaks the msgpack parser to its clients:
// the Redis adapter carries packets in its own encoding, so broadcasts,
// binary arguments and broadcast acks still cross between C and Node.
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { io } = require("socket.io-client");
const parser = require("socket.io-msgpack-parser");
const { createClient } = require("redis");
const { startServer, serverKinds, sleep } = require("./lib/harness");
const { startRedis } = require("./lib/redis");

const next = (s, ev) => new Promise((r) => s.once(ev, (...a) => r(a)));

describe("Redis cluster with the msgpack parser for clients", () => {
  let redis;
  const servers = [], clients = [];
  before(async () => {
    redis = await startRedis(0);
    const kinds = serverKinds();
    for (const kind of kinds.length > 1 ? kinds : [kinds[0], kinds[0]]) {
      const srv = await startServer(kind, "sio_test_server",
                                    { redis: redis.url, name: kind + servers.length, sioParser: "msgpack" });
      servers.push(srv);
      const s = io(srv.url, { parser, transports: ["websocket"], forceNew: true, reconnection: false });
      await next(s, "connect");
      clients.push(s);
    }
    // every server has joined the cluster before the tests publish
    const pub = createClient({ url: redis.url });
    pub.on("error", () => {});
    await pub.connect();
    for (let i = 0; i < 100; i++) {
      const n = (await pub.pubSubNumSub("socket.io-request#/#"))["socket.io-request#/#"];
      if (n === servers.length) break;
      await sleep(100);
    }
    await pub.quit();
  });
  after(async () => {
    for (const s of clients) s.close();
    for (const srv of servers) await srv.stop();
    if (redis) await redis.stop();
  });

  test("a broadcast with binary from each server reaches every client", async () => {
    for (let from = 0; from < clients.length; from++) {
      const got = clients.map((s) => next(s, "news"));
      await clients[from].emitWithAck("to", {}, "news", from, Buffer.from([from, 255]));
      for (const g of await Promise.all(got)) assert.deepEqual(g, [from, Buffer.from([from, 255])]);
    }
  });

  test("a broadcast with acks collects every client of the cluster", async () => {
    clients.forEach((s, i) => s.on("ping-all", (x, ack) => ack({ from: i, x })));
    const r = await clients[clients.length - 1].emitWithAck("broadcast-ack", { timeout: 3000 }, "ping-all", "p");
    assert.equal(r.err, null);
    assert.deepEqual(r.responses.map((x) => x.from).sort(), clients.map((_, i) => i));
  });
});

// The msgpack parser on the wire, from a raw WebSocket peer: each packet is
// one binary message; what the parser refuses closes the connection.
const { wsConnect, frame } = require("./lib/raw");
const notepack = require("socket.io-msgpack-parser/node_modules/notepack.io");

for (const kind of serverKinds()) {
  describe(`msgpack wire form and bad input: ${kind}`, () => {
    let srv;
    before(async () => { srv = await startServer(kind, "sio_test_server", { sioParser: "msgpack" }); });
    after(async () => srv.stop());

    async function connected() {
      const ws = await wsConnect(srv.port, "", "", "/socket.io/");
      await ws.waitFrame((f) => f.opcode === 1 && f.data.toString()[0] === "0");
      ws.packet = (p) => ws.send(frame(2, notepack.encode(p)));
      ws.packet({ type: 0, data: undefined, nsp: "/" });
      const f = await ws.waitFrame((f) => f.opcode === 2);
      ws.reply = notepack.decode(f.data);
      return ws;
    }

    test("CONNECT reply, event with ack and binary, as binary messages", async () => {
      const ws = await connected();
      assert.deepEqual(Object.keys(ws.reply).sort(), ["data", "nsp", "type"]);
      assert.equal(ws.reply.type, 0);
      assert.equal(ws.reply.nsp, "/");
      assert.match(ws.reply.data.sid, /^[A-Za-z0-9_-]{20}$/);
      ws.packet({ type: 2, data: ["echo", 1, Buffer.from([7, 8]), { k: [true] }], id: 42, nsp: "/" });
      const f = await ws.waitFrame((f) => f.opcode === 2 && notepack.decode(f.data).type === 3);
      const ack = notepack.decode(f.data);
      assert.deepEqual({ ...ack }, { type: 3, data: [1, Buffer.from([7, 8]), { k: [true] }], id: 42, nsp: "/" });
      assert.equal(ws.frames.filter((x) => x.opcode === 1 && x.data.toString()[0] === "4").length, 0);
      ws.socket.destroy();
    });

    for (const [name, send] of [
      ["a text message", (ws) => ws.send(frame(1, '42["echo"]'))],
      ["an unknown packet type", (ws) => ws.packet({ type: 5, data: ["echo"], nsp: "/" })],
      ["an event whose data is not an array", (ws) => ws.packet({ type: 2, data: { a: 1 }, nsp: "/" })],
      ["a non-integer ack id", (ws) => ws.packet({ type: 2, data: ["echo"], id: 1.5, nsp: "/" })],
      ["a namespace that is not a string", (ws) => ws.packet({ type: 2, data: ["echo"], nsp: 1 })],
      ["bytes that are not MessagePack", (ws) => ws.send(frame(2, Buffer.from([0xc1])))],
    ]) {
      test(`bad input: ${name} closes the connection (forced close)`, async () => {
        const ws = await connected();
        const sid = ws.reply.data.sid;
        send(ws);
        const line = await srv.waitFor((e) => e.event === "disconnect" && e.id === sid);
        assert.equal(line.reason, "forced close");
        await ws.closedPromise;
      });
    }
  });
}
