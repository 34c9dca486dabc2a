// Benchmark: server CPU per compressed broadcast. N WebSocket clients
// (socket.io-client, which offers permessage-deflate) in one room, then M
// broadcasts of one event carrying a ~16 KiB JSON payload; reports the
// server's CPU time (user + system, from /proc) spent on the broadcasts,
// per broadcast and per delivery, with perMessageDeflate on and off, for
// the libsio test server (release build) and the Node socket.io 4.8 twin;
// then the server's RSS growth per connection once each client has sent it
// one compressed message.
//
//   node bench/compress.js [clients=200] [broadcasts=100] [payloadBytes=16384]
//
// libsio compresses a broadcast once (it answers server_no_context_takeover
// and caches the compressed frame on the shared message); Node's ws keeps a
// compression context per connection, so its cost grows with the number of
// recipients. Numbers depend on the machine; compare within one run.
"use strict";
const path = require("node:path");
const fs = require("node:fs");
process.env.SIO_BUILD_DIR = process.env.SIO_BUILD_DIR ||
  path.join(__dirname, "..", "build", "gcc");
const { io } = require(path.join(__dirname, "..", "interop", "node_modules", "socket.io-client"));
const { startServer } = require(path.join(__dirname, "..", "interop", "lib", "harness"));

const N = Number(process.argv[2] || 200);
const M = Number(process.argv[3] || 100);
const SIZE = Number(process.argv[4] || 16384);
const TICK_MS = 10; // CLK_TCK 100 on Linux

const rssKiB = (pid) => {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
};

const cpuMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime + stime
};

// A JSON-like payload that compresses about as well as real data (~4:1).
function payload(size) {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const rows = [];
  let len = 0;
  const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];
  while (len < size) {
    const r = { id: Math.floor(rnd() * 1e9), name: words[Math.floor(rnd() * 8)],
                price: Math.round(rnd() * 1e6) / 100, tags: [words[Math.floor(rnd() * 8)]] };
    len += JSON.stringify(r).length + 1;
    rows.push(r);
  }
  return rows;
}

async function run(kind, pmd) {
  const srv = await startServer(kind, "sio_test_server", { perMessageDeflate: pmd });
  const clients = [];
  for (let i = 0; i < N; i += 100) {
    clients.push(...await Promise.all(Array.from({ length: Math.min(100, N - i) }, () =>
      new Promise((resolve) => {
        const s = io(srv.url, { transports: ["websocket"], forceNew: true, reconnection: false });
        s.once("connect", () => resolve(s));
      }))));
  }
  await Promise.all(clients.map((s) => s.emitWithAck("join", "bench")));
  const negotiated = clients[0].io.engine.transport.ws._extensions;
  const data = payload(SIZE);
  let received = 0;
  const done = new Promise((resolve) => {
    for (const s of clients) s.on("tick", () => { if (++received === N * M) resolve(); });
  });
  const cpu0 = cpuMs(srv.pid);
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < M; k++) clients[0].emit("to", { rooms: ["bench"] }, "tick", k, data);
  await done;
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = cpuMs(srv.pid) - cpu0;
  // Memory per connection once every client has sent one compressed
  // message (the server then holds that client's inflate window).
  const rss0 = rssKiB(srv.pid);
  await Promise.all(clients.map((s) => s.emitWithAck("echo", data)));
  const rssGrowth = (rssKiB(srv.pid) - rss0) / N;
  for (const s of clients) s.close();
  await srv.stop();
  return { server: kind, perMessageDeflate: pmd,
           negotiated: Object.keys(negotiated || {}).join() || "-",
           cpuMs: cpu, cpuMsPerBroadcast: (cpu / M).toFixed(2),
           usPerDelivery: (cpu * 1000 / (N * M)).toFixed(1), wallMs: Math.round(wallMs),
           rssKiBPerConnAfterInbound: rssGrowth.toFixed(1) };
}

(async () => {
  const rows = [];
  for (const pmd of [true, false])
    for (const kind of ["c", "node"]) rows.push(await run(kind, pmd));
  console.log(`${N} WebSocket clients in one room, ${M} broadcasts of a ` +
              `${JSON.stringify(payload(SIZE)).length}-byte event (${N * M} deliveries); ` +
              "server CPU (user+sys) during the broadcasts");
  console.table(rows);
})();
