// One cluster through a real Redis: two libsio servers and two Node
// socket.io 4.8 servers with @socket.io/redis-adapter 8.3, a
// socket.io-client on each; every operation is issued from a C server and
// from a Node server and observed on all four. Plus the emitter, a Redis
// restart in the middle, and malformed messages on the channels.
"use strict";
const nodeTest = require("node:test");
const { describe, before, after } = nodeTest;
// Every test is bounded: a crashed server must fail its test, not hang the run.
const test = (name, fn) => nodeTest.test(name, { timeout: 30000 }, fn);
const assert = require("node:assert/strict");
const { io } = require("socket.io-client");
const { createClient } = require("redis");
const { Emitter } = require("@socket.io/redis-emitter");
const { startServer, sleep } = require("./lib/harness");
const { startRedis } = require("./lib/redis");

const next = (s, ev) => new Promise((r) => s.once(ev, (...a) => r(a)));

async function until(fn, ms = 10000, what = "condition") {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await fn()) return; } catch { /* retry */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

for (const [label, adapterOpts] of [
  ["classic", {}],
  ["classic, JSON parser, specific response channel", { parser: "json", specificResponse: true }],
  ["sharded, dynamic", { sharded: true, subscriptionMode: "dynamic" }],
  ["sharded, dynamic-private", { sharded: true, subscriptionMode: "dynamic-private" }],
  ["sharded, static", { sharded: true, subscriptionMode: "static" }],
]) {
const classic = !adapterOpts.sharded;
const jsonParser = adapterOpts.parser === "json";
// what NUMSUB/SHARDNUMSUB counts: every server's subscription
const countServers = async (pub) => classic
  ? (await pub.pubSubNumSub("socket.io-request#/#"))["socket.io-request#/#"]
  : Number((await pub.sendCommand(["PUBSUB", "SHARDNUMSUB", "socket.io#/#"]))[1]);
// Tests that only the classic protocol has (the emitter speaks it only).
// (and need msgpack: Node's JSON-parser adapter dies on the emitter's msgpack)
const classicTest = (name, fn) => (classic && !jsonParser ? test(name, fn) : undefined);
// With the JSON parser binary crosses servers as JSON.stringify writes a
// Buffer; on the sender's own server it stays binary.
const crossed = (buf, local) => (jsonParser && !local ? { type: "Buffer", data: [...buf] } : buf);

describe(`Redis cluster (${label}): 2 libsio + 2 Node servers`, () => {
  let redis, servers, clients, pub;
  const NAMES = ["c1", "c2", "n1", "n2"];

  before(async () => {
    // classic: with a password and a database number in the URL
    redis = await startRedis(0, classic ? { password: "s3cret" } : {});
    servers = {};
    for (const name of NAMES) {
      servers[name] = await startServer(name[0] === "c" ? "c" : "node", "sio_test_server",
                                        { redis: redis.url, name, requestsTimeout: 2000, ...adapterOpts });
    }
    clients = {};
    for (const name of NAMES) {
      const s = io(servers[name].url, { transports: ["websocket"], forceNew: true,
                                        reconnectionDelay: 100, reconnectionDelayMax: 300 });
      await next(s, "connect");
      await s.emitWithAck("set-data", { on: name });
      clients[name] = s;
    }
    pub = createClient({ url: redis.url });
    pub.on("error", () => {});
    await pub.connect();
    // every server subscribed before the tests publish
    await until(async () => (await countServers(pub)) === 4, 10000, "4 subscribers");
  });

  after(async () => {
    for (const s of Object.values(clients || {})) s.close();
    if (pub) await pub.quit().catch(() => {});
    for (const srv of Object.values(servers || {})) await srv.stop();
    if (redis) await redis.stop();
  });

  // Resolves with, for each client, the args of the first `event` it gets.
  const everyone = (event, who = NAMES) => Promise.all(who.map((n) => next(clients[n], event)));

  for (const from of ["c1", "n1"]) {
    test(`broadcast from ${from} reaches all four, binary included`, async () => {
      const ev = `hello-${from}`;
      const got = everyone(ev);
      await clients[from].emitWithAck("to", {}, ev, 1, "two", Buffer.from([1, 2, 3]), { nested: [Buffer.from("x")] });
      const results = await got;
      NAMES.forEach((n, i) => {
        const local = n[0] === from[0] && n[1] === from[1];
        assert.deepEqual(results[i], [1, "two", crossed(Buffer.from([1, 2, 3]), local),
                                      { nested: [crossed(Buffer.from("x"), local)] }], n);
      });
    });

    test(`rooms and except across servers, from ${from}`, async () => {
      const room = `room-${from}`;
      await clients.c2.emitWithAck("join", room);
      await clients.n2.emitWithAck("join", room);
      await clients.c1.emitWithAck("join", room);
      // Dynamic sharded modes: a server SSUBSCRIBEs the room's channel when
      // its first socket joins, after the join's ack (Node's adapter as
      // libsio's): wait for the three members' servers before publishing.
      if (adapterOpts.sharded && adapterOpts.subscriptionMode !== "static") {
        const ch = `socket.io#/#${room}#`;
        await until(async () => Number((await pub.sendCommand(["PUBSUB", "SHARDNUMSUB", ch]))[1]) === 3,
                    10000, `3 subscribers of ${ch}`);
      }
      const marker = everyone(`marker-${from}`);
      const seen = Object.fromEntries(NAMES.map((n) => [n, []]));
      for (const n of NAMES) clients[n].on(`r-${from}`, (x) => seen[n].push(x));
      await clients[from].emitWithAck("to", { rooms: [room] }, `r-${from}`, "to-room");
      await clients[from].emitWithAck("to", { rooms: [room], except: [clients.c2.id] }, `r-${from}`, "except-c2");
      await clients[from].emitWithAck("to", { rooms: [clients.n1.id] }, `r-${from}`, "to-n1-id");
      await clients[from].emitWithAck("to", {}, `marker-${from}`);
      await marker;
      assert.deepEqual(seen.c1, ["to-room", "except-c2"]);
      assert.deepEqual(seen.c2, ["to-room"]);
      assert.deepEqual(seen.n1, ["to-n1-id"]);
      assert.deepEqual(seen.n2, ["to-room", "except-c2"]);
      for (const n of ["c1", "c2", "n2"]) await clients[n].emitWithAck("leave", room);
    });

    test(`broadcast with acks collects every server's clients, from ${from}`, async () => {
      for (const n of NAMES) clients[n].removeAllListeners("ask").on("ask", (x, ack) => ack({ n, x }));
      const r = await clients[from].emitWithAck("broadcast-ack", { timeout: 3000 }, "ask", 7);
      assert.equal(r.err, null);
      assert.deepEqual(r.responses.map((x) => x.n).sort(), NAMES);
      assert.ok(r.responses.every((x) => x.x === 7));
      // one client does not answer: a timeout with the three that did
      clients.c2.removeAllListeners("ask");
      const t = await clients[from].emitWithAck("broadcast-ack", { timeout: 800 }, "ask", 8);
      assert.equal(t.err, "operation has timed out");
      assert.deepEqual(t.responses.map((x) => x.n).sort(), ["c1", "n1", "n2"]);
    });

    test(`fetchSockets sees every server's sockets with handshake, rooms, data, from ${from}`, async () => {
      const list = await clients[from].emitWithAck("fetch", {});
      assert.deepEqual(list.map((x) => x.id).sort(), NAMES.map((n) => clients[n].id).sort());
      for (const x of list) {
        const name = NAMES.find((n) => clients[n].id === x.id);
        assert.deepEqual(x.data, { on: name });
        // the handshake crosses the cluster with its field types
        assert.equal(typeof x.handshake.time, "string");
        assert.equal(typeof x.handshake.issued, "number");
        assert.equal(typeof x.handshake.headers, "object");
        assert.equal(x.handshake.query.transport, "websocket");
        assert.deepEqual(x.handshake.auth, {});
        assert.ok(x.rooms.includes(x.id));
      }
    });

    test(`the local flag keeps a broadcast on its server, from ${from}`, async () => {
      const seen = Object.fromEntries(NAMES.map((n) => [n, 0]));
      for (const n of NAMES) clients[n].on(`local-${from}`, () => seen[n]++);
      const marker = everyone(`lmarker-${from}`);
      await clients[from].emitWithAck("to", { local: true }, `local-${from}`);
      await clients[from].emitWithAck("to", {}, `lmarker-${from}`);
      await marker;
      assert.deepEqual(seen, Object.fromEntries(NAMES.map((n) => [n, n === from ? 1 : 0])));
    });

    test(`serverSideEmit without ack reaches the other servers, from ${from}`, async () => {
      clients[from].emit("sse-send", "no-ack", from);
      for (const n of NAMES.filter((x) => x !== from))
        await servers[n].waitFor((e) => e.event === "sse" && JSON.stringify(e.args) === JSON.stringify(["no-ack", from]));
      await sleep(100);
      assert.equal(servers[from].events.some((e) => e.event === "sse" && e.args[0] === "no-ack" && e.args[1] === from), false);
    });

    test(`socketsJoin / socketsLeave across servers, from ${from}`, async () => {
      const room = `joined-${from}`;
      await clients[from].emitWithAck("sockets-join", { rooms: [clients.c1.id, clients.n2.id] }, room);
      await until(async () => (await clients.c2.emitWithAck("fetch", { rooms: [room] })).length === 2, 5000, "join");
      const ids = (await clients.n1.emitWithAck("fetch", { rooms: [room] })).map((x) => x.id).sort();
      assert.deepEqual(ids, [clients.c1.id, clients.n2.id].sort());
      await clients[from].emitWithAck("sockets-leave", { rooms: [room] }, room);
      await until(async () => (await clients.c2.emitWithAck("fetch", { rooms: [room] })).length === 0, 5000, "leave");
    });

    test(`serverSideEmit with ack reaches the three other servers, from ${from}`, async () => {
      const r = await clients[from].emitWithAck("sse-send", "hello", 1);
      assert.equal(r.err, null);
      assert.deepEqual(r.responses.sort(), NAMES.filter((n) => n !== from).map((n) => `${n}-reply`).sort());
      for (const n of NAMES.filter((x) => x !== from))
        await servers[n].waitFor((e) => e.event === "sse" && JSON.stringify(e.args) === '["hello",1]');
    });
  }

  // The C server is one server whatever loops its sockets sit on
  // (SIO_WORKERS=4: these clients are spread over the loops): a Node peer's
  // allRooms() and fetchSockets() by room, and a raw SOCKETS request (the
  // form of older adapters), see them all.
  // (the sharded Node adapter has no allRooms: there a Node peer's
  // fetchSockets by room is checked alone)
  test(classic ? "a Node peer's allRooms, fetchSockets by room and SOCKETS request see every C client"
    : "a Node peer's fetchSockets by room sees every C client", async () => {
    const extra = [];
    try {
      for (let i = 0; i < 4; i++) {
        const s = io(servers.c1.url, { transports: ["websocket"], forceNew: true, reconnection: false });
        await next(s, "connect");
        await s.emitWithAck("join", `ar-${i}`);
        extra.push(s);
      }
      if (classic) {
        const rooms = await clients.n1.emitWithAck("all-rooms");
        for (let i = 0; i < 4; i++) {
          assert.ok(rooms.includes(`ar-${i}`), `ar-${i}`);
          assert.ok(rooms.includes(extra[i].id));
        }
      }
      const list = await clients.n1.emitWithAck("fetch", { rooms: ["ar-0", "ar-1", "ar-2", "ar-3"] });
      assert.deepEqual(list.map((x) => x.id).sort(), extra.map((s) => s.id).sort());
      if (classic && !jsonParser) {
        const notepack = require("notepack.io");
        const sub = pub.duplicate();
        sub.on("error", () => {});
        await sub.connect();
        const got = [];
        const requestId = `sockets-${Date.now()}`;
        await sub.subscribe("socket.io-response#/#", (msg) => {
          let m;
          try { m = notepack.decode(msg); } catch { m = JSON.parse(msg.toString()); }
          if (m.requestId === requestId) got.push(...m.sockets);
        }, true);
        await pub.publish("socket.io-request#/#", notepack.encode(
          { uid: "peer-test", requestId, type: 0, rooms: ["ar-0", "ar-1", "ar-2", "ar-3"] }));
        await until(() => got.length >= 4, 5000, "SOCKETS answers");
        await sleep(200);
        await sub.quit();
        assert.deepEqual(got.sort(), extra.map((s) => s.id).sort());
      }
    } finally {
      for (const s of extra) s.close();
    }
  });

  test("disconnectSockets across servers, from a C server and from a Node server", async () => {

    for (const [from, victim] of [["c2", "n2"], ["n2", "c1"]]) {
      const id = clients[victim].id;
      const gone = next(clients[victim], "disconnect");
      await clients[from].emitWithAck("disconnect-sockets", { rooms: [id] }, false);
      assert.equal((await gone)[0], "io server disconnect");
      assert.equal((await servers[victim].waitFor((e) => e.event === "disconnect" && e.id === id)).reason,
                   "server namespace disconnect");
      clients[victim].connect();
      await next(clients[victim], "connect");
      await clients[victim].emitWithAck("set-data", { on: victim });
    }
  });

  classicTest("@socket.io/redis-emitter reaches the sockets of every server", async () => {
    const emitter = new Emitter(pub);
    const got = everyone("from-emitter");
    emitter.emit("from-emitter", 1, Buffer.from([0xff]));
    for (const args of await got) assert.deepEqual(args, [1, Buffer.from([0xff])]);
    await clients.c1.emitWithAck("join", "em-room");
    await clients.n1.emitWithAck("join", "em-room");
    const seen = Object.fromEntries(NAMES.map((n) => [n, []]));
    for (const n of NAMES) clients[n].on("em-room", (x) => seen[n].push(x));
    const marker = everyone("em-marker");
    emitter.to("em-room").except(clients.n1.id).emit("em-room", "z");
    emitter.emit("em-marker");
    await marker;
    assert.deepEqual(seen, { c1: ["z"], c2: [], n1: [], n2: [] });
    emitter.in(clients.c2.id).socketsJoin("em-joined");
    await until(async () => (await clients.n2.emitWithAck("fetch", { rooms: ["em-joined"] })).length === 1, 5000, "emitter join");
    emitter.serverSideEmit("sse", "from-emitter");
    for (const n of NAMES)
      await servers[n].waitFor((e) => e.event === "sse" && JSON.stringify(e.args) === '["from-emitter"]');
  });

  classicTest("malformed messages on the channels are dropped; the cluster carries on", async () => {
    // Node's adapter decodes broadcasts without a try/catch (a malformed one
    // kills the process), but it drops room channels for rooms it does not
    // hold before decoding: garbage goes to a room only c1 holds.
    await clients.c1.emitWithAck("join", "c1-only");
    await pub.publish("socket.io#/#c1-only#", Buffer.from([0x93, 0x01]));                // truncated
    await pub.publish("socket.io#/#c1-only#", Buffer.from([0x93, 0xa1, 0x78, 0xc0, 0xc0])); // wrong shapes
    await pub.publish("socket.io-request#/#", "{not json");
    await pub.publish("socket.io-request#/#", Buffer.from([0x85, 0xc1]));
    await pub.publish("socket.io-response#/#", Buffer.from([0xc1]));
    const got = everyone("after-garbage");
    await clients.c1.emitWithAck("to", {}, "after-garbage");
    await got;
    await until(() => (servers.c1.stderr.match(/malformed broadcast/g) || []).length === 2, 3000, "c1 logs");
    await until(() => /malformed request/.test(servers.c2.stderr), 3000, "c2 logs");
  });

  test("a server leaving the cluster: the others go on without waiting for it", async () => {
    const gone = next(clients.n2, "disconnect");
    await servers.n2.stop();
    await gone;
    clients.n2.close();
    delete clients.n2;
    await until(async () => (await countServers(pub)) === 3, 5000, "3 subscribers");
    const t0 = Date.now();
    const list = await clients.c1.emitWithAck("fetch", {});
    assert.equal(list.length, 3);
    assert.ok(Date.now() - t0 < 1500, "no request timeout was needed");
    const got = Promise.all(["c1", "c2", "n1"].map((n) => next(clients[n], "after-leave")));
    await clients.n1.emitWithAck("to", {}, "after-leave");
    await got;
    // later tests run with three servers
    NAMES.splice(NAMES.indexOf("n2"), 1);
    delete servers.n2;
  });

  classicTest("Redis restarts mid-run: local delivery goes on, requests time out, then the cluster heals", async () => {
    await redis.stop();
    // local delivery on one server still works
    const mine = next(clients.c1, "local-only");
    await clients.c1.emitWithAck("to", { rooms: [clients.c1.id] }, "local-only", 1);
    await mine;
    // a cross-server request ends at its timeout with the local part
    const t0 = Date.now();
    const list = await clients.c1.emitWithAck("fetch", {});
    assert.deepEqual(list.map((x) => x.id), [clients.c1.id]);
    assert.ok(Date.now() - t0 < 4000);
    redis = await redis.restart();
    await until(async () => (await countServers(pub).catch(() => 0)) === NAMES.length,
                15000, "resubscription of every server");
    const got = everyone("healed");
    await clients.c2.emitWithAck("to", {}, "healed");
    await got;
    const again = await clients.n1.emitWithAck("fetch", {});
    assert.equal(again.length, NAMES.length);
    assert.match(servers.c1.stderr, /reconnecting with backoff/);
  });
});
}
