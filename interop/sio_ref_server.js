// Node socket.io 4.8 twin of sio_test_server.c: the same namespaces,
// middlewares and handlers, the same JSON lines on stdout.
"use strict";
const http = require("node:http");
const https = require("node:https");
const fs = require("node:fs");
const { Server } = require("socket.io");

const cfg = JSON.parse(process.argv[2] || "{}");
const opts = {};
for (const k of ["pingInterval", "pingTimeout", "connectTimeout", "maxHttpBufferSize",
                 "perMessageDeflate", "httpCompression", "allowEIO3"]) {
  if (cfg[k] !== undefined) opts[k] = cfg[k];
}
if (cfg.allowRequestDelay !== undefined) {
  opts.allowRequest = (req, cb) => {
    const deny = new URL(req.url, "http://x").searchParams.has("deny");
    setTimeout(() => cb(deny ? "denied later" : null, !deny), cfg.allowRequestDelay);
  };
}
if (cfg.sioParser === "msgpack") opts.parser = require("socket.io-msgpack-parser");
if (cfg.connectionStateRecovery) {
  opts.connectionStateRecovery = { maxDisconnectionDuration: cfg.maxDisconnectionDuration || 120000,
                                   skipMiddlewares: true };
}
if (cfg.cors) opts.cors = { origin: true, credentials: true };
const line = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const serverName = cfg.name || "node";
const httpServer = cfg.tls
  ? https.createServer({ cert: fs.readFileSync(cfg.tls.cert), key: fs.readFileSync(cfg.tls.key) })
  : http.createServer();
const io = new Server(httpServer, opts);

const sorted = (set) => [...set].sort();
function targets(op, o = {}) {
  if (o.rooms) op = op.to(o.rooms);
  if (o.except) op = op.except(o.except);
  if (o.volatile) op = op.volatile;
  if (o.local) op = op.local;
  if (o.compress === false) op = op.compress(false);
  if (o.timeout !== undefined) op = op.timeout(o.timeout);
  return op;
}

function common(socket) {
  socket.on("disconnecting", (reason) => line({ event: "disconnecting", nsp: socket.nsp.name,
    id: socket.id, reason, rooms: sorted(socket.rooms) }));
  socket.on("disconnect", (reason) => line({ event: "disconnect", nsp: socket.nsp.name,
    id: socket.id, reason }));
  socket.on("error", (err) => {
    line({ event: "error", nsp: socket.nsp.name, id: socket.id, message: err.message });
    if (socket.connected) socket.emit("middleware-error", { message: err.message, data: err.data });
  });
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
    else socket.emit("echo", ...args);
  });
  line({ event: "connection", nsp: socket.nsp.name, id: socket.id,
         recovered: socket.recovered, auth: socket.handshake.auth });
}

let lastOutgoing = "";
io.on("connection", (socket) => {
  common(socket);
  socket.use(([event], next) => {
    if (event === "forbidden") {
      const err = new Error("forbidden event");
      err.data = { why: "test" };
      next(err);
    } else next();
  });
  socket.onAny((event, ...args) => {
    if (event === "any-probe") socket.emit("any-seen", [event, args.length]);
  });
  socket.onAnyOutgoing((event) => { lastOutgoing = event; });
  socket.on("try-emit", (name, ack) => {
    let ok = true;
    try { socket.emit(name); } catch { ok = false; }
    ack({ ok });
  });
  socket.on("request-ack", (t, ...rest) => {
    const ack = rest.pop();
    socket.timeout(t).emit("server-ack", ...rest, (err, ...args) => {
      ack(err ? { err: err.message } : { err: null, args });
    });
  });
  socket.on("join", (room, ack) => { socket.join(room); ack(sorted(socket.rooms)); });
  socket.on("leave", (room, ack) => { socket.leave(room); ack(sorted(socket.rooms)); });
  socket.on("to", (o, event, ...rest) => {
    const ack = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
    targets(io, o).emit(event, ...rest);
    if (ack) ack();
  });
  socket.on("broadcast", (o, event, ...rest) => {
    const ack = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
    targets(socket.broadcast, o).emit(event, ...rest);
    if (ack) ack();
  });
  socket.on("broadcast-ack", (o, event, ...rest) => {
    const ack = rest.pop();
    targets(io, o).emit(event, ...rest, (err, responses) => {
      ack({ err: err ? err.message : null, responses });
    });
  });
  socket.on("fetch", async (o, ack) => {
    const list = await targets(io, o).fetchSockets();
    ack(list.map((s) => ({ id: s.id, rooms: sorted(s.rooms), data: s.data, handshake: s.handshake }))
            .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  });
  socket.on("sockets-join", (o, room, ack) => { targets(io, o).socketsJoin(room); ack(); });
  socket.on("sockets-leave", (o, room, ack) => { targets(io, o).socketsLeave(room); ack(); });
  socket.on("disconnect-sockets", (o, close, ack) => { targets(io, o).disconnectSockets(close); ack(); });
  socket.on("set-data", (v, ack) => { socket.data = v; ack(); });
  socket.on("loop", (ack) => ack(0)); // one loop: the C server answers its loop's index
  // an emit through the dynamic parent /^\/dyn-[0-9]+$/: every child namespace
  socket.on("to-dyn", (event, ...rest) => { const ack = rest.pop(); dynParent.emit(event, ...rest); ack(); });
  socket.on("server-count", async (ack) => ack(await io.of("/").adapter.serverCount()));
  // Node only (the peer side of the cluster tests): the adapter's allRooms()
  socket.on("all-rooms", async (ack) => ack(sorted(await io.of("/").adapter.allRooms())));
  socket.on("disconnect-me", (close) => socket.disconnect(close));
  socket.on("handshake", (ack) => {
    const h = socket.handshake;
    ack({ auth: h.auth, query: { ...h.query }, url: h.url, address: h.address,
          xdomain: h.xdomain, secure: h.secure, hasHost: typeof h.headers.host === "string",
          issuedIsNumber: typeof h.issued === "number", timeIsString: typeof h.time === "string",
          recovered: socket.recovered });
  });
  socket.on("server-side-emit", (ack) => {
    let ok = true, reservedRefused = false;
    try { io.serverSideEmit("x"); } catch { ok = false; }
    try { io.serverSideEmit("connection"); } catch { reservedRefused = true; }
    ack({ ok, reservedRefused });
  });
  socket.on("last-outgoing", (ack) => ack(lastOutgoing));
  socket.on("sse-send", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (!ack) return io.serverSideEmit("sse", ...args);
    io.serverSideEmit("sse", ...args, (err, responses) => {
      ack({ err: err ? "timeout reached" : null, responses });
    });
  });
  socket.emit("auth", socket.handshake.auth);
});

io.on("sse", (...args) => {
  const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
  line({ event: "sse", name: "sse", args });
  if (cb) cb(`${serverName}-reply`);
});

const hello = (socket) => { common(socket); socket.emit("hello", socket.nsp.name); };
io.of("/custom").on("connection", hello);
io.of("/auth").use((socket, next) => {
  const token = socket.handshake.auth.token;
  if (token === "secret") return next();
  const err = new Error("Not authorized");
  if (token !== "nodata") err.data = { reason: "bad token" };
  next(err);
}).on("connection", hello);
io.of("slow").use((socket, next) => setTimeout(next, 50)).on("connection", hello);
io.of("/slow-deny").use((socket, next) => setTimeout(() => {
  const err = new Error("Not authorized later");
  err.data = { later: true };
  next(err);
}, 50)).on("connection", hello);
io.of("/slower").use((socket, next) => setTimeout(next, 600)).on("connection", hello);
const dynParent = io.of(/^\/dyn-[0-9]+$/).on("connection", hello);
io.of((name, auth, next) => next(null, name.startsWith("/fn-") && auth.ok === true)).on("connection", hello);

async function start() {
  if ((cfg.redis || cfg.redisCluster) && cfg.adapter === "streams") {
    // @socket.io/redis-streams-adapter 0.3.1 (or 0.2.3 with streamsVersion
    // "0.2"), on node-redis or ioredis (redisClient "ioredis")
    const pkg = cfg.streamsVersion === "0.2" ? "redis-streams-adapter-0.2" : "@socket.io/redis-streams-adapter";
    const { createAdapter } = require(pkg);
    let client;
    if (cfg.redisCluster || cfg.redisTls) {
      // a Redis Cluster (node-redis createCluster or ioredis Cluster) or
      // rediss:// with certificates (lib/ref_redis.js); the adapter
      // duplicates what it needs
      const { pub, sub } = await require("./lib/ref_redis").refRedisClients(cfg,
        (message) => line({ event: "redis-error", message }));
      sub.disconnect();
      client = pub;
    } else if (cfg.redisClient === "ioredis") {
      const Redis = require("ioredis");
      client = new Redis(cfg.redis);
    } else {
      client = require("redis").createClient({ url: cfg.redis });
      await client.connect();
    }
    client.on("error", () => {});
    const o = {};
    for (const k of ["streamName", "streamCount", "channelPrefix", "useShardedPubSub", "maxLen",
                     "readCount", "blockTimeInMs", "sessionKeyPrefix"])
      if (cfg[k] !== undefined) o[k] = cfg[k];
    io.adapter(createAdapter(client, o));
    io.of("/");
  } else if (cfg.redis || cfg.redisCluster) {
    const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
    // one server or a cluster, node-redis or ioredis (lib/ref_redis.js)
    const { pub, sub } = await require("./lib/ref_redis").refRedisClients(cfg,
      (message) => line({ event: "redis-error", message }));
    io.adapter(cfg.sharded
      ? createShardedAdapter(pub, sub, { subscriptionMode: cfg.subscriptionMode || "dynamic" })
      : createAdapter(pub, sub, {
          requestsTimeout: cfg.requestsTimeout || 5000,
          publishOnSpecificResponseChannel: !!cfg.specificResponse,
          ...(cfg.parser === "json"
            ? { parser: { encode: (m) => JSON.stringify(m), decode: (m) => JSON.parse(m) } }
            : {}),
        }));
    // the adapter of "/" must exist before handlers rely on it
    io.of("/");
  }
  if (cfg.admin) { // @socket.io/admin-ui, the twin of sio_admin_instrument
    const a = cfg.admin;
    require("@socket.io/admin-ui").instrument(io, {
      auth: a.username ? { type: "basic", username: a.username, password: a.passwordHash } : false,
      serverId: a.serverId, readonly: !!a.readonly, mode: a.mode || "development",
    });
  }
  httpServer.listen(0, "127.0.0.1", () => line({ event: "listening", port: httpServer.address().port }));
}
start();
const stop = () => {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
