const { startServer, sleep } = require("./lib/harness");
const { io } = require("socket.io-client");
(async () => {
  const srv = await startServer("c", "abuse_test_server", { maxOutputBytes: 4<<20 });
  const s = io(srv.url, { transports: ["websocket"], forceNew: true });
  await new Promise(r => s.on("connect", r));
  let n = 0; s.on("s", () => n++);
  for (let k = 0; k < 2; k++) {
    const e = new Promise(r => s.once("end", r));
    console.log("ack", await s.emitWithAck("stream", { count: 50, size: 32768, perTick: 5, intervalMs: 10 }));
    await Promise.race([e, sleep(5000)]);
    console.log("n", n, srv.events.map(e => e.event));
  }
  s.close(); await srv.stop();
})();
