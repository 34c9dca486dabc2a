// Adversaries against the C server (abuse_test_server.c; its Node twin is
// abuse_ref_server.js): clients that never read, slowloris heads, fd
// exhaustion, event floods, shutdown under load. Cases where Node behaves
// differently by design (it has no output limit: a reader that never reads
// grows the Node process without bound) run against the C server only;
// each such test says so.
"use strict";
const { describe, test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const net = require("node:net");
const tls = require("node:tls");
const { io } = require("socket.io-client");
const { startServer, serverKinds, sleep } = require("./lib/harness");
const { frame } = require("./lib/raw");
const { execFileSync } = require("node:child_process");
const { makeCerts } = require("./lib/certs");

// The ASan build keeps freed memory in a quarantine (256 MiB by default),
// so RSS would say nothing about what the server holds: measure with none.
const RSS_ASAN = "quarantine_size_mb=0:allocator_release_to_os_interval_ms=1000";

// ASan's shadow memory, redzones and size classes make every byte held
// cost about twice what it costs in a plain build (measured here: the same
// run peaks at base + 7 MiB plain, base + 10.5 MiB under ASan).
const { BUILD } = require("./lib/harness");
const isAsan = (dir) => fs.readFileSync(path.join(dir, "abuse_test_server")).includes("AddressSanitizer");
const ASAN = isAsan(BUILD);
const MEM_FACTOR = ASAN ? 2 : 1;
// scripts/test.sh also builds a plain (gcc, Release) tree: the slow-reader
// case runs there too, held to the bounds with no ASan factor.
const PLAIN = [path.join(__dirname, "..", "build", "gcc")].find((d) => {
  try { return !isAsan(d); } catch { return false; }
});

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;
const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const MiB = 1 << 20;

function connectClient(url, opts = {}) {
  const s = io(url, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => { s.close(); reject(e); });
  });
}

// A Socket.IO client over a raw WebSocket (plain or TLS) that connects to
// the main namespace and then never reads again: its socket is paused, so
// the kernel buffers fill and the server's output for it grows.
function slowWs(port, { secure = false, ca } = {}) {
  return new Promise((resolve, reject) => {
    const s = secure
      ? tls.connect({ port, host: "127.0.0.1", ca, servername: "localhost" })
      : net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    let stage = 0;
    const st = { socket: s, closed: false };
    s.on(secure ? "secureConnect" : "connect", () => {
      s.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\n\r\n`);
    });
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0) {
        const i = buf.indexOf("\r\n\r\n");
        if (i < 0) return;
        if (!buf.subarray(0, 12).toString().includes("101")) return reject(new Error(buf.toString()));
        buf = buf.subarray(i + 4);
        stage = 1;
        s.write(frame(1, "40"));
      }
      if (buf.includes("40{")) {
        stage = 2;
        s.pause();
        resolve(st);
      }
    });
    s.on("close", () => { st.closed = true; });
    s.on("error", () => {});
  });
}

// A polling Socket.IO client that connects and then never polls again.
async function slowPolling(port) {
  const base = `http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`;
  const r = await fetch(base);
  const sid = JSON.parse((await r.text()).slice(1)).sid;
  await (await fetch(`${base}&sid=${sid}`, { method: "POST", body: "40" })).text();
  const t = await (await fetch(`${base}&sid=${sid}`)).text();
  assert.match(t, /^40\{/);
  return sid;
}

async function until(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(10);
  }
}

function percentile(v, p) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

// Subscribes a well-behaved client to the stream: resolves at "end" with
// the sequence numbers and latencies it saw.
function watchStream(s, ms = 30000) {
  const seqs = [];
  const lat = [];
  const onS = (seq, t) => { seqs.push(seq); lat.push(Date.now() - t); };
  s.on("s", onS);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`stream: no end after ${seqs.length} events (connected: ${s.connected})`)), ms);
    s.once("end", () => { clearTimeout(t); s.off("s", onS); resolve({ seqs, lat }); });
  });
}

describe("abuse: c", { skip: !serverKinds().includes("c") }, () => {
  // C only: Node has no output limit, so its process would hold the whole
  // backlog of every slow reader (the issue measured 54 MB -> 703 MB).
  const builds = [[ASAN ? "ASan build" : "this build", BUILD, MEM_FACTOR]];
  if (ASAN && PLAIN) builds.push(["plain build, the issue's exact bounds", PLAIN, 1]);
  for (const [label, build, MEM_FACTOR] of builds)
  test(`slow readers are dropped at their output budget, their output released and TCP closed at once; others get everything (${label})`, async () => {
    const limit = 2 * MiB;
    const total = 8 * MiB;
    const srv = await startServer("c", "abuse_test_server",
      { maxOutputBytes: limit, maxTotalOutputBytes: total }, { asan: RSS_ASAN, build });
    const good = [];
    let iv;
    try {
      for (let i = 0; i < 4; i++) good.push(await connectClient(srv.url, { transports: ["websocket"] }));
      good.push(await connectClient(srv.url, { transports: ["polling"] }));
      // The same stream without slow readers first: it warms the same
      // paths up for the RSS baseline and gives the latency baseline.
      let w = good.map((s) => watchStream(s));
      await good[0].emitWithAck("stream", { count: 200, size: 16384, perTick: 1, intervalMs: 10 });
      const quiet = [];
      for (const r of await Promise.all(w)) quiet.push(...r.lat);
      const quietP99 = percentile(quiet, 0.99);
      await sleep(500);
      const base = rss(srv.pid);
      const fd0 = fds(srv.pid);

      const slow = [];
      for (let i = 0; i < 6; i++) slow.push(await slowWs(srv.port));
      const slowPoll = [await slowPolling(srv.port), await slowPolling(srv.port)];
      await until(() => srv.events.filter((e) => e.event === "connection").length === 13);
      const slowIds = srv.events.filter((e) => e.event === "connection").slice(-8);

      let peak = 0;
      iv = setInterval(() => { peak = Math.max(peak, rss(srv.pid)); }, 10);
      w = good.map((s) => watchStream(s));
      const count = 600;
      await good[0].emitWithAck("stream", { count, size: 16384, perTick: 1, intervalMs: 10 });
      const results = await Promise.all(w);
      clearInterval(iv);

      // Each slow reader was dropped with "transport error" ...
      const drops = srv.events.filter((e) => e.event === "disconnect");
      for (const c of slowIds)
        assert.ok(drops.some((d) => d.id === c.id && d.reason === "transport error"), `slow ${c.id} not dropped: ${JSON.stringify(drops)}`);
      assert.equal(drops.length, 8, JSON.stringify(drops));
      // ... its TCP connection closed by then (the server holds no socket
      // for it: only the good clients' and the idle keep-alive ones).
      await sleep(300);
      const openNow = fds(srv.pid);
      assert.ok(openNow <= fd0 + 2, `server fds ${openNow}, baseline ${fd0}`);
      // Every well-behaved client got every event, in order, in time.
      const lat = [];
      for (const r of results) {
        assert.equal(r.seqs.length, count);
        assert.deepEqual(r.seqs, [...Array(count).keys()]);
        lat.push(...r.lat);
      }
      const p99 = percentile(lat, 0.99);
      const slowTotal = total;
      console.log(`slow readers: base ${(base / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, ` +
        `total limit ${slowTotal / MiB} MiB, good p99 ${p99.toFixed(1)} ms`);
      assert.ok(peak <= base + slowTotal * MEM_FACTOR * 1.1,
        `peak RSS ${peak} > ${base} + ${slowTotal} (x${MEM_FACTOR}) + 10%`);
      // The bound is 50 ms. On a machine loaded beyond its cores
      // (CI shared with other jobs) the scheduler alone exceeds it, so the
      // bound there is the same stream's p99 without slow readers, x4, and
      // at least 250 ms (that p99 alone varies 30-450 ms between runs at
      // load 5-8 per core); a stall of the loop would still fail it.
      const load = os.loadavg()[0] / os.cpus().length;
      const bound = load > 1.5 ? Math.max(250, 4 * quietP99) : 50;
      console.log(`slow readers: p99 without them ${quietP99} ms, load/core ${load.toFixed(1)}, bound ${bound} ms`);
      assert.ok(p99 < bound, `p99 ${p99} ms >= ${bound} ms`);
      // Memory is given back once the slow readers are gone.
      // (within 5 s: the sweep trims after 600 ms of quiet; ASan's
      // allocator gives pages back on its own 1 s clock)
      const t0 = Date.now();
      // ASan's allocator keeps part of its size-class regions (measured:
      // base + 30% under ASan, base + 3% in the plain build): 20% per
      // unit of MEM_FACTOR.
      const afterBound = base * (1 + 0.2 * MEM_FACTOR);
      while (rss(srv.pid) > afterBound && Date.now() - t0 < 5000) await sleep(100);
      const after = rss(srv.pid);
      console.log(`slow readers: RSS after ${(after / MiB).toFixed(1)} MiB`);
      assert.ok(after <= afterBound, `RSS after ${after} > baseline ${base} + ${20 * MEM_FACTOR}%`);
      for (const s of slow) s.socket.destroy();
    } finally {
      clearInterval(iv);
      for (const s of good) s.close();
      await srv.stop();
    }
  });

  // C only, for the same reason. Over TLS the encrypted records sit below
  // the TLS filter: they count toward the budget too.
  test("a slow reader over wss is dropped at its output budget as well", async () => {
    const certs = makeCerts();
    const srv = await startServer("c", "abuse_test_server",
      { maxOutputBytes: 4 * MiB, tls: certs.server }, { asan: RSS_ASAN });
    try {
      const fd0 = fds(srv.pid);
      const slow = await slowWs(srv.port, { secure: true, ca: certs.ca });
      const c = await srv.waitFor((e) => e.event === "connection");
      assert.equal(fds(srv.pid), fd0 + 1);
      await srv.waitFor((e) => e.event === "connection" && e.id !== c.id, 100).catch(() => {});
      const driver = await connectClient(srv.url, { transports: ["websocket"], ca: certs.ca });
      const done = watchStream(driver);
      await driver.emitWithAck("stream", { count: 300, size: 32768, perTick: 2, intervalMs: 10 });
      await done;
      const d = await srv.waitFor((e) => e.event === "disconnect" && e.id === c.id, 5000, "slow wss dropped");
      assert.equal(d.reason, "transport error");
      await sleep(300);
      assert.equal(fds(srv.pid), fd0 + 1, "only the driver's connection is left");
      slow.socket.destroy();
      driver.close();
    } finally {
      await srv.stop();
      certs.cleanup();
    }
  });
});

const cpuTicks = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
};

describe("abuse: c (fd exhaustion)", { skip: !serverKinds().includes("c") }, () => {
  // C only: on EMFILE Node (libuv) accepts with a spare descriptor and
  // closes the connection at once, so the clients knocking are refused,
  // not served later; the C server leaves them queued in the kernel.
  test("fd limit 256 with 300 clients knocking: accept backs off (CPU < 20%), logs once, serves all when fds free", async () => {
    const srv = await startServer("c", "abuse_test_server", {});
    const clients = [];
    try {
      execFileSync("prlimit", [`--pid=${srv.pid}`, "--nofile=256:256"]);
      const connected = new Set();
      for (let i = 0; i < 300; i++) {
        const s = io(srv.url, { forceNew: true, reconnection: false, transports: ["websocket"], timeout: 60000 });
        s.on("connect", () => connected.add(s));
        clients.push(s);
      }
      // Fill up to the limit; wait until nothing new is served for 1 s.
      await until(() => connected.size >= 200, 30000);
      let last = -1;
      while (connected.size !== last) { last = connected.size; await sleep(1000); }
      assert.ok(connected.size < 300 && connected.size > 200, `connected ${connected.size}`);
      const t0 = cpuTicks(srv.pid);
      await sleep(2000);
      const cpu = (cpuTicks(srv.pid) - t0) / 2; // percent of one core
      console.log(`fd limit: ${connected.size} served at the limit, server CPU ${cpu}%`);
      assert.ok(cpu < 20, `server CPU ${cpu}% at the fd limit`);
      // Free 100 descriptors: everyone still knocking gets in.
      const leaving = [...connected].slice(0, 100);
      for (const s of leaving) s.close();
      await until(() => clients.every((s) => s.connected || leaving.includes(s)), 30000);
      assert.equal(srv.events.filter((e) => e.event === "connection").length, 300);
      const logs = srv.stderr.split("\n").filter((l) => /pausing new connections/.test(l));
      assert.equal(logs.length, 1, srv.stderr);
    } finally {
      for (const s of clients) s.close();
      await srv.stop();
    }
  });
});

for (const kind of serverKinds()) {
  describe(`abuse: ${kind} (slowloris, shutdown)`, () => {
    test("volatile broadcasts skip a reader that never reads: it stays connected, memory stays flat", async () => {
      const srv = await startServer(kind, "abuse_test_server", {}, { asan: RSS_ASAN });
      try {
        const driver = await connectClient(srv.url, { transports: ["websocket"] });
        await sleep(300);
        const base = rss(srv.pid);
        const slow = await slowWs(srv.port);
        let peak = 0;
        const iv = setInterval(() => { peak = Math.max(peak, rss(srv.pid)); }, 10);
        const done = watchStream(driver);
        await driver.emitWithAck("stream", { count: 600, size: 32768, perTick: 2, intervalMs: 10, volatile: true });
        const r = await done.finally(() => clearInterval(iv));
        await sleep(300);
        const growth = peak - base;
        console.log(`volatile (${kind}): driver got ${r.seqs.length} of 600, RSS growth ${(growth / MiB).toFixed(1)} MiB for a 19.7 MB stream`);
        assert.ok(!srv.events.some((e) => e.event === "disconnect"), JSON.stringify(srv.events));
        // Without dropping, the backlog alone would be ~15 MB past what the
        // kernel buffers take; with it, only a few packets are held.
        assert.ok(growth < 8 * MiB * MEM_FACTOR, `RSS grew ${growth}`);
        slow.socket.destroy();
        driver.close();
      } finally {
        await srv.stop();
      }
    });

    test("5000 slowloris connections (one header byte per 10 s): new clients still connect within 1 s", async () => {
      const srv = await startServer(kind, "abuse_test_server", {});
      const lor = [];
      let timer;
      try {
        const head = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for (let i = 0; i < 5000; i++) {
          const c = net.connect(srv.port, "127.0.0.1");
          c.on("error", () => {});
          c.pos = 0;
          c.on("connect", () => c.write(head[c.pos++]));
          lor.push(c);
          if (i % 500 === 499) await sleep(50);
        }
        timer = setInterval(() => { for (const c of lor) if (!c.destroyed && c.pos < head.length) c.write(head[c.pos++]); }, 10000);
        await sleep(1000);
        const times = [];
        for (let k = 0; k < 6; k++) {
          const t = Date.now();
          const s = await connectClient(srv.url, { transports: ["websocket"] });
          times.push(Date.now() - t);
          assert.equal(await s.emitWithAck("echo", k), k);
          s.close();
          await sleep(2000);
        }
        const open = lor.filter((c) => !c.destroyed).length;
        console.log(`slowloris (${kind}): ${open} of 5000 still open, connect times ${times.join(" ")} ms`);
        for (const t of times) assert.ok(t < 1000, `a new client took ${t} ms`);
      } finally {
        clearInterval(timer);
        for (const c of lor) c.destroy();
        await srv.stop();
      }
    });

    test("SIGTERM with 1000 clients mid-stream: every client gets the disconnect, exit 0 within the deadline", async () => {
      const deadline = 5000;
      const srv = await startServer(kind, "abuse_test_server", { shutdownMs: deadline });
      const clients = [];
      try {
        const reasons = [];
        for (let i = 0; i < 1000; i += 50) {
          const batch = [];
          for (let j = 0; j < 50; j++) batch.push(connectClient(srv.url, { transports: ["websocket"] }));
          clients.push(...await Promise.all(batch));
        }
        const gone = clients.map((s) => new Promise((r) => s.once("disconnect", (reason) => { reasons.push(reason); r(); })));
        let got = 0;
        for (const s of clients) s.on("s", () => got++);
        await clients[0].emitWithAck("stream", { count: 100000, size: 256, perTick: 2, intervalMs: 10 });
        await until(() => got > 5000, 30000);
        const t0 = Date.now();
        await srv.stop(); // SIGTERM, then: exit status 0, no sanitizer report
        const took = Date.now() - t0;
        await Promise.all(gone);
        const counts = {};
        for (const r of reasons) counts[r] = (counts[r] || 0) + 1;
        console.log(`shutdown (${kind}): exit after ${took} ms, client reasons ${JSON.stringify(counts)}`);
        assert.equal(reasons.length, 1000);
        assert.deepEqual(Object.keys(counts), ["transport close"]);
        assert.ok(took < deadline + 2000, `exit after ${took} ms`);
        const serverSide = srv.events.filter((e) => e.event === "disconnect");
        assert.equal(serverSide.length, 1000);
        assert.ok(serverSide.every((e) => e.reason === "server shutting down"), JSON.stringify(serverSide.slice(0, 3)));
      } finally {
        for (const s of clients) s.close();
      }
    });
  });
}

describe("abuse: c (shutdown deadline)", { skip: !serverKinds().includes("c") }, () => {
  // C only: Node's io.close() has no deadline; it waits for every
  // connection, so a reader that never reads holds it open.
  test("SIGTERM with a reader that never reads: reset at the deadline, exit 0", async () => {
    const deadline = 1500;
    const srv = await startServer("c", "abuse_test_server", { shutdownMs: deadline, maxOutputBytes: 64 * MiB });
    const slow = await slowWs(srv.port);
    const driver = await connectClient(srv.url, { transports: ["websocket"] });
    const done = watchStream(driver);
    await driver.emitWithAck("stream", { count: 400, size: 32768, perTick: 4, intervalMs: 10 });
    await done;
    const t0 = Date.now();
    await srv.stop();
    const took = Date.now() - t0;
    console.log(`shutdown deadline ${deadline} ms: exit after ${took} ms`);
    assert.ok(took >= deadline - 100 && took < deadline + 2000, `exit after ${took} ms`);
    slow.socket.destroy();
    driver.close();
  });
});

describe("abuse: c (slow HTTP)", { skip: !serverKinds().includes("c") }, () => {
  // C only: the cap on pending connections is libsio's; Node checks its
  // headersTimeout every connectionsCheckingInterval (30 s), too coarse to
  // observe here.
  test("pending connections over the cap: the oldest heads make room; a stalled head meets headersTimeout (408)", async () => {
    const srv = await startServer("c", "abuse_test_server", { maxPendingConnections: 500, headersTimeout: 1500 });
    const lor = [];
    try {
      const fd0 = fds(srv.pid);
      for (let i = 0; i < 1500; i++) {
        const c = net.connect(srv.port, "127.0.0.1");
        c.on("error", () => {});
        c.on("connect", () => c.write("GET / HTTP/1.1\r\n"));
        lor.push(c);
      }
      await until(() => lor.filter((c) => c.destroyed || c.readableEnded).length >= 1000, 10000).catch(() => {});
      const held = fds(srv.pid) - fd0;
      const t = Date.now();
      const s = await connectClient(srv.url, { transports: ["websocket"] });
      const took = Date.now() - t;
      console.log(`pending cap: server holds ${held} of 1500 heads, new client in ${took} ms`);
      assert.ok(held <= 500 + 5, `server holds ${held} pending connections`);
      assert.ok(took < 1000);
      s.close();
      // headersTimeout: the heads still pending get 408 and are closed.
      const one = await new Promise((resolve) => {
        const c = net.connect(srv.port, "127.0.0.1");
        let got = "";
        const t0 = Date.now();
        c.on("connect", () => c.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"));
        c.on("data", (d) => { got += d; });
        c.on("close", () => resolve({ got, ms: Date.now() - t0 }));
        c.on("error", () => {});
      });
      assert.match(one.got, /^HTTP\/1.1 408 /);
      assert.ok(one.ms >= 1400 && one.ms < 5000, `closed after ${one.ms} ms`);
    } finally {
      for (const c of lor) c.destroy();
      await srv.stop();
    }
  });
});

// Opens n raw connections at once; resolves with how many the server
// closed (without a word) within ms.
async function knock(port, n, ms = 1500) {
  const socks = [];
  for (let i = 0; i < n; i++) {
    const c = net.connect(port, "127.0.0.1");
    c.closedByServer = false;
    c.on("end", () => { c.closedByServer = true; });
    c.on("error", () => { c.closedByServer = true; });
    socks.push(c);
  }
  await sleep(ms);
  const closed = socks.filter((c) => c.closedByServer).length;
  for (const c of socks) c.destroy();
  return closed;
}

describe("abuse: c (floods)", { skip: !serverKinds().includes("c") }, () => {
  // C only: Node has no per-address connection limits.
  test("per-address limits: concurrent connections and connections per second", async () => {
    const a = await startServer("c", "abuse_test_server", { maxConnectionsPerAddress: 20 });
    try {
      assert.equal(await knock(a.port, 30), 10);
      await sleep(200);
      const s = await connectClient(a.url, { transports: ["websocket"] }); // room again
      s.close();
    } finally {
      await a.stop();
    }
    const b = await startServer("c", "abuse_test_server", { connectionsPerAddressPerSec: 20 });
    try {
      const closed = await knock(b.port, 60, 500);
      // a bucket of 20, refilled at 20/s while the 60 are being accepted
      assert.ok(closed >= 20 && closed <= 40, `closed ${closed} of 60`);
    } finally {
      await b.stop();
    }
  });

  // C only: Node has no inbound packet rate limit.
  test("a client sending 50k events/s is disconnected at its rate limit; others' echo p99 stays within 2x", async () => {
    const srv = await startServer("c", "abuse_test_server", { maxInboundPacketsPerSec: 2000 });
    const others = [];
    try {
      for (let i = 0; i < 3; i++) others.push(await connectClient(srv.url, { transports: ["websocket"] }));
      // The well-behaved clients are paced (one echo per 2 ms each, at most
      // 500/s) so that they stay well under the 2000/s limit themselves
      // however fast the round trip is.
      const echoP99 = async (ms) => {
        const lat = [];
        const end = Date.now() + ms;
        while (Date.now() < end) {
          await Promise.all(others.map(async (s) => {
            const t = process.hrtime.bigint();
            await s.emitWithAck("echo", "x");
            lat.push(Number(process.hrtime.bigint() - t) / 1e6);
          }));
          await sleep(2);
        }
        return percentile(lat, 0.99);
      };
      const before = await echoP99(1500);
      const flooder = await connectClient(srv.url, { transports: ["websocket"] });
      const gone = new Promise((r) => flooder.once("disconnect", r));
      let sent = 0;
      let stop = false;
      const flood = async () => {
        while (!stop && flooder.connected) {
          for (let i = 0; i < 500; i++) flooder.emit("spam", i);
          sent += 500;
          await sleep(10); // 500 per 10 ms: 50k/s
        }
      };
      const during = echoP99(1500);
      const floodStart = Date.now();
      flood();
      const reason = await gone;
      const floodSecs = (Date.now() - floodStart) / 1000;
      const p99 = await during;
      stop = true;
      const count = await others[0].emitWithAck("count");
      console.log(`flood: sent ${sent}, server counted ${count}, flooder "${reason}"; others' echo p99 ${before.toFixed(1)} -> ${p99.toFixed(1)} ms`);
      assert.equal(reason, "transport close");
      // The bucket: one second's worth, refilled at the rate while it lasts.
      assert.ok(count <= 2000 + 2000 * floodSecs + 50, `the server handled ${count} spam events in ${floodSecs} s`);
      assert.ok(count < sent, "the flood was cut short");
      const d = srv.events.find((e) => e.event === "disconnect");
      assert.equal(d.reason, "transport error");
      assert.ok(p99 <= 2 * Math.max(before, 5), `echo p99 ${p99} ms during the flood, ${before} ms before`);
      flooder.close();
    } finally {
      for (const s of others) s.close();
      await srv.stop();
    }
  });
});
