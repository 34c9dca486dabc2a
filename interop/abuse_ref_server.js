// Node socket.io 4.8 twin of abuse_test_server.c: the same handlers and
// JSON lines. The output/flood limits of the C server have no Node
// equivalent and are ignored here.
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");

const cfg = JSON.parse(process.argv[2] || "{}");
const opts = {};
for (const k of ["pingInterval", "pingTimeout"]) if (cfg[k] !== undefined) opts[k] = cfg[k];
const line = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const httpServer = http.createServer();
const io = new Server(httpServer, opts);
let spam = 0;
let streaming = false;

io.on("connection", (socket) => {
  socket.join("stream");
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
    else socket.emit("echo", ...args);
  });
  socket.on("stream", (o, ack) => {
    if (streaming || typeof o !== "object" || !o) { if (ack) ack(); return; }
    streaming = true;
    const data = "x".repeat(Math.max(0, Math.min(o.size | 0, 16 << 20)));
    const perTick = Math.max(1, o.perTick | 0);
    let seq = 0;
    const tick = () => {
      const op = o.volatile ? io.to("stream").volatile : io.to("stream");
      for (let i = 0; i < perTick && seq < o.count; i++) op.emit("s", seq++, Date.now(), data);
      if (seq >= o.count) {
        io.to("stream").emit("end");
        line({ event: "stream-done", count: seq });
        streaming = false;
        return;
      }
      setTimeout(tick, o.intervalMs | 0);
    };
    setTimeout(tick, 0);
    if (ack) ack();
  });
  socket.on("spam", (...args) => {
    spam++;
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack();
  });
  socket.on("count", (ack) => { if (typeof ack === "function") ack(spam); });
  socket.on("disconnect", (reason) => line({ event: "disconnect", id: socket.id, reason }));
  line({ event: "connection", id: socket.id });
});

const stop = () => {
  line({ event: "shutting-down" });
  io.close(() => { line({ event: "closed" }); process.exit(0); });
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
httpServer.listen(0, "127.0.0.1", () => line({ event: "listening", port: httpServer.address().port }));
