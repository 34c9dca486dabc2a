// Benchmark: N idle WebSocket clients in one room, then M broadcasts of a
// small event to the room; reports connect time, broadcast throughput
// (deliveries per second) and the server's RSS per connection, for the
// libsio test server (release build) and the Node socket.io 4.8 twin.
//
//   node bench/broadcast.js [clients=1000] [broadcasts=200]
// Numbers depend on the machine; compare the two servers on the same run.
"use strict";
const path = require("node:path");
const fs = require("node:fs");
process.env.SIO_BUILD_DIR = process.env.SIO_BUILD_DIR ||
  path.join(__dirname, "..", "build", "gcc");
const { io } = require(path.join(__dirname, "..", "interop", "node_modules", "socket.io-client"));
const { startServer } = require(path.join(__dirname, "..", "interop", "lib", "harness"));

const N = Number(process.argv[2] || 1000);
const M = Number(process.argv[3] || 200);

const rssKiB = (pid) => {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
};

async function run(kind) {
  const srv = await startServer(kind, "sio_test_server", {});
  const base = rssKiB(srv.pid);
  const t0 = process.hrtime.bigint();
  const clients = [];
  for (let i = 0; i < N; i += 100) {
    clients.push(...await Promise.all(Array.from({ length: Math.min(100, N - i) }, () =>
      new Promise((resolve) => {
        const s = io(srv.url, { transports: ["websocket"], forceNew: true, reconnection: false });
        s.once("connect", () => resolve(s));
      }))));
  }
  await Promise.all(clients.map((s) => s.emitWithAck("join", "bench")));
  const connectMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const rss = rssKiB(srv.pid);
  let received = 0;
  const done = new Promise((resolve) => {
    for (const s of clients) s.on("tick", () => { if (++received === N * M) resolve(); });
  });
  const t1 = process.hrtime.bigint();
  for (let k = 0; k < M; k++) clients[0].emit("to", { rooms: ["bench"] }, "tick", k, "payload-payload-payload");
  await done;
  const bcastMs = Number(process.hrtime.bigint() - t1) / 1e6;
  for (const s of clients) s.close();
  await srv.stop();
  return { kind, connectMs, bcastMs, deliveriesPerSec: Math.round(N * M / (bcastMs / 1000)),
           rssPerConnKiB: ((rss - base) / N).toFixed(1), rssMiB: (rss / 1024).toFixed(1) };
}

(async () => {
  const rows = [];
  for (const kind of ["c", "node"]) rows.push(await run(kind));
  console.log(`${N} WebSocket clients in one room, ${M} broadcasts (${N * M} deliveries)`);
  console.table(rows);
})();
