// A real redis-server for the cluster tests, on a free loopback port,
// started and stopped by the harness (and restartable on the same port).
"use strict";
const { spawn } = require("node:child_process");
const net = require("node:net");

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

// password: started with requirepass, and url carries it (and db 3).
// tls: {cert, key, ca, authClients: "yes"|"no"|"optional"}: TLS only, on port.
async function startRedis(port, { password, tls } = {}) {
  port = port || await freePort();
  const auth = password ? ["--requirepass", password] : [];
  const listen = tls
    ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.cert, "--tls-key-file", tls.key,
       "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", tls.authClients || "optional"]
    : ["--port", String(port)];
  const child = spawn("redis-server", [...listen, "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", ...auth],
                      { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("redis-server did not start: " + out)), 10000);
    child.stdout.on("data", (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) { clearTimeout(t); resolve(); }
    });
    child.on("exit", (code) => { clearTimeout(t); reject(new Error(`redis-server exited ${code}: ${out}`)); });
  });
  child.removeAllListeners("exit");
  const exited = new Promise((r) => child.on("exit", r));
  return {
    port,
    url: `redis${tls ? "s" : ""}://${password ? `:${password}@` : ""}127.0.0.1:${port}${password ? "/3" : ""}`,
    async stop() { child.kill("SIGTERM"); await exited; },
    restart: () => startRedis(port, { password, tls }),
  };
}

module.exports = { startRedis };
