// rediss://: the Redis adapter over TLS, on a redis-server that speaks
// only TLS (and asks for client certificates), then on a Redis Cluster
// with tls-cluster. Servers of each kind (libsio and the Node twin with
// node-redis) verify the server's certificate against the test CA, by IP
// address (subjectAltName IP:127.0.0.1) or by the name "localhost" (SNI),
// and present a client certificate. A wrong CA or a wrong server name: a
// clear error, reported at once (event "redis-error"), and the
// server keeps serving its own clients; a CA file that cannot be read
// stops the server at start with the reason.
"use strict";
const nodeTest = require("node:test");
const { describe, before, after } = nodeTest;
const test = (name, fn) => nodeTest.test(name, { timeout: 30000 }, fn);
const assert = require("node:assert/strict");
const path = require("node:path");
const { io } = require("socket.io-client");
const { startServer, serverKinds } = require("./lib/harness");
const { startRedis } = require("./lib/redis");
const { startCluster } = require("./lib/redis_cluster");
const { makeCerts } = require("./lib/certs");

const next = (s, ev) => new Promise((r) => s.once(ev, (...a) => r(a)));
const KINDS = serverKinds();

async function connectClient(srv) {
  const s = io(srv.url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await next(s, "connect");
  return s;
}

// Every server emits to all from its client; every client hears every one,
// and a fetchSockets from each server sees every socket.
async function checkMesh(servers, clients) {
  // first every server is subscribed: each one's fetchSockets sees all
  const all = clients.map((x) => x.id).sort();
  for (const c of clients) {
    const end = Date.now() + 10000;
    for (;;) {
      const list = await c.timeout(5000).emitWithAck("fetch", {}).catch(() => []);
      if (JSON.stringify(list.map((x) => x.id).sort()) === JSON.stringify(all)) break;
      if (Date.now() > end) assert.deepEqual(list.map((x) => x.id).sort(), all);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  for (const [i, from] of clients.entries()) {
    const got = clients.map((c) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no "mesh" from ${servers[i].kind} server ${i}`)), 5000);
      c.on("mesh", function h(n) { if (n === i) { clearTimeout(t); c.off("mesh", h); resolve(); } });
    }));
    from.emit("to", {}, "mesh", i);
    await Promise.all(got);
  }
  for (const c of clients) {
    const list = await c.emitWithAck("fetch", {});
    assert.deepEqual(list.map((x) => x.id).sort(), clients.map((x) => x.id).sort());
  }
}

let certs, otherCa;
before(() => {
  certs = makeCerts();
  otherCa = makeCerts();    // a CA that signed nothing Redis has
});
after(() => { certs.cleanup(); otherCa.cleanup(); });
const ca = () => path.join(certs.dir, "ca.pem");
const clientCert = () => ({ cert: certs.server2.cert, key: certs.server2.key });

describe("rediss:// on one redis-server (TLS only, client certificates required)", () => {
  let redis;
  before(async () => {
    redis = await startRedis(0, { tls: { ...certs.server, ca: ca(), authClients: "yes" } });
  });
  after(async () => { if (redis) await redis.stop(); });

  test("servers of each kind verify Redis by IP address and by name and form one cluster", async () => {
    const servers = [], clients = [];
    try {
      for (const kind of KINDS) {
        for (const serverName of [undefined, "localhost"]) {
          const srv = await startServer(kind, "sio_test_server", {
            redis: redis.url, requestsTimeout: 3000,
            redisTls: { ca: ca(), ...clientCert(), ...(serverName ? { serverName } : {}) } });
          servers.push(srv);
          clients.push(await connectClient(srv));
        }
      }
      await checkMesh(servers, clients);
      for (const srv of servers) assert.equal(srv.events.filter((e) => e.event === "redis-error").length, 0);
    } finally {
      for (const c of clients) c.close();
      for (const s of servers) await s.stop();
    }
  });

  for (const kind of KINDS) {
    for (const [label, tls, expect] of [
      ["a CA that did not sign the server's certificate", () => ({ ca: path.join(otherCa.dir, "ca.pem"), ...clientCert() }),
       /certificate|self.signed/i],
      ["a server name the certificate does not carry", () => ({ ca: ca(), ...clientCert(), serverName: "wrong.example" }),
       /CN|altnames|name/i],
    ]) {
      test(`${kind}: ${label} is a clear error at start, and local service goes on`, async () => {
        const srv = await startServer(kind, "sio_test_server", { redis: redis.url, requestsTimeout: 1000, redisTls: tls() });
        let c;
        try {
          const ev = await srv.waitFor((e) => e.event === "redis-error", 5000, "redis-error");
          assert.match(ev.message, expect);
          c = await connectClient(srv);
          assert.equal(await c.timeout(2000).emitWithAck("echo", "still here"), "still here");
          console.log(`${kind} reports: ${ev.message}`);
        } finally {
          if (c) c.close();
          await srv.stop();
        }
      });
    }

    test(`${kind}: a CA file that cannot be read stops the server at start with the reason`, async () => {
      await assert.rejects(
        startServer(kind, "sio_test_server", { redis: redis.url, redisTls: { ca: path.join(certs.dir, "missing.pem") } }),
        /server exited early[^]*missing\.pem/);
    });
  }
});

describe("rediss:// on a Redis Cluster (tls-cluster yes)", () => {
  let cluster;
  before(async () => {
    cluster = await startCluster({ tls: { ...certs.server, ca: ca() } });
  });
  after(async () => { if (cluster) await cluster.stop(); });

  for (const [label, extra] of [["classic", {}], ["sharded", { sharded: true }]]) {
    test(`${label}: servers of each kind join through the seeds and form one cluster`, async () => {
      const servers = [], clients = [];
      try {
        for (const kind of KINDS) {
          for (const serverName of [undefined, "localhost"]) {
            const srv = await startServer(kind, "sio_test_server", {
              redisCluster: cluster.seeds, redisClient: "node-redis", requestsTimeout: 3000, ...extra,
              redisTls: { ca: ca(), ...(serverName ? { serverName } : {}) } });
            servers.push(srv);
            clients.push(await connectClient(srv));
          }
        }
        await checkMesh(servers, clients);
      } finally {
        for (const c of clients) c.close();
        for (const s of servers) await s.stop();
      }
    });
  }
});
