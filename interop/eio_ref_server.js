// Node engine.io 6.6 twin of eio_test_server.c: same options, same
// behaviour, same JSON lines on stdout. The interop tests run against both,
// so an expectation that only libsio meets fails here.
"use strict";
const http = require("node:http");
const https = require("node:https");
const fs = require("node:fs");
const { Server } = require("engine.io");

const cfg = JSON.parse(process.argv[2] || "{}");
const opts = {};
for (const k of ["path", "pingInterval", "pingTimeout", "upgradeTimeout",
                 "maxHttpBufferSize", "transports", "allowUpgrades", "cors",
                 "httpCompression", "perMessageDeflate"]) {
  if (cfg[k] !== undefined) opts[k] = cfg[k];
}
if (cfg.cookie) opts.cookie = true;
if (cfg.denyQuery) {
  opts.allowRequest = (req, cb) => {
    const q = new URL(req.url, "http://x").searchParams;
    if (q.get("deny") === "1") cb("denied by test", false);
    else cb(null, true);
  };
}

const line = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const tlsOpts = () => ({ cert: fs.readFileSync(cfg.tls.cert), key: fs.readFileSync(cfg.tls.key),
                         passphrase: cfg.tls.passphrase });
const httpServer = cfg.tls
  ? https.createServer({ ...tlsOpts(), handshakeTimeout: cfg.httpRequestTimeout || 120000 })
  : http.createServer(cfg.httpRequestTimeout
      ? { requestTimeout: cfg.httpRequestTimeout, headersTimeout: cfg.httpRequestTimeout,
          connectionsCheckingInterval: 100 }
      : {});
process.on("SIGHUP", () => {
  try { httpServer.setSecureContext(tlsOpts()); line({ event: "reloaded" }); }
  catch (e) { line({ event: "reload-failed", error: e.message }); }
});
const engine = new Server(opts);
engine.attach(httpServer, { path: opts.path || "/engine.io" });

engine.on("connection", (socket) => {
  line({ event: "connection", id: socket.id, transport: socket.transport.name,
         url: socket.request.url, userAgent: socket.request.headers["user-agent"],
         address: socket.remoteAddress });
  socket.on("message", (data) => {
    if (data === "__close__") return socket.close();
    socket.send(data);
  });
  socket.on("upgrade", () => line({ event: "upgrade", id: socket.id }));
  socket.on("close", (reason) => line({ event: "close", id: socket.id, reason }));
});

httpServer.listen(0, "127.0.0.1", () => {
  line({ event: "listening", port: httpServer.address().port });
});

const stop = () => {
  engine.close();
  httpServer.close(() => process.exit(0));
  httpServer.closeAllConnections();
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
