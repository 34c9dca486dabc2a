// Benchmark (not a test): broadcasts crossing two servers through Redis,
// the streams adapter (XADD + XREAD, recovery on, offsets appended) vs the
// classic Redis adapter (PUB/SUB), libsio vs Node socket.io 4.8, same run.
// Server A sends, N clients on server B receive M broadcasts; reports
// deliveries/s and the p50/p99 latency from emit to client. Then the Redis
// memory taken by 1000 stored recovery sessions (clients connected to one
// server with recovery on, then that server stops: each socket's session
// is SET in Redis, as Node does on shutdown).
//
//   node bench/streams.js [clients=200] [broadcasts=200] [sessions=1000] [rate=50]
// Two modes: "burst" (all broadcasts at once: throughput, latency includes
// the backlog) and paced at `rate` broadcasts/s (latency).
// Uses build/gcc (release) unless SIO_BUILD_DIR is set. Numbers depend on
// the machine and its load; compare rows of the same run.
"use strict";
const path = require("node:path");
process.env.SIO_BUILD_DIR = process.env.SIO_BUILD_DIR ||
  path.join(__dirname, "..", "build", "gcc");
const nm = (m) => require(path.join(__dirname, "..", "interop", "node_modules", m));
const { io } = nm("socket.io-client");
const { createClient } = nm("redis");
const { startServer } = require(path.join(__dirname, "..", "interop", "lib", "harness"));
const { startRedis } = require(path.join(__dirname, "..", "interop", "lib", "redis"));

const N = Number(process.argv[2] || 200);
const M = Number(process.argv[3] || 200);
const S = Number(process.argv[4] || 1000);
const RATE = Number(process.argv[5] || 50); // broadcasts per second in the paced runs

const connect = (url) => new Promise((resolve) => {
  const s = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  s.once("connect", () => resolve(s));
});

async function connectMany(url, n) {
  const out = [];
  for (let i = 0; i < n; i += 100)
    out.push(...await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => connect(url))));
  return out;
}

async function crossing(kind, adapter, redis, rate) {
  const cfg = adapter === "streams"
    ? { redis: redis.url, adapter: "streams", connectionStateRecovery: true }
    : { redis: redis.url };
  const a = await startServer(kind, "sio_test_server", { ...cfg, name: "a" });
  const b = await startServer(kind, "sio_test_server", { ...cfg, name: "b" });
  const sender = await connect(a.url);
  const clients = await connectMany(b.url, N);
  await Promise.all(clients.map((s) => s.emitWithAck("join", "bench")));
  // warm up: one broadcast through, so subscriptions/readers are in place
  await new Promise((resolve) => {
    let n = 0;
    for (const s of clients) s.once("warm", () => { if (++n === N) resolve(); });
    const t = setInterval(() => sender.emit("to", { rooms: ["bench"] }, "warm"), 200);
    const stop = () => clearInterval(t);
    clients[0].once("warm", stop);
  });
  const lat = [];
  let received = 0;
  const done = new Promise((resolve) => {
    for (const s of clients)
      s.on("tick", (k, sentAt) => {
        lat.push(performance.now() - sentAt);
        if (++received === N * M) resolve();
      });
  });
  const t0 = performance.now();
  if (!rate) {
    for (let k = 0; k < M; k++) sender.emit("to", { rooms: ["bench"] }, "tick", k, performance.now());
  } else { // paced: latency without a backlog in the measuring process
    for (let k = 0; k < M; k++) {
      sender.emit("to", { rooms: ["bench"] }, "tick", k, performance.now());
      await new Promise((r) => setTimeout(r, 1000 / rate));
    }
  }
  await done;
  const ms = performance.now() - t0;
  sender.close();
  for (const s of clients) s.close();
  await a.stop();
  await b.stop();
  lat.sort((x, y) => x - y);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1);
  return { server: kind === "c" ? "libsio" : "node", adapter, mode: rate ? `${rate}/s` : "burst",
           deliveriesPerSec: Math.round(N * M / (ms / 1000)), p50ms: q(0.5), p99ms: q(0.99) };
}

async function sessions(kind, redis, pub) {
  await pub.flushAll();
  const before = Number(/used_memory:(\d+)/.exec(await pub.info("memory"))[1]);
  const srv = await startServer(kind, "sio_test_server",
                                { redis: redis.url, adapter: "streams", connectionStateRecovery: true });
  const clients = await connectMany(srv.url, S);
  await Promise.all(clients.map((s, i) => s.emitWithAck("set-data", { user: `user-${i}` })));
  await Promise.all(clients.map((s) => s.emitWithAck("join", "lobby")));
  // the greeting of each connection went through the stream: drop it
  await pub.del("socket.io");
  await srv.stop();
  for (const s of clients) s.close();
  let keys = 0;
  for (let t = 0; t < 50 && keys < S; t++) {
    keys = (await pub.keys("sio:session:*")).length;
    if (keys < S) await new Promise((r) => setTimeout(r, 100));
  }
  const after = Number(/used_memory:(\d+)/.exec(await pub.info("memory"))[1]);
  let usage = 0, value = 0;
  for (const k of await pub.keys("sio:session:*")) {
    usage += Number(await pub.sendCommand(["MEMORY", "USAGE", k, "SAMPLES", "0"]));
    value += (await pub.get(k)).length;
  }
  return { server: kind === "c" ? "libsio" : "node", sessions: keys,
           keyBytesPer1000: Math.round(usage / keys * 1000),
           usedMemoryDeltaPer1000: Math.round((after - before) / keys * 1000),
           avgValueBytes: Math.round(value / keys) };
}

(async () => {
  const redis = await startRedis();
  const pub = createClient({ url: redis.url });
  await pub.connect();
  const rows = [];
  try {
    for (const rate of [0, RATE])
      for (const adapter of ["classic", "streams"])
        for (const kind of ["c", "node"]) {
          await pub.flushAll();
          rows.push(await crossing(kind, adapter, redis, rate));
        }
    console.log(`server A -> Redis -> server B: ${N} clients on B, ${M} broadcasts (${N * M} deliveries)`);
    console.table(rows);
    const mem = [];
    for (const kind of ["c", "node"]) mem.push(await sessions(kind, redis, pub));
    console.log(`Redis memory for stored recovery sessions (socket.data {user}, 2 rooms each)`);
    console.table(mem);
  } finally {
    await pub.quit().catch(() => {});
    await redis.stop();
  }
})();
