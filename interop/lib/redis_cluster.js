// A throw-away local Redis Cluster for the cluster tests: 3 masters + 3
// replicas on 127.0.0.1, started with scripts/redis-cluster.sh on a free
// port range (cluster bus = port + 10000, so bases stay below 50000; env
// SIO_CLUSTER_BASE forces one), always stopped when the process exits.
// Helpers to read the topology and to inject what clusters do: kill a
// master, a graceful CLUSTER FAILOVER, DEBUG SLEEP, a slot migration, and
// a wait for the promotion of a replica.
"use strict";
const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const tls = require("node:tls");

const SCRIPT = path.resolve(__dirname, "..", "..", "scripts", "redis-cluster.sh");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- a minimal RESP2 client: one command per connection, bounded wait ----

// Parses one reply at buf[i]; returns [value, next] or null (need more).
// Errors come back as Error objects (not thrown).
function parseReply(buf, i) {
  if (i >= buf.length) return null;
  const eol = buf.indexOf("\r\n", i);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[i]);
  const head = buf.toString("utf8", i + 1, eol);
  const next = eol + 2;
  switch (type) {
    case "+": return [head, next];
    case "-": return [new Error(head), next];
    case ":": return [Number(head), next];
    case "$": {
      const n = Number(head);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.toString("utf8", next, next + n), next + n + 2];
    }
    case "*": {
      const n = Number(head);
      if (n < 0) return [null, next];
      const out = [];
      let at = next;
      for (let k = 0; k < n; k++) {
        const r = parseReply(buf, at);
        if (!r) return null;
        out.push(r[0]);
        at = r[1];
      }
      return [out, at];
    }
    default: throw new Error(`bad RESP type ${JSON.stringify(type)}`);
  }
}

// Sends one command to 127.0.0.1:port and resolves with its reply (an Error
// object for an error reply); rejects on connection failure or timeout.
function command(port, args, { timeout = 3000, tlsCa } = {}) {
  return new Promise((resolve, reject) => {
    const sock = tlsCa
      ? tls.connect({ host: "127.0.0.1", port, ca: tlsCa, servername: "localhost" })
      : net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { sock.destroy(); reject(new Error(`${args[0]} on ${port}: timeout`)); }, timeout);
    const fail = (e) => { clearTimeout(t); sock.destroy(); reject(e); };
    sock.on("error", fail);
    sock.on(tlsCa ? "secureConnect" : "connect", () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
      sock.write(out);
    });
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      let r;
      try { r = parseReply(buf, 0); } catch (e) { return fail(e); }
      if (!r) return;
      clearTimeout(t);
      sock.destroy();
      resolve(r[0]);
    });
    sock.on("close", () => fail(new Error(`${args[0]} on ${port}: connection closed`)));
  });
}

// ---- CRC16 key slot (to find the shard of a channel without asking) ----
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();
function keySlot(key) {
  let b = Buffer.from(key);
  const o = b.indexOf("{");
  if (o >= 0) {
    const c = b.indexOf("}", o + 1);
    if (c > o + 1) b = b.subarray(o + 1, c);
  }
  let crc = 0;
  for (const x of b) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ x) & 0xff];
  return crc & 0x3fff;
}

// ---- free ports ----
function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}
async function pickBase() {
  if (process.env.SIO_CLUSTER_BASE) return Number(process.env.SIO_CLUSTER_BASE);
  for (let attempt = 0; attempt < 50; attempt++) {
    // base and bus ports both below the ephemeral range (32768..), so that
    // no outgoing connection takes one between the check and the start
    const base = 10000 + Math.floor(Math.random() * 1270) * 10;    // 10000..22690
    let ok = true;
    for (let k = 0; k < 6 && ok; k++) ok = (await portFree(base + k)) && (await portFree(base + k + 10000));
    if (ok) return base;
  }
  throw new Error("no free port range for a Redis Cluster");
}

// Every cluster this process started, stopped synchronously at exit.
const live = new Set();
function killSync(c) {
  for (const p of c.ports) {
    try { process.kill(Number(fs.readFileSync(path.join(c.dir, String(p), "redis.pid"), "utf8")), "SIGKILL"); } catch { /* gone */ }
  }
  for (const p of c.frozen) { try { process.kill(p, "SIGKILL"); } catch { /* gone */ } }
}
process.on("exit", () => { for (const c of live) killSync(c); });
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => { for (const c of live) killSync(c); process.exit(130); });
}

function runScript(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", [SCRIPT, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`redis-cluster.sh ${args[0]}: ${err}`))));
  });
}

// Starts a cluster. opts: nodeTimeout (ms, cluster-node-timeout, default
// 5000), base (first port), tls: {cert, key, ca} file paths (then the nodes
// speak TLS only and urls are rediss://).
async function startCluster(opts = {}) {
  // a port taken by someone else between the check and the start: retry
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOn(opts.base || await pickBase(), opts);
    } catch (e) {
      if (opts.base || process.env.SIO_CLUSTER_BASE || attempt >= 3 || !/did not start/.test(e.message)) throw e;
    }
  }
}

async function startClusterOn(base, opts) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `libsio-cluster-${base}-`));
  const env = { NODE_TIMEOUT: String(opts.nodeTimeout || 5000) };
  if (opts.tls) Object.assign(env, { TLS_CERT: opts.tls.cert, TLS_KEY: opts.tls.key, TLS_CA: opts.tls.ca });
  const tlsCa = opts.tls ? fs.readFileSync(opts.tls.ca) : undefined;
  const ports = [0, 1, 2, 3, 4, 5].map((k) => base + k);
  const c = { base, dir, ports, frozen: new Set() };
  live.add(c);
  try {
    await runScript(["start", String(base), dir], env);
  } catch (e) {
    await runScript(["stop", String(base), dir], env).catch(() => {});
    live.delete(c);
    throw e;
  }
  const scheme = opts.tls ? "rediss" : "redis";
  const cmd = (port, ...args) => command(port, args, { tlsCa });
  const pidOf = (port) => Number(fs.readFileSync(path.join(dir, String(port), "redis.pid"), "utf8"));
  const down = new Set();    // ports this helper killed

  // CLUSTER NODES from the first node that answers and is not killed or
  // frozen: [{id, port, role: "master"|"replica", masterId, fail, slots: [[a,b]...]}]
  async function nodes(fromPort) {
    const order = fromPort ? [fromPort] : ports.filter((p) => !down.has(p) && !c.frozenPorts?.has(p));
    let lastErr;
    for (const p of order) {
      try {
        const txt = await cmd(p, "CLUSTER", "NODES");
        if (txt instanceof Error) throw txt;
        return txt.trim().split("\n").map((l) => {
          const f = l.split(" ");
          const flags = f[2].split(",");
          return {
            id: f[0],
            port: Number(f[1].split(":")[1].split("@")[0]),
            role: flags.includes("master") ? "master" : "replica",
            masterId: f[3] === "-" ? null : f[3],
            fail: flags.includes("fail") || flags.includes("fail?"),
            myself: flags.includes("myself"),
            slots: f.slice(8).filter((s) => /^\d/.test(s)).map((s) => s.split("-").map(Number))
              .map(([a, b]) => [a, b === undefined ? a : b]),
          };
        }).sort((a, b) => a.port - b.port);
      } catch (e) { lastErr = e; }
    }
    throw lastErr || new Error("no cluster node answers");
  }
  const ownerOfSlot = async (slot, fromPort) =>
    (await nodes(fromPort)).find((n) => n.role === "master" && !n.fail && n.slots.some(([a, b]) => slot >= a && slot <= b));

  const cluster = {
    base, dir, ports,
    seed: `${scheme}://127.0.0.1:${base}`,
    seeds: ports.slice(0, 3).map((p) => `${scheme}://127.0.0.1:${p}`),
    tlsCa,
    command: cmd,
    nodes,
    keySlot,
    async masters() { return (await nodes()).filter((n) => n.role === "master" && !n.fail); },
    async replicas() { return (await nodes()).filter((n) => n.role === "replica" && !n.fail); },
    // The master that owns the slot of a key (a sharded channel name).
    ownerOf: (key) => ownerOfSlot(keySlot(key)),
    ownerOfSlot,
    async replicaOf(masterPort) {
      for (const p of ports) {
        if (p === masterPort || down.has(p)) continue;
        const r = await cmd(p, "ROLE").catch(() => null);
        if (Array.isArray(r) && r[0] === "slave" && Number(r[2]) === masterPort) return { port: p };
      }
      throw new Error(`node ${masterPort} has no replica`);
    },
    // kill -9 a node; resolves with the time of the kill.
    kill(port) {
      process.kill(pidOf(port), "SIGKILL");
      down.add(port);
      return Date.now();
    },
    // Restarts a killed node with its old nodes.conf: it rejoins as a
    // replica of whoever took its slots.
    async restart(port) {
      const d = path.join(dir, String(port));
      const listen = opts.tls
        ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", opts.tls.cert, "--tls-key-file", opts.tls.key,
           "--tls-ca-cert-file", opts.tls.ca, "--tls-cluster", "yes", "--tls-replication", "yes", "--tls-auth-clients", "optional"]
        : ["--port", String(port)];
      const r = spawnSync("redis-server", [...listen, "--bind", "127.0.0.1", "--dir", d,
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", env.NODE_TIMEOUT,
        "--appendonly", "no", "--save", "", "--enable-debug-command", "local", "--daemonize", "yes",
        "--pidfile", path.join(d, "redis.pid"), "--logfile", path.join(d, "redis.log")]);
      if (r.status !== 0) throw new Error(`restart ${port}: ${r.stderr}`);
      for (let i = 0; i < 100; i++) {
        try { if ((await cmd(port, "PING")) === "PONG") { down.delete(port); return; } } catch { /* not yet */ }
        await sleep(100);
      }
      throw new Error(`node ${port} did not restart`);
    },
    // Graceful failover: CLUSTER FAILOVER on a replica of masterPort (or on
    // replicaPort); resolves with {replica, at} once the replica is master.
    async failover(masterPort, { replicaPort } = {}) {
      const rep = replicaPort || (await cluster.replicaOf(masterPort)).port;
      const r = await cmd(rep, "CLUSTER", "FAILOVER");
      if (r instanceof Error) throw r;
      const at = await cluster.waitRole(rep, "master");
      return { replica: rep, at };
    },
    // Freezes a node for `seconds` (DEBUG SLEEP on a connection of its own,
    // answered when it wakes). Resolves at once with the time it was sent;
    // cluster.woken(port) resolves when it answered.
    debugSleep(port, seconds) {
      c.frozenPorts = c.frozenPorts || new Set();
      c.frozenPorts.add(port);
      const p = command(port, ["DEBUG", "SLEEP", String(seconds)], { timeout: seconds * 1000 + 30000, tlsCa })
        .finally(() => c.frozenPorts.delete(port));
      cluster._woken = cluster._woken || new Map();
      cluster._woken.set(port, p.then(() => Date.now(), () => Date.now()));
      return Date.now();
    },
    woken: (port) => (cluster._woken && cluster._woken.get(port)) || Promise.resolve(Date.now()),
    // Waits until node `port` reports `role` ("master"|"replica") itself
    // (its own ROLE); resolves with the time it was first seen.
    async waitRole(port, role, ms = 30000) {
      const want = role === "master" ? "master" : "slave";
      const end = Date.now() + ms;
      for (;;) {
        try {
          const r = await cmd(port, "ROLE");
          if (Array.isArray(r) && r[0] === want) return Date.now();
        } catch { /* not answering */ }
        if (Date.now() > end) throw new Error(`node ${port} not ${role} after ${ms} ms`);
        await sleep(25);
      }
    },
    // After the master on oldPort was killed or frozen: waits until one of
    // its replicas says it is master; resolves with {port, at}.
    async waitPromotion(oldPort, ms = 30000) {
      // the replicas by their own ROLE (gossip may not have told others yet)
      const reps = [];
      for (const p of ports) {
        if (p === oldPort || down.has(p)) continue;
        const r = await cmd(p, "ROLE").catch(() => null);
        if (Array.isArray(r) && r[0] === "slave" && Number(r[2]) === oldPort) reps.push(p);
      }
      if (!reps.length) throw new Error(`node ${oldPort} has no replica`);
      const end = Date.now() + ms;
      for (;;) {
        for (const p of reps) {
          try {
            const r = await cmd(p, "ROLE");
            if (Array.isArray(r) && r[0] === "master") return { port: p, at: Date.now() };
          } catch { /* retry */ }
        }
        if (Date.now() > end) throw new Error(`no replica of ${oldPort} promoted after ${ms} ms`);
        await sleep(25);
      }
    },
    // Moves one (empty) slot to the master on toPort with the
    // IMPORTING/MIGRATING/NODE sequence; resolves with the time SETSLOT NODE
    // reached the old owner.
    async migrateSlot(slot, toPort) {
      const all = await nodes();
      const from = all.find((n) => n.role === "master" && !n.fail && n.slots.some(([a, b]) => slot >= a && slot <= b));
      const to = all.find((n) => n.port === toPort);
      if (!from || !to || to.role !== "master") throw new Error(`bad migration of ${slot} to ${toPort}`);
      if (from.port === toPort) throw new Error(`slot ${slot} already on ${toPort}`);
      const ok = async (p, ...args) => { const r = await cmd(p, ...args); if (r instanceof Error) throw r; return r; };
      await ok(to.port, "CLUSTER", "SETSLOT", slot, "IMPORTING", from.id);
      await ok(from.port, "CLUSTER", "SETSLOT", slot, "MIGRATING", to.id);
      // no keys in a Pub/Sub-only slot, nothing to MIGRATE
      await ok(to.port, "CLUSTER", "SETSLOT", slot, "NODE", to.id);
      const at = Date.now();
      await ok(from.port, "CLUSTER", "SETSLOT", slot, "NODE", to.id);
      for (const n of all) {
        if (n.port !== from.port && n.port !== to.port && !n.fail && !down.has(n.port))
          await cmd(n.port, "CLUSTER", "SETSLOT", slot, "NODE", to.id).catch(() => {});
      }
      return { from: from.port, to: to.port, at };
    },
    // Waits until every live node says cluster_state:ok and every live
    // replica's link to its master is up (a replica that has not synced
    // since a failover refuses to fail over itself).
    async waitHealthy(ms = 30000) {
      const end = Date.now() + ms;
      for (;;) {
        let ok = true;
        for (const p of ports) {
          if (down.has(p)) continue;
          try {
            const info = await cmd(p, "CLUSTER", "INFO");
            if (!/cluster_state:ok/.test(info)) ok = false;
            const role = await cmd(p, "ROLE");
            if (role[0] === "slave") {
              if (role[3] !== "connected") ok = false;
              const m = await cmd(Number(role[2]), "ROLE");    // and the master lists it
              if (!m[2].some((r) => Number(r[1]) === p)) ok = false;
            }
          } catch { ok = false; }
        }
        if (ok) return;
        if (Date.now() > end) throw new Error("cluster not healthy");
        await sleep(100);
      }
    },
    async stop() {
      if (!live.has(c)) return;
      if (c.frozenPorts) for (const p of c.frozenPorts) { try { process.kill(pidOf(p), "SIGKILL"); } catch { /* gone */ } }
      await runScript(["stop", String(base), dir], env).catch(() => killSync(c));
      live.delete(c);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

module.exports = { startCluster, command, keySlot };
