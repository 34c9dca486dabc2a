// The Redis clients of the Node twin (sio_ref_server.js), from its config:
//   redis: "redis[s]://..."          one server (node-redis createClient, as before)
//   redisCluster: ["redis[s]://host:port", ...]   seeds of a Redis Cluster
//   redisClient: "node-redis" (default: createClient / createCluster) or
//                "ioredis" (Redis / Cluster)
//   redisTls: { ca, cert, key, serverName }   PEM file paths for rediss://
// Resolves with { pub, sub } connected and ready for the adapter, or, when
// a connection fails first (refused, TLS), at once with clients that keep
// retrying; onError(message) gets each new error message in a row.
"use strict";
const fs = require("node:fs");

function tlsOptions(cfg) {
  const t = cfg.redisTls;
  if (!t) return null;
  const o = {};
  if (t.ca) o.ca = fs.readFileSync(t.ca);
  if (t.cert) o.cert = fs.readFileSync(t.cert);
  if (t.key) o.key = fs.readFileSync(t.key);
  if (t.serverName) o.servername = t.serverName;
  return o;
}

const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, resolve));

function errorsTo(onError, clients) {
  let last = null;
  for (const c of clients) {
    c.on("error", (e) => {
      const m = e && e.message;
      if (m !== last) { last = m; if (onError) onError(m); }
    });
  }
  // the first error, as a promise that never rejects
  return new Promise((resolve) => { for (const c of clients) c.once("error", resolve); });
}

async function refRedisClients(cfg, onError) {
  const tls = tlsOptions(cfg);
  // On a cluster a count can reject ("Connection is closed." from ioredis
  // when a node dies) and the adapter leaves that rejection unhandled: a
  // Node server would die of it; the twin reports it and lives on, as an
  // application with such a handler does.
  if (cfg.redisCluster) {
    process.on("unhandledRejection", (e) => { if (onError) onError(`unhandled rejection: ${e && e.message}`); });
  }
  const urls = cfg.redisCluster || [cfg.redis];
  const secure = urls.some((u) => u.startsWith("rediss:"));
  if (cfg.redisClient === "ioredis") {
    const { Redis, Cluster } = require("ioredis");
    const u = new URL(urls[0]);
    const redisOptions = {
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(secure ? { tls: tls || {} } : {}),
    };
    let pub;
    if (cfg.redisCluster) {
      pub = new Cluster(urls.map((s) => { const x = new URL(s); return { host: x.hostname, port: Number(x.port) }; }),
                        { redisOptions });
    } else {
      pub = new Redis({ host: u.hostname, port: Number(u.port || 6379),
                        db: Number(u.pathname.slice(1) || 0), ...redisOptions });
    }
    const sub = pub.duplicate();
    const failed = errorsTo(onError, [pub, sub]);
    await Promise.race([failed,
      Promise.all([pub, sub].map((c) => (c.status === "ready" ? null : once(c, "ready"))))]);
    return { pub, sub };
  }
  const { createClient, createCluster } = require("redis");
  const socket = secure ? { tls: true, ...(tls || {}) } : undefined;
  const pub = cfg.redisCluster
    ? createCluster({ rootNodes: urls.map((url) => ({ url })), ...(socket ? { defaults: { socket } } : {}) })
    : createClient({ url: urls[0], ...(socket ? { socket } : {}) });
  const sub = pub.duplicate();
  const failed = errorsTo(onError, [pub, sub]);
  const connected = Promise.all([pub.connect(), sub.connect()]);
  connected.catch(() => {});
  await Promise.race([failed, connected]);
  return { pub, sub };
}

module.exports = { refRedisClients };
