// The Redis adapter on a Redis Cluster (3 masters + 3 replicas, started
// once for the file): libsio servers and Node socket.io 4.8 servers with
// @socket.io/redis-adapter 8.3 on node-redis createCluster or ioredis
// Cluster, a socket.io-client on each; every operation is issued from each
// server and observed on every client. Classic with node-redis and with
// ioredis peers, sharded (dynamic, static, dynamic-private) with node-redis
// peers, 1 C + 3 Node and 3 C + 1 Node, the emitter on the cluster.
"use strict";
const nodeTest = require("node:test");
const { describe, before, after } = nodeTest;
const test = (name, fn) => nodeTest.test(name, { timeout: 30000 }, fn);
const assert = require("node:assert/strict");
const { io } = require("socket.io-client");
const { createCluster } = require("redis");
const { Emitter } = require("@socket.io/redis-emitter");
const { startServer, sleep } = require("./lib/harness");
const { startCluster } = require("./lib/redis_cluster");
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

let cluster;
before(async () => { cluster = await startCluster(); });
after(async () => { if (cluster) await cluster.stop(); });

// What every node counts, summed: each server's one subscription.
async function countServers(classic) {
  let n = 0;
  for (const p of cluster.ports) {
    const r = await cluster.command(p, ...(classic ? ["PUBSUB", "NUMSUB", "socket.io-request#/#"]
                                                  : ["PUBSUB", "SHARDNUMSUB", "socket.io#/#"]));
    n += Number(r[1]);
  }
  return n;
}

// Where the servers' subscriptions sit: node-redis peers count masters only,
// so every server must be subscribed on a master.
async function countOnMasters(classic) {
  const masters = (await cluster.masters()).map((m) => m.port);
  let n = 0;
  for (const p of masters) {
    const r = await cluster.command(p, ...(classic ? ["PUBSUB", "NUMSUB", "socket.io-request#/#"]
                                                  : ["PUBSUB", "SHARDNUMSUB", "socket.io#/#"]));
    n += Number(r[1]);
  }
  return n;
}

const SUITES = [
  { label: "classic, node-redis peers, 2 C + 2 Node", names: ["c1", "c2", "n1", "n2"],
    adapter: {}, client: "node-redis", full: true, emitter: true },
  { label: "classic, ioredis peers, 2 C + 2 Node", names: ["c1", "c2", "n1", "n2"],
    adapter: {}, client: "ioredis", full: true },
  { label: "sharded dynamic, node-redis peers, 2 C + 2 Node", names: ["c1", "c2", "n1", "n2"],
    adapter: { sharded: true, subscriptionMode: "dynamic" }, client: "node-redis", full: true },
  { label: "sharded static, node-redis peers, 2 C + 2 Node", names: ["c1", "c2", "n1", "n2"],
    adapter: { sharded: true, subscriptionMode: "static" }, client: "node-redis", full: true },
  { label: "sharded dynamic-private, node-redis peers, 2 C + 2 Node", names: ["c1", "c2", "n1", "n2"],
    adapter: { sharded: true, subscriptionMode: "dynamic-private" }, client: "node-redis", full: true },
  // the C server is given one URL and detects the cluster (CLUSTER SHARDS)
  { label: "classic, node-redis peers, 1 C + 3 Node", names: ["c1", "n1", "n2", "n3"],
    adapter: {}, client: "node-redis", detect: true },
  { label: "sharded dynamic, node-redis peers, 3 C + 1 Node", names: ["c1", "c2", "c3", "n1"],
    adapter: { sharded: true, subscriptionMode: "dynamic" }, client: "node-redis" },
];

// SIO_CLUSTER_SUITES=classic,ioredis runs the suites whose label has every word
const only = (process.env.SIO_CLUSTER_SUITES || "").split(",").filter(Boolean);
for (const suite of SUITES.filter((x) => only.every((w) => x.label.includes(w)))) {
const NAMES = suite.names;
const classic = !suite.adapter.sharded;
describe(`Redis Cluster (${suite.label})`, () => {
  let servers, clients;

  before(async () => {
    servers = {};
    await Promise.all(NAMES.map(async (name) => {
      const redis = suite.detect && name[0] === "c"
        ? { redis: cluster.seed, redisMode: "detect" } : { redisCluster: cluster.seeds };
      servers[name] = await startServer(name[0] === "c" ? "c" : "node", "sio_test_server", {
        ...redis, redisClient: suite.client, name, requestsTimeout: 3000, ...suite.adapter });
    }));
    clients = {};
    await Promise.all(NAMES.map(async (name) => {
      const s = io(servers[name].url, { transports: ["websocket"], forceNew: true,
                                        reconnectionDelay: 100, reconnectionDelayMax: 300 });
      await next(s, "connect");
      await s.emitWithAck("set-data", { on: name });
      clients[name] = s;
    }));
    // every server subscribed (on a master) before the tests publish
    await until(async () => (await countOnMasters(classic)) === NAMES.length, 15000,
                `${NAMES.length} subscribers on masters`);
    if (suite.client === "ioredis") assert.equal(await countServers(classic), NAMES.length);
  });

  after(async () => {
    for (const s of Object.values(clients || {})) s.close();
    for (const srv of Object.values(servers || {})) await srv.stop();
  });

  const everyone = (event, who = NAMES) => Promise.all(who.map((n) => next(clients[n], event)));
  const froms = suite.full ? NAMES : [NAMES[0], NAMES[NAMES.length - 1]];

  test("serverCount sees every server, from each", async () => {
    for (const from of NAMES) assert.equal(await clients[from].emitWithAck("server-count"), NAMES.length, from);
  });

  for (const from of froms) {
    test(`broadcast from ${from} reaches everyone, binary included`, async () => {
      const ev = `hello-${from}`;
      const got = everyone(ev);
      await clients[from].emitWithAck("to", {}, ev, 1, "two", Buffer.from([1, 2, 3]), { nested: [Buffer.from("x")] });
      for (const r of await got) assert.deepEqual(r, [1, "two", Buffer.from([1, 2, 3]), { nested: [Buffer.from("x")] }]);
    });

    test(`rooms and except across servers, from ${from}`, async () => {
      const room = `room-${from}`;
      const [a, b, c, d] = NAMES;
      await clients[b].emitWithAck("join", room);
      await clients[d].emitWithAck("join", room);
      await clients[a].emitWithAck("join", room);
      const marker = everyone(`marker-${from}`);
      const seen = Object.fromEntries(NAMES.map((n) => [n, []]));
      for (const n of NAMES) clients[n].on(`r-${from}`, (x) => seen[n].push(x));
      await clients[from].emitWithAck("to", { rooms: [room] }, `r-${from}`, "to-room");
      await clients[from].emitWithAck("to", { rooms: [room], except: [clients[b].id] }, `r-${from}`, "except-b");
      await clients[from].emitWithAck("to", { rooms: [clients[c].id] }, `r-${from}`, "to-c-id");
      await clients[from].emitWithAck("to", {}, `marker-${from}`);
      await marker;
      assert.deepEqual(seen[a], ["to-room", "except-b"]);
      assert.deepEqual(seen[b], ["to-room"]);
      assert.deepEqual(seen[c], ["to-c-id"]);
      assert.deepEqual(seen[d], ["to-room", "except-b"]);
      for (const n of [a, b, d]) await clients[n].emitWithAck("leave", room);
    });

    test(`broadcast with acks collects every server's clients, from ${from}`, async () => {
      for (const n of NAMES) clients[n].removeAllListeners("ask").on("ask", (x, ack) => ack({ n, x }));
      const t0 = Date.now();
      const r = await clients[from].emitWithAck("broadcast-ack", { timeout: 3000 }, "ask", 7);
      assert.equal(r.err, null);
      assert.deepEqual(r.responses.map((x) => x.n).sort(), [...NAMES].sort());
      assert.ok(Date.now() - t0 < 3000, "answered before the timeout");
      if (from !== NAMES[0] && from !== NAMES[NAMES.length - 1]) return;
      // one client does not answer: a timeout with the others
      const silent = NAMES.find((n) => n !== from);
      clients[silent].removeAllListeners("ask");
      const t = await clients[from].emitWithAck("broadcast-ack", { timeout: 800 }, "ask", 8);
      assert.equal(t.err, "operation has timed out");
      assert.deepEqual(t.responses.map((x) => x.n).sort(), NAMES.filter((n) => n !== silent).sort());
    });

    test(`fetchSockets sees every server's sockets, without waiting for a timeout, from ${from}`, async () => {
      const t0 = Date.now();
      const list = await clients[from].emitWithAck("fetch", {});
      assert.ok(Date.now() - t0 < 2500, "no request timeout was needed");
      assert.deepEqual(list.map((x) => x.id).sort(), NAMES.map((n) => clients[n].id).sort());
      for (const x of list) {
        const name = NAMES.find((n) => clients[n].id === x.id);
        assert.deepEqual(x.data, { on: name });
        assert.equal(x.handshake.query.transport, "websocket");
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

    test(`serverSideEmit without and with ack reaches the other servers, from ${from}`, async () => {
      clients[from].emit("sse-send", "no-ack", from);
      for (const n of NAMES.filter((x) => x !== from))
        await servers[n].waitFor((e) => e.event === "sse" && JSON.stringify(e.args) === JSON.stringify(["no-ack", from]));
      const t0 = Date.now();
      const r = await clients[from].emitWithAck("sse-send", "hello", from);
      assert.equal(r.err, null);
      assert.ok(Date.now() - t0 < 2500, "no request timeout was needed");
      assert.deepEqual(r.responses.sort(), NAMES.filter((n) => n !== from).map((n) => `${n}-reply`).sort());
      assert.equal(servers[from].events.some((e) => e.event === "sse" && e.args[1] === from), false);
    });

    test(`socketsJoin / socketsLeave across servers, from ${from}`, async () => {
      const room = `joined-${from}`;
      const [a, b, c, d] = NAMES;
      await clients[from].emitWithAck("sockets-join", { rooms: [clients[a].id, clients[d].id] }, room);
      await until(async () => (await clients[b].emitWithAck("fetch", { rooms: [room] })).length === 2, 5000, "join");
      const ids = (await clients[c].emitWithAck("fetch", { rooms: [room] })).map((x) => x.id).sort();
      assert.deepEqual(ids, [clients[a].id, clients[d].id].sort());
      // a broadcast to the joined room reaches exactly those two
      const got = everyone(`in-${room}`, [a, d]);
      await clients[from].emitWithAck("to", { rooms: [room] }, `in-${room}`);
      await got;
      await clients[from].emitWithAck("sockets-leave", { rooms: [room] }, room);
      await until(async () => (await clients[b].emitWithAck("fetch", { rooms: [room] })).length === 0, 5000, "leave");
    });
  }

  test("disconnectSockets across servers, from a C server and from a Node server", async () => {
    const c = NAMES.filter((n) => n[0] === "c"), nd = NAMES.filter((n) => n[0] === "n");
    for (const [from, victim] of [[c[0], nd[nd.length - 1]], [nd[0], c[c.length - 1]]]) {
      const id = clients[victim].id;
      const gone = next(clients[victim], "disconnect");
      await clients[from].emitWithAck("disconnect-sockets", { rooms: [id] }, false);
      assert.equal((await gone)[0], "io server disconnect");
      clients[victim].connect();
      await next(clients[victim], "connect");
      await clients[victim].emitWithAck("set-data", { on: victim });
    }
  });

  if (suite.emitter) {
    test("@socket.io/redis-emitter on a node-redis cluster client reaches every server", async () => {
      const pub = createCluster({ rootNodes: cluster.seeds.map((url) => ({ url })) });
      pub.on("error", () => {});
      await pub.connect();
      try {
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
      } finally {
        await pub.quit().catch(() => {});
      }
    });
  }

  if (suite.full) {
    test("a server leaving: the others count it out and go on without waiting", async () => {
      const leaving = NAMES[NAMES.length - 1];
      const rest = NAMES.slice(0, -1);
      const gone = next(clients[leaving], "disconnect");
      await servers[leaving].stop();
      delete servers[leaving];
      await gone;
      clients[leaving].close();
      delete clients[leaving];
      await until(async () => (await countServers(classic)) === rest.length, 5000, "one subscriber less");
      for (const from of [rest[0], rest[rest.length - 1]]) {
        assert.equal(await clients[from].emitWithAck("server-count"), rest.length);
        const t0 = Date.now();
        assert.equal((await clients[from].emitWithAck("fetch", {})).length, rest.length);
        assert.ok(Date.now() - t0 < 2500, "no request timeout was needed");
      }
    });
  }
});
}

describe("cluster mode detection on a single Redis server", () => {
  let redis, servers, clients;
  before(async () => {
    redis = await startRedis(0);
    servers = {
      c1: await startServer("c", "sio_test_server", { redis: redis.url, redisMode: "detect", name: "c1" }),
      n1: await startServer("node", "sio_test_server", { redis: redis.url, name: "n1" }),
    };
    clients = {};
    for (const name of ["c1", "n1"]) {
      clients[name] = io(servers[name].url, { transports: ["websocket"], forceNew: true });
      await next(clients[name], "connect");
    }
  });
  after(async () => {
    for (const s of Object.values(clients || {})) s.close();
    for (const srv of Object.values(servers || {})) await srv.stop();
    if (redis) await redis.stop();
  });

  test("a server without cluster support: the C server goes on as a single-node client", async () => {
    await until(() => /is not a cluster: single-node mode/.test(servers.c1.stderr), 5000, "detection");
    await until(async () => (await clients.n1.emitWithAck("server-count")) === 2, 5000, "2 servers");
    assert.equal(await clients.c1.emitWithAck("server-count"), 2);
    for (const from of ["c1", "n1"]) {
      const got = Promise.all(["c1", "n1"].map((n) => next(clients[n], `d-${from}`)));
      await clients[from].emitWithAck("to", {}, `d-${from}`, from);
      for (const r of await got) assert.deepEqual(r, [from]);
    }
    assert.equal((await clients.c1.emitWithAck("fetch", {})).length, 2);
  });
});
