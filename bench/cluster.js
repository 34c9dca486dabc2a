// Benchmark (not a test): cross-server broadcasts through Redis, one Redis
// server vs a 3-master + 3-replica Redis Cluster, libsio (release build)
// and the Node socket.io 4.8 twin (node-redis; createClient on one server,
// createCluster on the cluster) side by side in one run, classic and
// sharded adapter. Two servers of one kind: a client on server A emits to
// a room; K clients in that room sit on server B, so every delivery
// crossed Redis. Reported per setup:
//   burst: M broadcasts sent as fast as the sender's socket takes them,
//          deliveries/s from the first send to the last delivery;
//   paced: R broadcasts/s for S seconds, latency send -> delivery p50/p99.
//
//   node bench/cluster.js [K=50] [M=2000] [R=200] [S=3]
// Needs redis-server; starts and stops its own Redis and cluster (ports
// chosen as in the tests, or SIO_CLUSTER_BASE). Numbers depend on the
// machine; compare rows of the same run.
"use strict";
const path = require("node:path");
process.env.SIO_BUILD_DIR = process.env.SIO_BUILD_DIR || path.join(__dirname, "..", "build", "gcc");
const { io } = require(path.join(__dirname, "..", "interop", "node_modules", "socket.io-client"));
const { startServer, sleep } = require(path.join(__dirname, "..", "interop", "lib", "harness"));
const { startRedis } = require(path.join(__dirname, "..", "interop", "lib", "redis"));
const { startCluster } = require(path.join(__dirname, "..", "interop", "lib", "redis_cluster"));

const K = Number(process.argv[2] || 50);
const M = Number(process.argv[3] || 2000);
const R = Number(process.argv[4] || 200);
const S = Number(process.argv[5] || 3);
const ROOM = "bench";
const now = () => Number(process.hrtime.bigint()) / 1e6;

const connect = (url) => new Promise((resolve) => {
  const s = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  s.once("connect", () => resolve(s));
});
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

async function one(kind, redisCfg) {
  const a = await startServer(kind, "sio_test_server", { requestsTimeout: 5000, ...redisCfg });
  if (process.env.SIO_BENCH_DEBUG) process.on("exit", () => console.error(a.stderr.slice(-3000)));
  const b = await startServer(kind, "sio_test_server", { requestsTimeout: 5000, ...redisCfg });
  const sender = await connect(a.url);
  const receivers = await Promise.all(Array.from({ length: K }, () => connect(b.url)));
  await Promise.all(receivers.map((s) => s.emitWithAck("join", ROOM)));
  // both servers subscribed: B's room reachable from A
  for (let i = 0; ; i++) {
    const n = (await sender.emitWithAck("fetch", { rooms: [ROOM] })).length;
    if (n === K) break;
    if (i > 100) throw new Error(`only ${n} of ${K} sockets reachable`);
    await sleep(100);
  }
  let got = 0, last = 0;
  const lat = [];
  let recordLatency = false;
  for (const s of receivers) {
    s.on("b", (t) => {
      got++;
      last = now();
      if (recordLatency) lat.push(last - t);
    });
  }
  // burst
  const t0 = now();
  for (let i = 0; i < M; i++) sender.emit("to", { rooms: [ROOM] }, "b", now());
  const want = M * K;
  const deadline = Date.now() + 60000;
  while (got < want && Date.now() < deadline) await sleep(20);
  const burst = { delivered: got, want, rate: got / ((last - t0) / 1000) };
  await sleep(500);
  // paced
  got = 0;
  recordLatency = true;
  const total = R * S;
  const every = 1000 / R;
  const p0 = now();
  for (let i = 0; i < total; i++) {
    const due = p0 + i * every;
    while (now() < due) await sleep(Math.max(0, Math.min(5, due - now())));
    sender.emit("to", { rooms: [ROOM] }, "b", now());
  }
  const end2 = Date.now() + 30000;
  while (got < total * K && Date.now() < end2) await sleep(20);
  lat.sort((x, y) => x - y);
  const paced = { delivered: got, want: total * K, p50: pct(lat, 50), p99: pct(lat, 99) };
  sender.close();
  for (const s of receivers) s.close();
  await sleep(200);
  await a.stop();
  await b.stop();
  return { burst, paced };
}

(async () => {
  const redis = await startRedis(0);
  const cluster = await startCluster();
  const rows = [];
  try {
    for (const [topo, cfg] of [["one Redis", { redis: redis.url }],
                               ["3-master cluster", { redisCluster: cluster.seeds, redisClient: "node-redis" }]]) {
      for (const [mode, extra] of [["classic", {}], ["sharded", { sharded: true, subscriptionMode: "dynamic" }]]) {
        for (const kind of ["c", "node"]) {
          // SIO_BENCH_ONLY: a regular expression over "topology adapter kind"
          if (process.env.SIO_BENCH_ONLY && !new RegExp(process.env.SIO_BENCH_ONLY).test(`${topo} ${mode} ${kind}`)) continue;
          const r = await one(kind, { ...cfg, ...extra });
          const row = { topo, mode, server: kind === "c" ? "libsio" : "Node (node-redis)", ...r };
          rows.push(row);
          console.error(JSON.stringify(row));
        }
      }
    }
  } finally {
    await cluster.stop();
    await redis.stop();
  }
  console.log(`K=${K} receivers on server B, burst of M=${M} broadcasts, paced ${R}/s for ${S} s\n`);
  console.log("| Redis | adapter | servers | burst deliveries/s | paced p50 | paced p99 | delivered (burst, paced) |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.topo} | ${r.mode} | ${r.server} | ${Math.round(r.burst.rate)} | ${r.paced.p50.toFixed(1)} ms | ` +
                `${r.paced.p99.toFixed(1)} ms | ${r.burst.delivered}/${r.burst.want}, ${r.paced.delivered}/${r.paced.want} |`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
