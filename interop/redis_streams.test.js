// Mixed clusters through a real Redis with the streams adapter: libsio
// servers and Node socket.io 4.8 servers with @socket.io/redis-streams-adapter
// 0.3.1 (node-redis or ioredis), connection state recovery on. Every
// cluster operation is issued from a C and from a Node server in 2 C + 2 Node;
// the other mixes (1 C + 3 Node, 3 C + 1 Node, streamCount 4, ioredis) run a
// representative subset. Recovery moves a client between servers in all
// four directions; expired sessions, trimmed offsets, malformed entries, a
// server dying, a Redis restart; and a 0.2.3 Node peer where the
// generations meet (stream traffic and recovery).
"use strict";
const nodeTest = require("node:test");
const { describe, before, after } = nodeTest;
const test = (name, fn) => nodeTest.test(name, { timeout: 30000 }, fn);
const assert = require("node:assert/strict");
const { io } = require("socket.io-client");
const { createClient } = require("redis");
const { startServer, sleep } = require("./lib/harness");
const { startRedis } = require("./lib/redis");

const next = (s, ev) => new Promise((r) => s.once(ev, (...a) => r(a)));
const OFFSET = /^[0-9]+-[0-9]+$/;

async function until(fn, ms = 10000, what = "condition") {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await fn()) return; } catch { /* retry */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// Splits the trailing offset off a broadcast's arguments.
function offsetOf(args) {
  const last = args[args.length - 1];
  assert.match(String(last), OFFSET, `no offset in ${JSON.stringify(args)}`);
  return [args.slice(0, -1), last];
}

// Starts a cluster: names beginning with "c" are libsio, "n" Node.
async function cluster(redis, names, extra = {}, nodeExtra = {}) {
  const servers = {};
  await Promise.all(names.map(async (name) => {
    servers[name] = await startServer(name[0] === "c" ? "c" : "node", "sio_test_server", {
      redis: redis.url, name, adapter: "streams", connectionStateRecovery: true,
      ...extra, ...(name[0] === "n" ? nodeExtra[name] || {} : {}),
    });
  }));
  const clients = {};
  for (const name of names) {
    const s = io(servers[name].url, { transports: ["websocket"], forceNew: true,
                                      reconnectionDelay: 100, reconnectionDelayMax: 300 });
    await next(s, "connect");
    await s.emitWithAck("set-data", { on: name });
    clients[name] = s;
  }
  return { servers, clients };
}

async function stopAll(servers, clients) {
  for (const s of Object.values(clients || {})) s.close();
  for (const srv of Object.values(servers || {})) await srv.stop();
}

const numsub = async (pub, ch = "socket.io#/#") => (await pub.pubSubNumSub(ch))[ch];

// The operations, issued from `from`, observed on every server of ctx.
function operationTests(ctx, from, { full = true } = {}) {
  const NAMES = () => Object.keys(ctx.clients);
  const everyone = (event, who = NAMES()) => Promise.all(who.map((n) => next(ctx.clients[n], event)));

  test(`broadcast from ${from} reaches every server with one offset, binary included`, async () => {
    const ev = `hello-${from}`;
    const got = everyone(ev);
    await ctx.clients[from].emitWithAck("to", {}, ev, 1, "two", Buffer.from([1, 2, 3]), { nested: [Buffer.from("x")] });
    const results = await got;
    const offsets = new Set();
    results.forEach((args, i) => {
      const [rest, off] = offsetOf(args);
      offsets.add(off);
      assert.deepEqual(rest, [1, "two", Buffer.from([1, 2, 3]), { nested: [Buffer.from("x")] }], NAMES()[i]);
    });
    assert.equal(offsets.size, 1, "every server appended the same stream id");
  });

  test(`rooms, except and volatile across servers, from ${from}`, async () => {
    const { clients } = ctx;
    const names = NAMES();
    const [a, b, c] = names.filter((n) => n !== from).concat(from);
    const room = `room-${from}`;
    await clients[a].emitWithAck("join", room);
    await clients[b].emitWithAck("join", room);
    const marker = everyone(`marker-${from}`);
    const seen = Object.fromEntries(names.map((n) => [n, []]));
    for (const n of names) clients[n].on(`r-${from}`, (...x) => seen[n].push(x));
    await clients[from].emitWithAck("to", { rooms: [room] }, `r-${from}`, "to-room");
    await clients[from].emitWithAck("to", { rooms: [room], except: [clients[a].id] }, `r-${from}`, "except-a");
    await clients[from].emitWithAck("to", { rooms: [clients[c].id] }, `r-${from}`, "to-c-id");
    await clients[from].emitWithAck("to", { except: [room] }, `r-${from}`, "except-room");
    // A Node server drops a volatile packet while its WebSocket transport is
    // still sending the previous one (writable false until the send
    // callback): the earlier packets must have arrived at a and b first, or
    // whether a Node member gets it depends on how its stream reader batched
    // the entries.
    await until(() => seen[a].length >= 1 && seen[b].length >= 2, 5000, "earlier packets at a and b");
    await clients[from].emitWithAck("to", { volatile: true, rooms: [room] }, `r-${from}`, "volatile");
    await clients[from].emitWithAck("to", {}, `marker-${from}`);
    await marker;
    const plain = (n) => seen[n].map((x) => (x.length === 2 ? offsetOf(x)[0][0] : `${x[0]} (no offset)`));
    assert.deepEqual(plain(a), ["to-room", "volatile (no offset)"]);
    assert.deepEqual(plain(b), ["to-room", "except-a", "volatile (no offset)"]);
    const others = names.filter((n) => n !== a && n !== b);
    for (const n of others)
      assert.deepEqual(plain(n), n === c ? ["to-c-id", "except-room"] : ["except-room"], n);
    for (const n of [a, b]) await clients[n].emitWithAck("leave", room);
  });

  test(`fetchSockets sees every server's sockets, from ${from}`, async () => {
    const list = await ctx.clients[from].emitWithAck("fetch", {});
    assert.deepEqual(list.map((x) => x.id).sort(), NAMES().map((n) => ctx.clients[n].id).sort());
    for (const x of list) {
      const name = NAMES().find((n) => ctx.clients[n].id === x.id);
      assert.deepEqual(x.data, { on: name });
      assert.equal(typeof x.handshake.time, "string");
      assert.equal(typeof x.handshake.issued, "number");
      assert.equal(x.handshake.query.transport, "websocket");
      assert.ok(x.rooms.includes(x.id));
    }
  });

  test(`serverSideEmit with ack answered by every other server, from ${from}`, async () => {
    const r = await ctx.clients[from].emitWithAck("sse-send", "hello", 1);
    assert.equal(r.err, null);
    assert.deepEqual(r.responses.sort(), NAMES().filter((n) => n !== from).map((n) => `${n}-reply`).sort());
  });

  test(`broadcast with acks collects every server's clients, from ${from}`, async () => {
    for (const n of NAMES()) ctx.clients[n].removeAllListeners("ask").on("ask", (x, ack) => ack({ n, x }));
    const r = await ctx.clients[from].emitWithAck("broadcast-ack", { timeout: 3000 }, "ask", 7);
    assert.equal(r.err, null);
    assert.deepEqual(r.responses.map((x) => x.n).sort(), NAMES().sort());
    assert.ok(r.responses.every((x) => x.x === 7));
  });

  if (!full) return;

  test(`the local flag keeps a broadcast on its server, from ${from}`, async () => {
    const seen = Object.fromEntries(NAMES().map((n) => [n, 0]));
    for (const n of NAMES()) ctx.clients[n].on(`local-${from}`, () => seen[n]++);
    const marker = everyone(`lmarker-${from}`);
    await ctx.clients[from].emitWithAck("to", { local: true }, `local-${from}`);
    await ctx.clients[from].emitWithAck("to", {}, `lmarker-${from}`);
    await marker;
    assert.deepEqual(seen, Object.fromEntries(NAMES().map((n) => [n, n === from ? 1 : 0])));
  });

  test(`broadcast with ack times out with the answers that came, from ${from}`, async () => {
    const names = NAMES();
    const silent = names.find((n) => n !== from);
    for (const n of names) ctx.clients[n].removeAllListeners("ask").on("ask", (x, ack) => ack({ n, x }));
    ctx.clients[silent].removeAllListeners("ask");
    const t = await ctx.clients[from].emitWithAck("broadcast-ack", { timeout: 800 }, "ask", 8);
    assert.equal(t.err, "operation has timed out");
    assert.deepEqual(t.responses.map((x) => x.n).sort(), names.filter((n) => n !== silent).sort());
  });

  test(`serverSideEmit without ack reaches the other servers, from ${from}`, async () => {
    ctx.clients[from].emit("sse-send", "no-ack", from);
    for (const n of NAMES().filter((x) => x !== from))
      await ctx.servers[n].waitFor((e) => e.event === "sse" && JSON.stringify(e.args) === JSON.stringify(["no-ack", from]));
    await sleep(100);
    assert.equal(ctx.servers[from].events.some((e) => e.event === "sse" && e.args[1] === from), false);
  });

  test(`socketsJoin / socketsLeave across servers, from ${from}`, async () => {
    const names = NAMES();
    const [x, y] = [names[0], names[names.length - 1]];
    const room = `joined-${from}`;
    await ctx.clients[from].emitWithAck("sockets-join", { rooms: [ctx.clients[x].id, ctx.clients[y].id] }, room);
    for (const n of names)
      await until(async () => (await ctx.clients[n].emitWithAck("fetch", { rooms: [room] })).length === 2, 5000, `join seen from ${n}`);
    await ctx.clients[from].emitWithAck("sockets-leave", { rooms: [room] }, room);
    for (const n of names)
      await until(async () => (await ctx.clients[n].emitWithAck("fetch", { rooms: [room] })).length === 0, 5000, `leave seen from ${n}`);
  });

  test(`disconnectSockets across servers, from ${from}`, async () => {
    const victim = NAMES().find((n) => n[0] !== from[0]);
    const id = ctx.clients[victim].id;
    const gone = next(ctx.clients[victim], "disconnect");
    await ctx.clients[from].emitWithAck("disconnect-sockets", { rooms: [id] }, false);
    assert.equal((await gone)[0], "io server disconnect");
    assert.equal((await ctx.servers[victim].waitFor((e) => e.event === "disconnect" && e.id === id)).reason,
                 "server namespace disconnect");
    ctx.clients[victim].connect();
    await next(ctx.clients[victim], "connect");
    await ctx.clients[victim].emitWithAck("set-data", { on: victim });
  });
}

// A client leaves `from` (transport closed), misses packets, comes back on
// `to`: same id, rooms, data, every missed packet once and in order.
async function recovery(ctx, from, to, helper) {
  const { servers, clients } = ctx;
  const s = io(servers[from].url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await next(s, "connect");
  await s.emitWithAck("set-data", { who: `rec-${from}` });
  const room = `rec-${from}-${to}`;
  await s.emitWithAck("join", room);
  const warm = next(s, "warm");
  await clients[helper].emitWithAck("to", { rooms: [room] }, "warm", 0);
  await warm;
  const id = s.id;
  const got = [];
  // ("auth" is the connection handler's greeting, sent again on recovery)
  s.onAny((ev, ...args) => { if (ev !== "auth") got.push([ev, ...args]); });
  const away = next(s, "disconnect");
  s.io.engine.close();
  await away;
  const left = await servers[from].waitFor((e) => e.event === "disconnect" && e.id === id, 5000, "server side disconnect");
  assert.equal(left.reason, "transport close");
  const h = clients[helper];
  await h.emitWithAck("to", { rooms: [room] }, "m", 1);
  await h.emitWithAck("to", {}, "m", 2);
  await h.emitWithAck("to", { except: [room] }, "no", 1);
  await h.emitWithAck("to", { rooms: ["elsewhere"] }, "no", 2);
  await h.emitWithAck("to", { rooms: [id] }, "m", 3);
  await h.emitWithAck("to", { rooms: [room], volatile: true }, "m", 4); // replayed, as Node does
  await h.emitWithAck("to", { rooms: [room] }, "m", 5, Buffer.from([0xbe, 0xef]));
  await h.emitWithAck("to", { rooms: [room], local: true }, "no", 3);
  s.io.uri = servers[to].url;
  s.connect();
  await next(s, "connect");
  assert.equal(s.recovered, true, `recovered ${from} -> ${to}`);
  assert.equal(s.id, id);
  const conn = await servers[to].waitFor((e) => e.event === "connection" && e.id === id, 5000, "connection");
  assert.equal(conn.recovered, true);
  const offsets = got.map((x) => offsetOf(x)[1]);
  assert.deepEqual(got.map((x) => offsetOf(x)[0]),
                   [["m", 1], ["m", 2], ["m", 3], ["m", 4], ["m", 5, Buffer.from([0xbe, 0xef])]]);
  const asPair = (o) => o.split("-").map(BigInt);
  for (let i = 1; i < offsets.length; i++) {
    const [a, b] = [asPair(offsets[i - 1]), asPair(offsets[i])];
    assert.ok(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), "stream order");
  }
  // rooms and data came back
  const me = await s.emitWithAck("fetch", { rooms: [room], local: true });
  assert.deepEqual(me.map((x) => x.id), [id]);
  assert.deepEqual(me.map((x) => x.data), [{ who: `rec-${from}` }]);
  // and it is live in its room again, once
  got.length = 0;
  const live = next(s, "live");
  await clients[helper].emitWithAck("to", { rooms: [room] }, "live", 1);
  await live;
  await sleep(100);
  assert.equal(got.length, 1);
  s.close();
}

// Leaves `from`, then `spoil` removes what recovery needs; back on `to`
// the client gets a new session.
async function noRecovery(ctx, from, to, pub, spoil) {
  const { servers } = ctx;
  const s = io(servers[from].url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await next(s, "connect");
  const warm = next(s, "warm");
  await s.emitWithAck("to", { rooms: [s.id] }, "warm", 0);
  await warm;
  const { id, _pid: pid } = s;
  const away = next(s, "disconnect");
  s.io.engine.close();
  await away;
  await servers[from].waitFor((e) => e.event === "disconnect" && e.id === id);
  await until(async () => (await pub.pTTL(`sio:session:${pid}`)) > 0, 3000, "session stored");
  await spoil(pid);
  s.io.uri = servers[to].url;
  s.connect();
  await next(s, "connect");
  assert.equal(s.recovered, false);
  assert.notEqual(s.id, id);
  assert.equal(await pub.exists(`sio:session:${pid}`), 0, "the session is consumed");
  s.close();
}

describe("streams adapter: 2 libsio + 2 Node (node-redis), one stream", () => {
  const ctx = {};
  let redis, pub;
  before(async () => {
    redis = await startRedis();
    Object.assign(ctx, await cluster(redis, ["c1", "c2", "n1", "n2"]));
    pub = createClient({ url: redis.url });
    pub.on("error", () => {});
    await pub.connect();
    await until(async () => (await numsub(pub)) === 4, 10000, "4 subscribers");
  });
  after(async () => {
    await stopAll(ctx.servers, ctx.clients);
    if (pub) await pub.quit().catch(() => {});
    if (redis) await redis.stop();
  });

  for (const from of ["c1", "n1"]) operationTests(ctx, from);

  test("the stream carries Node's entry format from a C server", async () => {
    const got = Promise.all(["c1", "n1"].map((n) => next(ctx.clients[n], "fmt")));
    const [a, b] = [ctx.clients.c1.id, ctx.clients.n1.id];
    await ctx.clients.c2.emitWithAck("to", { rooms: [a, b], except: ["x"] }, "fmt", 1);
    await got;
    const [last] = await pub.xRevRange("socket.io", "+", "-", { COUNT: 1 });
    assert.deepEqual(Object.keys(last.message), ["uid", "nsp", "type", "data"]);
    assert.equal(last.message.nsp, "/");
    assert.equal(last.message.type, "3");
    assert.match(last.message.uid, /^[0-9a-f]{16}$/);
    assert.equal(last.message.data,
                 `{"packet":{"type":2,"data":["fmt",1]},"opts":{"rooms":["${a}","${b}"],"except":["x"],"flags":{}}}`);
  });

  for (const [from, to] of [["c1", "c2"], ["c1", "n1"], ["n1", "c1"], ["n1", "n2"]]) {
    test(`recovery ${from} -> ${to}: every missed packet once, in order`, async () => {
      const helper = Object.keys(ctx.clients).find((n) => n !== from && n !== to);
      await recovery(ctx, from, to, helper);
    });
  }

  for (const [from, to] of [["c1", "n1"], ["n1", "c2"]]) {
    test(`expired session (${from} -> ${to}): a new session`, async () => {
      await noRecovery(ctx, from, to, pub, async (pid) => {
        // the TTL is maxDisconnectionDuration, and the TTL is the only expiry
        const ttl = await pub.pTTL(`sio:session:${pid}`);
        assert.ok(ttl > 100000 && ttl <= 120000, `PX ${ttl}`);
        await pub.del(`sio:session:${pid}`);
      });
    });
    test(`offset trimmed out of the stream (${from} -> ${to}): a new session`, async () => {
      await noRecovery(ctx, from, to, pub, async () => {
        await pub.sendCommand(["XTRIM", "socket.io", "MAXLEN", "0"]);
      });
    });
  }

  test("malformed entries are dropped and logged; the cluster carries on", async () => {
    await pub.sendCommand(["XADD", "socket.io", "*", "uid", "bad", "nsp", "/", "type", "3", "data", "{not json"]);
    await pub.sendCommand(["XADD", "socket.io", "*", "uid", "bad", "nsp", "/", "type", "3", "data", "!!!!"]);
    await pub.sendCommand(["XADD", "socket.io", "*", "uid", "bad", "nsp", "/", "type", "x", "data", "{}"]);
    // (no wrong shapes: a SOCKETS_JOIN with opts.rooms 7 stops Node's reader for good)
    await pub.sendCommand(["XADD", "socket.io", "*", "uid", "bad", "nsp", "/", "type", "3", "data", "wcE="]);
    await pub.sendCommand(["XADD", "socket.io", "*", "uid", "bad", "type", "3", "data", "{}"]); // no nsp: skipped
    const got = Promise.all(Object.keys(ctx.clients).map((n) => next(ctx.clients[n], "after-garbage")));
    await ctx.clients.n2.emitWithAck("to", {}, "after-garbage");
    await got;
    for (const c of ["c1", "c2"])
      await until(() => (ctx.servers[c].stderr.match(/malformed entry/g) || []).length === 4, 3000, `${c} logs`);
  });

  test("a server dying: requests stop waiting for it (subscriber count)", async () => {
    const gone = next(ctx.clients.n2, "disconnect");
    await ctx.servers.n2.stop();
    await gone;
    ctx.clients.n2.close();
    delete ctx.clients.n2;
    delete ctx.servers.n2;
    await until(async () => (await numsub(pub)) === 3, 5000, "3 subscribers");
    const t0 = Date.now();
    const list = await ctx.clients.c1.emitWithAck("fetch", {});
    assert.equal(list.length, 3);
    assert.ok(Date.now() - t0 < 4000, "no request timeout (5 s) was needed");
    const r = await ctx.clients.c2.emitWithAck("sse-send", "after-death");
    assert.deepEqual(r.responses.sort(), ["c1-reply", "n1-reply"]);
  });

  test("Redis restarts mid-run: readers resume, nothing read twice or skipped", async () => {
    await pub.quit().catch(() => {});
    await redis.stop();
    const mine = next(ctx.clients.c1, "local-only");
    await ctx.clients.c1.emitWithAck("to", { rooms: [ctx.clients.c1.id] }, "local-only", 1);
    assert.deepEqual(await mine, [1]); // XADD failed: delivered without offset
    redis = await redis.restart();
    pub = createClient({ url: redis.url });
    pub.on("error", () => {});
    await pub.connect();
    await until(async () => (await numsub(pub)) === 3, 15000, "resubscription");
    const names = Object.keys(ctx.clients);
    const seen = Object.fromEntries(names.map((n) => [n, []]));
    for (const n of names) ctx.clients[n].on("seq", (...x) => seen[n].push(offsetOf(x)[0][0]));
    // every sender's main connection is back when its broadcasts carry an offset again
    for (const sender of ["c2", "n1"])
      await until(async () => {
        const p = next(ctx.clients.c1, "probe");
        await ctx.clients[sender].emitWithAck("to", { rooms: [ctx.clients.c1.id] }, "probe");
        return (await p).length === 1;
      }, 15000, `${sender} writes to the stream again`);
    // two senders; a sender delivers its own locally once XADD answered, so
    // only each sender's order is defined (as between Node servers)
    for (let i = 0; i < 5; i++)
      await Promise.all([ctx.clients.c2.emitWithAck("to", {}, "seq", `c${i}`),
                         ctx.clients.n1.emitWithAck("to", {}, "seq", `n${i}`)]);
    const marker = Promise.all(names.map((n) => next(ctx.clients[n], "seq-end")));
    await ctx.clients.c1.emitWithAck("to", {}, "seq-end");
    await marker;
    await sleep(200);
    for (const n of names) {
      for (const k of ["c", "n"])
        assert.deepEqual(seen[n].filter((x) => x[0] === k), [0, 1, 2, 3, 4].map((i) => `${k}${i}`), n);
      assert.equal(seen[n].length, 10, n);
    }
    assert.match(ctx.servers.c1.stderr, /reconnecting with backoff/);
  });
});

describe("streams adapter: 2 libsio + 2 Node (ioredis), streamCount 4", () => {
  const ctx = {};
  let redis, pub;
  before(async () => {
    redis = await startRedis();
    Object.assign(ctx, await cluster(redis, ["c1", "c2", "n1", "n2"], { streamCount: 4 },
                                     { n1: { redisClient: "ioredis" }, n2: { redisClient: "ioredis" } }));
    pub = createClient({ url: redis.url });
    pub.on("error", () => {});
    await pub.connect();
    await until(async () => (await numsub(pub)) === 4, 10000, "4 subscribers");
  });
  after(async () => {
    await stopAll(ctx.servers, ctx.clients);
    if (pub) await pub.quit().catch(() => {});
    if (redis) await redis.stop();
  });
  for (const from of ["c1", "n1"]) operationTests(ctx, from, { full: false });
  test("namespace / goes to stream socket.io-3 (Node's hashCode)", async () => {
    assert.ok((await pub.xLen("socket.io-3")) > 0);
    assert.equal(await pub.exists("socket.io"), 0);
  });
  for (const [from, to] of [["c1", "n1"], ["n2", "c2"]]) {
    test(`recovery ${from} -> ${to} on stream socket.io-3`, async () => {
      const helper = Object.keys(ctx.clients).find((n) => n !== from && n !== to);
      await recovery(ctx, from, to, helper);
    });
  }
});

for (const [label, names] of [["1 libsio + 3 Node", ["c1", "n1", "n2", "n3"]],
                              ["3 libsio + 1 Node", ["c1", "c2", "c3", "n1"]]]) {
  describe(`streams adapter: ${label} (node-redis and ioredis peers)`, () => {
    const ctx = {};
    let redis, pub;
    before(async () => {
      redis = await startRedis();
      Object.assign(ctx, await cluster(redis, names, {}, { n2: { redisClient: "ioredis" } }));
      pub = createClient({ url: redis.url });
      pub.on("error", () => {});
      await pub.connect();
      await until(async () => (await numsub(pub)) === 4, 10000, "4 subscribers");
    });
    after(async () => {
      await stopAll(ctx.servers, ctx.clients);
      if (pub) await pub.quit().catch(() => {});
      if (redis) await redis.stop();
    });
    for (const from of ["c1", "n1"]) operationTests(ctx, from, { full: false });
    test("recovery C -> Node and Node -> C", async () => {
      const c = names.filter((n) => n[0] === "c"), n = names.filter((x) => x[0] === "n");
      await recovery(ctx, c[0], n[n.length - 1], c.length > 1 ? c[1] : n[0]);
      await recovery(ctx, n[0], c[c.length - 1], n.length > 1 ? n[1] : c[0]);
    });
    if (names.filter((n) => n[0] === "c").length > 1)
      test("a libsio server shutting down stores its sessions: the client resumes on a Node server", async () => {
        const victim = names.filter((n) => n[0] === "c").pop();
        const s = io(ctx.servers[victim].url, { transports: ["websocket"], forceNew: true, reconnection: false });
        await next(s, "connect");
        await s.emitWithAck("join", "shutdown-room");
        const warm = next(s, "warm");
        await ctx.clients.n1.emitWithAck("to", { rooms: ["shutdown-room"] }, "warm");
        await warm;
        const id = s.id;
        const got = [];
        s.onAny((ev, ...args) => { if (ev !== "auth") got.push([ev, ...args]); });
        const away = next(s, "disconnect");
        ctx.clients[victim].close();
        delete ctx.clients[victim];
        await ctx.servers[victim].stop();
        delete ctx.servers[victim];
        await away;
        await ctx.clients.n1.emitWithAck("to", { rooms: ["shutdown-room"] }, "while-down", 1);
        s.io.uri = ctx.servers.n1.url;
        s.connect();
        await next(s, "connect");
        assert.equal(s.recovered, true);
        assert.equal(s.id, id);
        assert.deepEqual(got.map((x) => offsetOf(x)[0]), [["while-down", 1]]);
        s.close();
      });
  });
}

describe("streams adapter: libsio (0.3 protocol) with a Node 0.2.3 peer", () => {
  const ctx = {};
  let redis;
  before(async () => {
    redis = await startRedis();
    Object.assign(ctx, await cluster(redis, ["c1", "c2", "n1"], {}, { n1: { streamsVersion: "0.2" } }));
  });
  after(async () => {
    await stopAll(ctx.servers, ctx.clients);
    if (redis) await redis.stop();
  });
  test("broadcasts cross both ways through the shared stream", async () => {
    for (const from of ["c1", "n1"]) {
      const got = Promise.all(["c1", "c2", "n1"].map((n) => next(ctx.clients[n], `g-${from}`)));
      await ctx.clients[from].emitWithAck("to", { except: ["nobody"] }, `g-${from}`, Buffer.from([7]));
      const res = await got;
      const offs = new Set(res.map((x) => offsetOf(x)[1]));
      assert.equal(offs.size, 1);
      for (const x of res) assert.deepEqual(offsetOf(x)[0], [Buffer.from([7])]);
    }
  });
  test("socketsJoin from libsio is applied by the 0.2.3 server", async () => {
    await ctx.clients.c1.emitWithAck("sockets-join", { rooms: [ctx.clients.n1.id] }, "gen-room");
    await until(async () => (await ctx.clients.n1.emitWithAck("fetch", { local: true, rooms: ["gen-room"] })).length === 1,
                5000, "0.2.3 applied the join");
  });
  test("recovery libsio -> 0.2.3 and 0.2.3 -> libsio", async () => {
    await recovery(ctx, "c1", "n1", "c2");
    await recovery(ctx, "n1", "c2", "c1");
  });
});

describe("streams adapter, 0.2.x protocol: libsio with Node 0.2.3 peers (node-redis and ioredis)", () => {
  const ctx = {};
  let redis;
  before(async () => {
    redis = await startRedis();
    Object.assign(ctx, await cluster(redis, ["c1", "c2", "n1", "n2"], { streamsVersion: "0.2" },
                                     { n2: { redisClient: "ioredis" } }));
    // heartbeats: every server knows the three others
    await until(async () => (await ctx.clients.n1.emitWithAck("fetch", {})).length === 4 &&
                             (await ctx.clients.c1.emitWithAck("fetch", {})).length === 4,
                10000, "every server counted");
  });
  after(async () => {
    await stopAll(ctx.servers, ctx.clients);
    if (redis) await redis.stop();
  });
  for (const from of ["c1", "n1"]) operationTests(ctx, from, { full: false });
  test("recovery between libsio and 0.2.3 in both directions", async () => {
    await recovery(ctx, "c1", "n1", "c2");
    await recovery(ctx, "n2", "c2", "n1");
  });
  test("a server dying (killed: no ADAPTER_CLOSE): past heartbeatTimeout requests stop waiting for it", async () => {
    const gone = next(ctx.clients.n2, "disconnect");
    process.kill(ctx.servers.n2.pid, "SIGKILL"); // a Node server: no sanitizer to check
    await gone;
    ctx.clients.n2.close();
    delete ctx.clients.n2;
    delete ctx.servers.n2;
    await sleep(11500); // its last heartbeat was at most 5 s ago; dropped 10 s after it
    const t0 = Date.now();
    const list = await ctx.clients.c1.emitWithAck("fetch", {});
    assert.equal(list.length, 3);
    const r = await ctx.clients.c2.emitWithAck("sse-send", "after-close");
    assert.deepEqual(r.responses.sort(), ["c1-reply", "n1-reply"]);
    assert.ok(Date.now() - t0 < 4000, "no request timeout (5 s) was needed");
  });
  test("libsio heartbeats while idle, so 0.2.3 keeps counting it", async () => {
    await sleep(11000); // longer than heartbeatTimeout (10 s) without traffic
    const list = await ctx.clients.n1.emitWithAck("fetch", {});
    assert.deepEqual(list.map((x) => x.id).sort(), ["c1", "c2", "n1"].map((n) => ctx.clients[n].id).sort());
  });
});

// The streams adapter on a Redis Cluster (3 masters + 3 replicas): the
// stream is one key, so every XADD / XREAD / XRANGE goes to the master of
// its slot; sessions to the master of theirs; requests and answers over
// classic PUB/SUB (PUBLISH anywhere, NUMSUB summed over the nodes). Node
// peers run the 0.3.1 package on a node-redis createCluster client and on
// an ioredis Cluster.
describe("streams adapter on a Redis Cluster (3 masters + 3 replicas)", () => {
  const { startCluster } = require("./lib/redis_cluster");
  let rc;
  // PUBSUB NUMSUB (or SHARDNUMSUB) summed over every node
  const subscribers = async (what, ch) => {
    let n = 0;
    for (const p of rc.ports) {
      const r = await rc.command(p, "PUBSUB", what, ch).catch(() => null);
      if (Array.isArray(r)) n += Number(r[1]);
    }
    return n;
  };
  before(async () => { rc = await startCluster(); });
  after(async () => { if (rc) await rc.stop(); });

describe("classic PUB/SUB: 2 libsio + 2 Node (node-redis and ioredis Cluster)", () => {
  const ctx = {};
  before(async () => {
    Object.assign(ctx, await cluster({}, ["c1", "c2", "n1", "n2"], { redisCluster: rc.seeds },
                                     { n2: { redisClient: "ioredis" } }));
    await until(async () => (await subscribers("NUMSUB", "socket.io#/#")) === 4, 10000,
                "4 subscribers over the nodes");
  });
  after(() => stopAll(ctx.servers, ctx.clients));

  for (const from of ["c1", "n1"]) operationTests(ctx, from, { full: false });

  test("the stream lives on the master of its slot, with entries of several servers", async () => {
    const owner = await rc.ownerOf("socket.io");
    assert.ok(Number(await rc.command(owner.port, "XLEN", "socket.io")) > 0);
    // a C server's own entries are there (uid of a libsio adapter)
    const entries = await rc.command(owner.port, "XRANGE", "socket.io", "-", "+");
    const uids = new Set(entries.map((e) => e[1][e[1].indexOf("uid") + 1]));
    assert.ok(uids.size >= 2, "entries of several servers");
  });

  for (const [from, to] of [["c1", "n1"], ["n2", "c2"], ["c2", "c1"]]) {
    test(`recovery ${from} -> ${to} across the cluster`, async () => {
      const helper = Object.keys(ctx.clients).find((n) => n !== from && n !== to);
      await recovery(ctx, from, to, helper);
    });
  }

  test("the stream's master fails over: libsio readers follow and resume from their last id", async () => {
    const owner = await rc.ownerOf("socket.io");
    const { replica } = await rc.failover(owner.port);
    // broadcasts right after the failover, from a C and a Node server: the
    // C servers' clients get each once, in order
    const C = ["c1", "c2"];
    const seen = Object.fromEntries(C.map((n) => [n, []]));
    for (const n of C) ctx.clients[n].on("fo", (x) => seen[n].push(x));
    for (let i = 1; i <= 5; i++)
      await ctx.clients[i % 2 ? "c1" : "n1"].emitWithAck("to", {}, "fo", i);
    await until(() => C.every((n) => seen[n].length >= 5), 15000, "the broadcasts after the failover");
    await sleep(200);
    assert.equal((await rc.ownerOf("socket.io")).port, replica);
    // each once, in the stream's order (a Node server acknowledges before
    // its XADD lands, so that order is not always the order of the emits)
    const entries = await rc.command(replica, "XRANGE", "socket.io", "-", "+");
    const order = entries.map((e) => e[1][e[1].indexOf("data") + 1])
      .filter((d) => typeof d === "string" && d.startsWith("{") && d.includes('"fo"'))
      .map((d) => JSON.parse(d).packet.data[1]);
    assert.deepEqual([...order].sort(), [1, 2, 3, 4, 5]);
    for (const n of C) assert.deepEqual(seen[n], order, n);
    // each C reader moved to the new master, resuming after an id it had read
    for (const n of C)
      assert.match(ctx.servers[n].stderr, new RegExp(`reading socket\\.io from 127\\.0\\.0\\.1:${replica} now, after [0-9]+-[0-9]+`), n);
    // and the cluster operations still work from a C server
    const r = await ctx.clients.c1.emitWithAck("sse-send", "after", 1);
    assert.equal(r.err, null);
    assert.deepEqual(r.responses.sort(), ["c2-reply", "n1-reply", "n2-reply"]);
  });

  test("the stream's master is killed: after the promotion libsio readers read from the new master", async () => {
    const owner = await rc.ownerOf("socket.io");
    rc.kill(owner.port);
    const { port } = await rc.waitPromotion(owner.port);
    const C = ["c1", "c2"];
    await until(() => C.every((n) => new RegExp(`reading socket\\.io from 127\\.0\\.0\\.1:${port} now`)
      .test(ctx.servers[n].stderr)), 15000, "the C readers on the promoted replica");
    const got = Promise.all(C.map((n) => next(ctx.clients[n], "after-kill")));
    await ctx.clients.c2.emitWithAck("to", {}, "after-kill", 1);
    for (const args of await got) assert.deepEqual(offsetOf(args)[0], [1]);
    await rc.restart(owner.port);
    await rc.waitHealthy();
  });
});

// useShardedPubSub: SSUBSCRIBE / SPUBLISH on the master of each channel's
// slot (P#NSP# and P#NSP#<uid># hash to different slots), SHARDNUMSUB
// summed over the masters; a stream and prefix of its own on the same
// cluster. Node peers on node-redis createCluster: with an ioredis Cluster
// client the 0.3.1 package's SSUBSCRIBE never reaches a node (SHARDNUMSUB
// stays 0 for it on every node, so it would hear no request).
describe("useShardedPubSub: 2 libsio + 2 Node (node-redis Cluster)", () => {
  const ctx = {};
  const opts = { useShardedPubSub: true, streamName: "sio-sharded", channelPrefix: "sio-sh" };
  before(async () => {
    Object.assign(ctx, await cluster({}, ["c1", "c2", "n1", "n2"], { ...opts, redisCluster: rc.seeds }));
    await until(async () => (await subscribers("SHARDNUMSUB", "sio-sh#/#")) === 4, 10000,
                "4 shard subscribers");
  });
  after(() => stopAll(ctx.servers, ctx.clients));
  for (const from of ["c1", "n1"]) operationTests(ctx, from, { full: false });
  test("the stream sio-sharded is written; recovery C -> Node and Node -> C", async () => {
    const owner = await rc.ownerOf("sio-sharded");
    assert.ok(Number(await rc.command(owner.port, "XLEN", "sio-sharded")) > 0);
    await recovery(ctx, "c1", "n2", "n1");
    await recovery(ctx, "n1", "c2", "c1");
  });
});
});

// rediss:// (a redis-server that speaks only TLS and requires client
// certificates): the streams adapter's connections (commands, PUB/SUB,
// the XREAD reader) verify Redis against the test CA and present a client
// certificate; a libsio and a Node server share the stream.
describe("streams adapter over rediss://: 1 libsio + 1 Node", () => {
  const path = require("node:path");
  const { makeCerts } = require("./lib/certs");
  const ctx = {};
  let certs, redis;
  before(async () => {
    certs = makeCerts();
    const ca = path.join(certs.dir, "ca.pem");
    redis = await startRedis(0, { tls: { ...certs.server, ca, authClients: "yes" } });
    Object.assign(ctx, await cluster(redis, ["c1", "n1"],
                                     { redisTls: { ca, cert: certs.server2.cert, key: certs.server2.key } }));
  });
  after(async () => {
    await stopAll(ctx.servers, ctx.clients);
    if (redis) await redis.stop();
    if (certs) certs.cleanup();
  });
  test("broadcasts both ways and recovery C -> Node and Node -> C", async () => {
    assert.match(redis.url, /^rediss:/);
    for (const from of ["c1", "n1"]) {
      const got = Promise.all(["c1", "n1"].map((n) => next(ctx.clients[n], `tls-${from}`)));
      await until(async () => (await ctx.clients[from].emitWithAck("fetch", {})).length === 2, 10000, "both servers");
      await ctx.clients[from].emitWithAck("to", {}, `tls-${from}`, 1);
      for (const args of await got) assert.deepEqual(offsetOf(args)[0], [1]);
    }
    await recovery(ctx, "c1", "n1", "n1");
    await recovery(ctx, "n1", "c1", "c1");
  });
});
