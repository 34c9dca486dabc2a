// Failover on a Redis Cluster (3 masters + 3 replicas, cluster-node-timeout
// 3000) under a steady broadcast: two libsio servers and two Node servers
// (ioredis Cluster and node-redis createCluster peers, classic adapter),
// each with a client that emits a numbered tick to everybody every 100 ms
// and asks for fetchSockets every 500 ms. Injected, one after the other:
// kill -9 of the master holding a libsio server's subscriber, a graceful
// CLUSTER FAILOVER, a master frozen with DEBUG SLEEP. Then, sharded
// (dynamic), the slot of a room channel is migrated to another master while
// every server is subscribed to it; and the shard that owns the main channel
// socket.io#/# is failed over (kill -9 of its master, then a graceful
// CLUSTER FAILOVER), each libsio server checked to hold its shard
// subscription on the promoted node (CLIENT LIST ssub=, PUBSUB SHARDNUMSUB).
// SIO_FAILOVER_DUMP=<dir>: the libsio servers' stderr is written there when
// that check fails (with DEBUG=sio:cluster it traces every subscription).
//
// Asserted for every libsio server (the issue's bounds): it delivers every
// tick of the other libsio servers sent from 1 s after the promotion (or
// the migration) on, and every one sent before the injection; nothing at
// all is lost in a graceful failover; no request hangs (each fetchSockets
// answers within requestsTimeout + node timeout + 0.5 s). Node peers are
// measured in the same run, not asserted (spec redis-cluster.md §7, §10.3:
// node-redis peers do not recover); the node-redis server is restarted
// before each injection so that each row starts healthy. The table of
// measurements is printed (and written to $SIO_FAILOVER_TABLE if set).
"use strict";
const nodeTest = require("node:test");
const { describe, before, after } = nodeTest;
const assert = require("node:assert/strict");
const fs = require("node:fs");
const { execFileSync } = require("node:child_process");
const { io } = require("socket.io-client");
const { startServer, sleep } = require("./lib/harness");
const { startCluster } = require("./lib/redis_cluster");

const test = (name, fn) => nodeTest.test(name, { timeout: 90000 }, fn);
const NODE_TIMEOUT = 3000;          // cluster-node-timeout of the test cluster
const REQUESTS_TIMEOUT = 2000;
const C_NODE_TIMEOUT = 1000;        // libsio's reply timeout per Redis node
const REQUEST_BOUND = REQUESTS_TIMEOUT + C_NODE_TIMEOUT + 500;
// The sharded adapter (socket.io-adapter's ClusterAdapter, in Node and in
// libsio) waits for fetchSockets answers flags.timeout or 5000 ms, not
// requestsTimeout: a request lost with a killed master ends there.
const SHARDED_FETCH_TIMEOUT = 5000;
const SHARDED_REQUEST_BOUND = SHARDED_FETCH_TIMEOUT + C_NODE_TIMEOUT + 500;
const TICK_MS = 100;
const RECOVERY_MS = 1000;           // the issue's bound after the promotion
// Ticks sent before a row's end may still be on their way (ASan, a loaded
// machine): a row is measured this long after its end.
const GRACE_MS = 1500;

const next = (s, ev) => new Promise((r) => s.once(ev, (...a) => r(a)));
const table = [];

// The master that holds the classic subscriber (PSUBSCRIBE) connection of
// process pid: CLIENT LIST on each master, matched with ss's socket owners.
async function subscriberMaster(cluster, pid) {
  for (const m of await cluster.masters()) {
    const own = new Set();    // the process's connections to this master
    const ss = execFileSync("ss", ["-Htnp", "state", "established", `( dport = :${m.port} )`],
                            { encoding: "utf8", maxBuffer: 64 << 20 });
    for (const l of ss.split("\n")) {
      if (l.includes(`pid=${pid},`)) own.add(l.trim().split(/\s+/)[2]);    // its local address
    }
    const list = await cluster.command(m.port, "CLIENT", "LIST");
    for (const l of String(list).split("\n")) {
      const addr = (l.match(/ addr=(\S+)/) || [])[1];
      const psub = Number((l.match(/ psub=(\d+)/) || [])[1] || 0);
      if (psub > 0 && own.has(addr)) return m.port;
    }
  }
  return null;
}

// A master that has a replica (so that it can fail over), preferably the
// one holding the subscriber of the first of pids that has one there.
async function masterToFail(cluster, pids) {
  const withReplica = [];
  for (const m of await cluster.masters()) {
    if (await cluster.replicaOf(m.port).catch(() => null)) withReplica.push(m.port);
  }
  assert.ok(withReplica.length, "a master with a replica");
  for (const pid of pids) {
    const p = await subscriberMaster(cluster, pid);
    if (withReplica.includes(p)) return p;
  }
  return withReplica[0];
}

// A server with a client that ticks and asks; everything recorded.
class Member {
  constructor(name, kind, cfg, run) { Object.assign(this, { name, kind, cfg, run }); }
  async start() {
    this.srv = await startServer(this.kind, "sio_test_server", { name: this.name, requestsTimeout: REQUESTS_TIMEOUT,
      redisNodeTimeout: C_NODE_TIMEOUT, ...this.cfg });
    this.client = io(this.srv.url, { transports: ["websocket"], forceNew: true, reconnection: false });
    await next(this.client, "connect");
    if (this.run.room) await this.client.emitWithAck("join", this.run.room);
    this.client.on(this.run.event, (from, seq) => this.run.received(this.name, from, seq));
  }
  tick() {
    if (!this.client || !this.client.connected) return;
    const seq = this.run.sent.length;
    this.run.sent.push({ from: this.name, seq, at: Date.now() });
    this.client.emit("to", this.run.room ? { rooms: [this.run.room] } : {}, this.run.event, this.name, seq);
  }
  ask() {
    if (!this.client || !this.client.connected) return;
    const at = Date.now();
    const rec = { server: this.name, at, ms: null };
    this.run.requests.push(rec);
    this.client.timeout(this.run.bound).emitWithAck("fetch", {})
      .then(() => { rec.ms = Date.now() - at; }, () => { rec.ms = Infinity; });
  }
  async stop() {
    if (this.client) this.client.close();
    this.client = null;
    if (this.srv) await this.srv.stop();
    this.srv = null;
  }
}

class Run {
  constructor(event, room, bound = REQUEST_BOUND) {
    Object.assign(this, { event, room, bound, sent: [], got: new Map(), requests: [], members: [] });
  }
  received(to, from, seq) {
    const k = `${to}|${seq}`;
    if (!this.got.has(k)) this.got.set(k, Date.now());
  }
  add(name, kind, cfg) { const m = new Member(name, kind, cfg, this); this.members.push(m); return m; }
  member(name) { return this.members.find((m) => m.name === name); }
  startTraffic() {
    this.timers = [setInterval(() => { for (const m of this.members) m.tick(); }, TICK_MS),
                   setInterval(() => { for (const m of this.members) m.ask(); }, 500)];
  }
  stopTraffic() { for (const t of this.timers || []) clearInterval(t); }
  // Ticks from `from` (names) sent in [t0, t1) that `to` never got.
  lost(to, fromNames, t0, t1) {
    return this.sent.filter((s) => fromNames.includes(s.from) && s.from !== to && s.at >= t0 && s.at < t1 &&
                            !this.got.has(`${to}|${s.seq}`));
  }
  // Every member answers fetchSockets with every member's socket.
  async settle(ms = 20000) {
    const end = Date.now() + ms;
    // only the libsio servers must count everybody: a node-redis peer does
    // not count an ioredis peer whose subscriber moved to a replica (§3)
    const live = this.members.filter((x) => !x.failed).length;
    for (const m of this.members.filter((x) => x.kind === "c")) {
      for (;;) {
        const n = await m.client.timeout(REQUEST_BOUND).emitWithAck("fetch", {}).then((l) => l.length, () => -1);
        if (n === live) break;
        if (Date.now() > end) throw new Error(`${m.name} sees ${n} of ${live} sockets`);
        await sleep(200);
      }
    }
  }
}

// One row per server for one injection: messages lost each way, when it
// had recovered relative to the promotion, requests over the bound.
// The libsio servers are the reference both ways (so that a broken Node
// peer's losses are not counted against the others): "lost in" = ticks of
// libsio servers this server's client missed, "lost out" = ticks of this
// server that the other libsio servers' clients missed.
function measure(run, label, inj, promo, end) {
  const names = run.members.map((m) => m.name);
  const ref = run.members.filter((m) => m.kind === "c").map((m) => m.name);
  for (const name of names) {
    if (run.member(name).failed) {
      table.push({ injection: label, server: name, peers: run.member(name).peers, failed: true });
      continue;
    }
    const others = ref.filter((n) => n !== name);
    const inLost = run.lost(name, others, inj - 2000, end);
    const outLost = others.flatMap((o) => run.lost(o, [name], inj - 2000, end));
    const sentOwn = run.sent.filter((s) => s.from === name && s.at >= inj - 2000 && s.at < end).length;
    const lastLoss = Math.max(-Infinity, ...inLost.map((s) => s.at), ...outLost.map((s) => s.at));
    const reqs = run.requests.filter((r) => r.server === name && r.at >= inj - 2000 && r.at < end);
    const row = {
      injection: label, server: name, peers: run.member(name).peers,
      promotion: promo - inj,
      recovered: Number.isFinite(lastLoss) ? lastLoss + TICK_MS - promo : null,
      inLost: inLost.length, outLost: outLost.length, sentOwn,
      hung: reqs.filter((r) => r.ms === Infinity).length, requests: reqs.length,
      slowest: Math.max(0, ...reqs.filter((r) => Number.isFinite(r.ms)).map((r) => r.ms)),
    };
    table.push(row);
    if (process.env.SIO_FAILOVER_DEBUG) console.log(JSON.stringify({ ...row, inj, inLostAt: inLost.map((s) => [s.from, s.at - inj]) }));
  }
}

// The issue's bounds for the libsio servers of a run.
function assertC(run, cNames, inj, promo, end, { noLoss = false, excuse = () => false } = {}) {
  if (process.env.SIO_FAILOVER_DEBUG) {
    for (const n of cNames) console.log(n, run.member(n).srv.stderr.split("\n").filter((l) => /WARN|INFO/.test(l)).slice(-15).join("\n"));
  }
  for (const to of cNames) {
    const before = run.lost(to, cNames, inj - 3000, inj - 500);
    assert.deepEqual(before, [], `${to} lost ticks of libsio servers before the injection`);
    const after = run.lost(to, cNames, promo + RECOVERY_MS, end);
    assert.deepEqual(after, [], `${to} lost ticks of libsio servers sent more than ${RECOVERY_MS} ms after the promotion`);
    if (noLoss) assert.deepEqual(run.lost(to, cNames, inj - 3000, end), [], `${to} lost ticks in a graceful failover`);
    const reqs = run.requests.filter((r) => r.server === to && r.at < end - run.bound);
    const hung = reqs.filter((r) => (r.ms === Infinity || r.ms === null) && !excuse(r));
    assert.deepEqual(hung, [], `${to}: requests not answered within ${run.bound} ms`);
  }
}

let cluster;
before(async () => { cluster = await startCluster({ nodeTimeout: NODE_TIMEOUT }); });
after(async () => {
  if (cluster) await cluster.stop();
  const md = formatTable() + (notes.length ? "\n\n" + notes.map((n) => `- ${n}`).join("\n") : "");
  console.log(md);
  if (process.env.SIO_FAILOVER_TABLE) fs.writeFileSync(process.env.SIO_FAILOVER_TABLE, md);
});

function formatTable() {
  const rows = ["| injection | server (Redis client) | promotion after | last loss (vs promotion) | lost in | lost out (of sent) | requests over bound |",
                "|---|---|---|---|---|---|---|"];
  for (const r of table) {
    if (r.failed) {
      rows.push(`| ${r.injection} | ${r.server} (${r.peers}) | did not start | | | | |`);
      continue;
    }
    rows.push(`| ${r.injection} | ${r.server} (${r.peers}) | ${r.promotion} ms | ` +
              `${r.recovered === null ? "no loss" : `${r.recovered > 0 ? "+" : ""}${r.recovered} ms`} | ${r.inLost} | ` +
              `${r.outLost} (${r.sentOwn}) | ${r.hung} of ${r.requests} (slowest ${r.slowest} ms) |`);
  }
  return rows.join("\n");
}

describe("classic adapter: failovers under a steady broadcast (2 libsio, ioredis and node-redis peers)", () => {
  const run = new Run("tick");
  const C = ["c1", "c2"];
  before(async () => {
    for (const [name, kind, peers] of [["c1", "c", "libsio"], ["c2", "c", "libsio"],
                                        ["ni", "node", "ioredis"], ["nn", "node", "node-redis"]]) {
      const m = run.add(name, kind, { redisCluster: cluster.seeds, ...(kind === "node" ? { redisClient: peers } : {}) });
      m.peers = peers;
      await m.start();
    }
    await run.settle();
    run.startTraffic();
    await sleep(2000);
  });
  after(async () => {
    run.stopTraffic();
    await sleep(REQUEST_BOUND + 500);    // let every request end first
    for (const m of run.members) await m.stop();
  });
  // node-redis peers never recover (spec §7): a fresh one for each row
  async function freshNodeRedis() {
    const nn = run.member("nn");
    await nn.stop();
    // node-redis may not even start on a cluster that just failed over
    // (seen once: no "listening" within 15 s): then the row goes without it
    nn.failed = null;
    // seeds that are up (node-redis stalls on a dead root node)
    nn.cfg.redisCluster = (await cluster.masters()).map((m) => `redis://127.0.0.1:${m.port}`);
    await nn.start().catch((e) => { nn.failed = e.message; nn.srv = null; nn.client = null; });
    await run.settle();
    await sleep(1000);
  }

  test("kill -9 the master holding a libsio subscriber", async () => {
    const port = await subscriberMaster(cluster, run.member("c1").srv.pid);
    assert.ok(port, "c1's subscriber found on a master");
    const inj = cluster.kill(port);
    const promo = (await cluster.waitPromotion(port)).at;
    await sleep(RECOVERY_MS + 1500);
    const end = Date.now();
    await sleep(GRACE_MS);
    measure(run, "kill -9 master", inj, promo, end);
    assertC(run, C, inj, promo, end);
    // not restarted (a full resync on a loaded machine can take long): the
    // next rows pick masters that still have a replica
    await cluster.waitHealthy();
  });

  test("graceful CLUSTER FAILOVER of the master holding a libsio subscriber", async () => {
    await freshNodeRedis();
    const port = await masterToFail(cluster, ["c2", "c1"].map((n) => run.member(n).srv.pid));
    const inj = Date.now();
    const promo = (await cluster.failover(port)).at;
    await sleep(RECOVERY_MS + 2000);
    const end = Date.now();
    await sleep(GRACE_MS);
    measure(run, "CLUSTER FAILOVER", inj, promo, end);
    assertC(run, C, inj, promo, end, { noLoss: true });
    await cluster.waitHealthy();
  });

  test("DEBUG SLEEP 8 on the master holding a libsio subscriber", async () => {
    await freshNodeRedis();
    // a subscriber stays on a master demoted by the graceful failover (it
    // keeps working there, §8.3): take one that is on a master
    const port = await masterToFail(cluster, ["c1", "c2"].map((n) => run.member(n).srv.pid));
    const inj = cluster.debugSleep(port, 8);
    const promo = (await cluster.waitPromotion(port)).at;
    await cluster.woken(port);
    await sleep(2000);
    const end = Date.now();
    await sleep(GRACE_MS);
    measure(run, "DEBUG SLEEP 8 on a master", inj, promo, end);
    assertC(run, C, inj, promo, end);
    await cluster.waitHealthy();
  });
});

describe("sharded adapter (dynamic): the slot of a room channel migrates while subscribed", () => {
  const ROOM = "failover-room";
  const run = new Run("rtick", ROOM);
  const C = ["c1", "c2"];
  before(async () => {
    await cluster.waitHealthy();
    // the master killed above is one of the seeds: libsio gets all seeds,
    // node-redis (which stalls on a dead root node) the live masters
    const live = (await cluster.masters()).map((m) => `redis://127.0.0.1:${m.port}`);
    for (const [name, kind, peers] of [["c1", "c", "libsio"], ["c2", "c", "libsio"], ["nn", "node", "node-redis"]]) {
      const m = run.add(name, kind, { redisCluster: kind === "c" ? cluster.seeds : live, sharded: true,
                                      subscriptionMode: "dynamic", ...(kind === "node" ? { redisClient: peers } : {}) });
      m.peers = peers;
      await m.start();
    }
    await run.settle();
    run.startTraffic();
    await sleep(2000);
  });
  after(async () => {
    run.stopTraffic();
    await sleep(REQUEST_BOUND + 500);    // let every request end first
    for (const m of run.members) await m.stop();
  });

  test("delivery to the room continues after CLUSTER SETSLOT … NODE", async () => {
    const channel = `socket.io#/#${ROOM}#`;
    const slot = cluster.keySlot(channel);
    const owner = await cluster.ownerOfSlot(slot);
    const target = (await cluster.masters()).find((m) => m.port !== owner.port);
    const { at } = await cluster.migrateSlot(slot, target.port);
    await sleep(RECOVERY_MS + 2000);
    const end = Date.now();
    await sleep(GRACE_MS);
    measure(run, `slot ${slot} of the room channel migrated`, at, at, end);
    assertC(run, C, at, at, end);
  });
});

// Sharded (dynamic) failover of the shard that owns the namespace's main
// channel: every broadcast to all, every request and its responses' routing
// start there. The libsio servers must resubscribe at the promoted replica
// by themselves; the node-redis peer is measured (spec §5, §7: it loses the
// shard's subscriptions for good), restarted fresh before each row.
const MAIN = "socket.io#/#";
const notes = [];

// Whether process pid has a connection to node `port` with a shard
// subscription (CLIENT LIST ssub=, matched with ss's socket owners).
async function shardSubscribed(cluster, port, pid) {
  const ss = execFileSync("ss", ["-Htnp", "state", "established", `( dport = :${port} )`],
                          { encoding: "utf8", maxBuffer: 64 << 20 });
  const own = new Set(ss.split("\n").filter((l) => l.includes(`pid=${pid},`)).map((l) => l.trim().split(/\s+/)[2]));
  const list = await cluster.command(port, "CLIENT", "LIST");
  if (list instanceof Error) return false;
  return String(list).split("\n").some((l) => own.has((l.match(/ addr=(\S+)/) || [])[1]) &&
                                             Number((l.match(/ ssub=(\d+)/) || [])[1] || 0) > 0);
}

// Polls the new owner from the promotion on until each libsio server holds
// a shard subscription there and PUBSUB SHARDNUMSUB counts them all; resolves
// with {name: ms after the promotion or null}, and the last count.
async function watchResubscribe(cluster, run, cNames, port, promo, ms) {
  const seen = Object.fromEntries(cNames.map((n) => [n, null]));
  let count = 0;
  const end = promo + ms;
  while (Date.now() < end) {
    for (const n of cNames) {
      if (seen[n] === null && await shardSubscribed(cluster, port, run.member(n).srv.pid).catch(() => false)) {
        seen[n] = Date.now() - promo;
      }
    }
    const r = await cluster.command(port, "PUBSUB", "SHARDNUMSUB", MAIN).catch(() => null);
    if (Array.isArray(r)) count = Number(r[1]);
    if (Object.values(seen).every((v) => v !== null) && count >= cNames.length) break;
    await sleep(50);
  }
  return { seen, count };
}

describe("sharded adapter (dynamic): failovers of the shard of socket.io#/# under a steady broadcast", () => {
  const run = new Run("stick", undefined, SHARDED_REQUEST_BOUND);
  const C = ["c1", "c2"];
  const liveSeeds = async () => (await cluster.masters()).map((m) => `redis://127.0.0.1:${m.port}`);
  before(async () => {
    // the master killed by the classic rows comes back as a replica, so
    // that every shard (the main channel's among them) can fail over
    for (const n of await cluster.nodes()) if (n.fail) await cluster.restart(n.port);
    await cluster.waitHealthy();
    const live = await liveSeeds();
    for (const [name, kind, peers] of [["c1", "c", "libsio"], ["c2", "c", "libsio"], ["nn", "node", "node-redis"]]) {
      const m = run.add(name, kind, { redisCluster: kind === "c" ? cluster.seeds : live, sharded: true,
                                      subscriptionMode: "dynamic", ...(kind === "node" ? { redisClient: peers } : {}) });
      m.peers = peers;
      await m.start();
    }
    await run.settle();
    run.startTraffic();
    await sleep(2000);
  });
  after(async () => {
    run.stopTraffic();
    await sleep(run.bound + 500);    // let every request end first
    for (const m of run.members) await m.stop();
  });
  async function freshNodeRedis() {
    const nn = run.member("nn");
    await nn.stop();
    nn.failed = null;
    nn.cfg.redisCluster = await liveSeeds();
    await nn.start().catch((e) => { nn.failed = e.message; nn.srv = null; nn.client = null; });
    await run.settle();
    await sleep(1000);
  }
  async function checkResubscribed(label, port, promo) {
    const { seen, count } = await watchResubscribe(cluster, run, C, port, promo, RECOVERY_MS + 3000);
    notes.push(`${label}: on the new owner ${port}, ` +
               C.map((n) => `${n} shard-subscribed ${seen[n] === null ? "never" : `+${seen[n]} ms`}`).join(", ") +
               ` after the promotion; SHARDNUMSUB ${MAIN} = ${count}`);
    if (process.env.SIO_FAILOVER_DUMP && (C.some((n) => seen[n] === null) || count < C.length)) {
      for (const n of C) fs.writeFileSync(`${process.env.SIO_FAILOVER_DUMP}/${Date.now()}-${n}.log`, `${label} port ${port} promo ${promo} seen ${seen[n]}\n` + run.member(n).srv.stderr);
    }
    for (const n of C) assert.notEqual(seen[n], null, `${n} has no shard subscription on the new owner ${port}`);
    assert.ok(count >= C.length, `PUBSUB SHARDNUMSUB ${MAIN} on ${port} = ${count}`);
  }

  test("kill -9 the master that owns socket.io#/#", async () => {
    const owner = (await cluster.ownerOf(MAIN)).port;
    const inj = cluster.kill(owner);
    const { port, at: promo } = await cluster.waitPromotion(owner);
    const check = checkResubscribed("sharded: kill -9 owner of socket.io#/#", port, promo);
    await sleep(RECOVERY_MS + 1500);
    const end = Date.now();
    await sleep(GRACE_MS);
    await check;
    measure(run, "sharded: kill -9 owner of socket.io#/#", inj, promo, end);
    try {
      if (process.env.SIO_FAILOVER_DEBUG) {
        console.log("requests", JSON.stringify(run.requests.filter((r) => r.at >= inj - 2000).map((r) => [r.server, r.at - inj, r.ms])));
      }
      // A fetchSockets published to the owner just before it died is lost
      // with it: the requester answers at the sharded timeout (5 s), within
      // SHARDED_REQUEST_BOUND.
      assertC(run, C, inj, promo, end);
    } finally {
      // back as a replica of the promoted node, so that the next row can fail over
      await cluster.restart(owner);
      await cluster.waitHealthy();
    }
  });

  // After the kill above the killed node is back as a replica; this fails
  // the shard over to it. (A libsio server once put its subscription back
  // on the demoted master here, after a topology read from a node that had
  // not heard of the failover yet: redis_cluster.c now asks the node that
  // pushed the sunsubscribe and does not believe such a topology.)
  test("graceful CLUSTER FAILOVER of the shard that owns socket.io#/#", async () => {
    await freshNodeRedis();
    const owner = (await cluster.ownerOf(MAIN)).port;
    const inj = Date.now();
    const { replica, at: promo } = await cluster.failover(owner);
    const check = checkResubscribed("sharded: CLUSTER FAILOVER of socket.io#/#", replica, promo);
    await sleep(RECOVERY_MS + 2000);
    const end = Date.now();
    await sleep(GRACE_MS);
    await check;
    measure(run, "sharded: CLUSTER FAILOVER of socket.io#/#", inj, promo, end);
    assertC(run, C, inj, promo, end, { noLoss: true, excuse: (r) => r.at < inj - 2000 });
    await cluster.waitHealthy();
  });
});
