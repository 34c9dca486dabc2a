// The Node twin of bench/bench_server.c (socket.io 4.8 from interop/node_modules),
// same handlers: "echo" acks its arguments; "bcast" does
// socket.broadcast.emit("tick", ...args). Usage: node bench_server.js [port]
"use strict";
const path = require("node:path");
const http = require("node:http");
const { Server } = require(path.join(__dirname, "..", "interop", "node_modules", "socket.io"));

const httpServer = http.createServer();
const io = new Server(httpServer);
io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("bcast", (...args) => socket.broadcast.emit("tick", ...args));
});
httpServer.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
});
const stop = () => { io.close(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
