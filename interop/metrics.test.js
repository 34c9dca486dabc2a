// The Prometheus endpoint of a libsio server (sio_server_serve_metrics),
// read with parse-prometheus-text-format after a scripted run: every counter
// must equal what the script did. C only: Node's socket.io has no such
// endpoint, so there is no twin to hold to the same expectations (the Node
// server below is only a peer in the Redis cluster).
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { io } = require("socket.io-client");
const parse = require("parse-prometheus-text-format");
const { startServer, sleep } = require("./lib/harness");
const { startRedis } = require("./lib/redis");

async function scrape(srv) {
  const res = await fetch(srv.url + "/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const families = parse(await res.text());
  const get = (name, labels = {}) => {
    const f = families.find((x) => x.name === name);
    assert.ok(f, `metric ${name} missing`);
    const m = f.metrics.find((x) => Object.entries(labels).every(([k, v]) => (x.labels || {})[k] === v));
    assert.ok(m, `metric ${name}${JSON.stringify(labels)} missing`);
    return f.type === "HISTOGRAM" ? m : Number(m.value);
  };
  return { families, get };
}

// Counts the Engine.IO message packets (and their bytes) a client sends and
// receives: the server counts the same messages on its side.
function track(client, transport, totals) {
  const size = (d) => (typeof d === "string" ? Buffer.byteLength(d) : d.byteLength);
  const t = totals[transport];
  client.io.engine.on("packetCreate", (p) => {
    if (p.type !== "message" || (t.skipOver && size(p.data) > t.skipOver)) return;
    t.packetsIn++;
    t.bytesIn += size(p.data);
  });
  client.io.engine.on("packet", (p) => {
    if (p.type !== "message") return;
    t.packetsOut++;
    t.bytesOut += size(p.data);
  });
}

const open = (url, transport, totals, opts = {}) => {
  const c = io(url, { forceNew: true, reconnection: false, transports: [transport], ...opts });
  track(c, transport, totals);
  return new Promise((resolve, reject) => {
    c.on("connect", () => resolve(c));
    c.on("connect_error", reject);
  });
};

describe("Prometheus metrics of the C server (C only: Node has no such endpoint)", () => {
  // A polling client that never polls again holds what is sent to it in
  // the server's queue. Each scrape here comes on a new TCP connection, so
  // with several loops (SIO_WORKERS) they land on every loop: each must see
  // the queue of the loop holding it (the loops recount after a scrape, so
  // the first scrape may see only its own loop's).
  test("sio_output_queued_bytes is the process's, whatever loop scrapes", async () => {
    const srv = await startServer("c", "sio_test_server", { metrics: "/metrics" });
    const http = require("node:http");
    const fresh = () => new Promise((resolve, reject) => {
      http.get(`${srv.url}/metrics`, { agent: false }, (res) => {
        let body = "";
        res.on("data", (d) => { body += d; });
        res.on("end", () => resolve(Number(/^sio_output_queued_bytes (\d+)$/m.exec(body)[1])));
      }).on("error", reject);
    });
    const base = `${srv.url}/socket.io/?EIO=4&transport=polling`;
    const sid = JSON.parse((await (await fetch(base)).text()).slice(1)).sid;
    await (await fetch(`${base}&sid=${sid}`, { method: "POST", body: "40" })).text();
    assert.match(await (await fetch(`${base}&sid=${sid}`)).text(), /^40\{/);
    const sender = io(srv.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
    try {
      await new Promise((r, j) => { sender.on("connect", r); sender.on("connect_error", j); });
      const big = "x".repeat(20000);
      await sender.emitWithAck("to", {}, "big", big);
      await sleep(100);
      await fresh(); // every loop recounts after it
      await sleep(100);
      const seen = [];
      for (let i = 0; i < 8; i++) seen.push(await fresh());
      assert.ok(seen.every((n) => n >= 20000), `queued bytes seen: ${seen}`);
    } finally {
      sender.close();
      await srv.stop();
    }
  });

  test("every counter matches a scripted run", async () => {
    const srv = await startServer("c", "sio_test_server", { metrics: "/metrics", maxHttpBufferSize: 1000 });
    try {
      let m = await scrape(srv);
      for (const name of ["sio_connects_total", "sio_engine_connections_total",
                          "sio_broadcast_deliveries_total", "sio_redis_reconnects_total"])
        assert.equal(m.get(name), 0, name);
      for (const f of m.families)
        assert.match(f.name, /^sio_[a-z_]+$/, "Prometheus naming");

      const totals = {
        websocket: { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, skipOver: 1000 },
        polling: { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 },
      };
      const a = await open(srv.url, "websocket", totals);
      const b = await open(srv.url, "polling", totals);
      const c = await open(srv.url + "/custom", "websocket", totals);

      // an ack the server waits for, an ack the client waits for, binary
      a.on("server-ack", (x, cb) => cb(x + "!"));
      const r = await a.timeout(5000).emitWithAck("request-ack", 5000, "hi");
      assert.deepEqual(r, { err: null, args: ["hi!"] });
      assert.equal(await a.timeout(5000).emitWithAck("echo", "e", 1), "e");
      const bin = await a.timeout(5000).emitWithAck("echo", Buffer.from([1, 2, 3]));
      assert.equal(Buffer.from(bin).length, 3);
      // a broadcast to "/": a and b get it
      const got = Promise.all([a, b].map((s) => new Promise((res) => s.once("news", res))));
      a.emit("to", {}, "news", { n: 1 });
      await got;
      await b.timeout(5000).emitWithAck("echo", "over polling");
      await sleep(200);
      m = await scrape(srv);
      assert.equal(m.get("sio_connected_sockets", { namespace: "/" }), 2);
      assert.equal(m.get("sio_connected_sockets", { namespace: "/custom" }), 1);
      assert.equal(m.get("sio_engine_clients"), 3);
      assert.equal(m.get("sio_broadcast_deliveries_total"), 2);

      // four ways to leave
      const reasons = ["a", "b", "c"].map(() => null);
      a.on("disconnect", (x) => { reasons[0] = x; });
      b.on("disconnect", (x) => { reasons[1] = x; });
      c.on("disconnect", (x) => { reasons[2] = x; });
      a.disconnect();                                  // client namespace disconnect
      const bGone = new Promise((res) => b.on("disconnect", res));
      b.emit("disconnect-me", false);                  // server namespace disconnect
      await bGone;
      b.close();
      c.io.engine.close();                             // transport close
      const d = await open(srv.url, "websocket", totals);
      const dGone = new Promise((res) => d.on("disconnect", res));
      d.emit("echo", "x".repeat(1500));                // beyond maxHttpBufferSize
      assert.equal(await dGone, "transport close");
      await srv.waitFor((e) => e.event === "disconnect" && e.reason === "transport error", 10000);
      await sleep(300);

      m = await scrape(srv);
      assert.equal(m.get("sio_connects_total"), 4);
      assert.equal(m.get("sio_engine_connections_total"), 4);
      assert.equal(m.get("sio_connected_sockets", { namespace: "/" }), 0);
      assert.equal(m.get("sio_connected_sockets", { namespace: "/custom" }), 0);
      assert.equal(m.get("sio_engine_clients"), 0);
      assert.equal(m.get("sio_output_queued_bytes"), 0);
      const want = { "client namespace disconnect": 1, "server namespace disconnect": 1,
                     "transport close": 1, "transport error": 1, "ping timeout": 0,
                     "parse error": 0, "forced close": 0, "server shutting down": 0 };
      for (const [reason, n] of Object.entries(want))
        assert.equal(m.get("sio_disconnects_total", { reason }), n, reason);
      assert.equal(m.get("sio_closes_by_limit_total", { limit: "max_http_buffer_size" }), 1);
      assert.equal(m.get("sio_closes_by_limit_total", { limit: "output_buffer" }), 0);
      for (const t of ["websocket", "polling"]) {
        assert.equal(m.get("sio_packets_received_total", { transport: t }), totals[t].packetsIn, `${t} in`);
        assert.equal(m.get("sio_received_bytes_total", { transport: t }), totals[t].bytesIn, `${t} bytes in`);
        assert.equal(m.get("sio_packets_sent_total", { transport: t }), totals[t].packetsOut, `${t} out`);
        assert.equal(m.get("sio_sent_bytes_total", { transport: t }), totals[t].bytesOut, `${t} bytes out`);
      }
      assert.ok(totals.polling.packetsIn >= 2 && totals.websocket.packetsOut >= 10);
      assert.equal(m.get("sio_broadcast_deliveries_total"), 2);
      const hs = m.get("sio_handshake_duration_seconds");
      assert.equal(Number(hs.count), 4);
      assert.equal(Number(hs.buckets["+Inf"]), 4);
      assert.ok(Number(hs.sum) > 0);
      const ack = m.get("sio_ack_duration_seconds");
      assert.equal(Number(ack.count), 1);
      assert.equal(Number(ack.buckets["+Inf"]), 1);
      for (const type of ["fetch_sockets", "server_side_emit", "broadcast_ack"])
        assert.equal(m.get("sio_adapter_requests_total", { type }), 0);
    } finally {
      await srv.stop();
    }
  });

  describe("in a Redis cluster", () => {
    let redis, c, node;
    before(async () => {
      redis = await startRedis();
      c = await startServer("c", "sio_test_server", { metrics: "/metrics", redis: redis.url,
                                                       requestsTimeout: 500 });
      node = await startServer("node", "sio_test_server", { redis: redis.url, requestsTimeout: 500 });
    });
    after(async () => {
      await c.stop();
      await node.stop();
      await redis.stop();
    });

    test("adapter requests, their timeouts and Redis reconnections are counted", async () => {
      const totals = { websocket: { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 } };
      const s = await open(c.url, "websocket", totals);
      const peer = await open(node.url, "websocket", totals);
      const list = await s.timeout(5000).emitWithAck("fetch", {});
      assert.deepEqual(list.map((x) => x.id).sort(), [s.id, peer.id].sort());
      let m = await scrape(c);
      assert.equal(m.get("sio_adapter_requests_total", { type: "fetch_sockets" }), 1);
      assert.equal(m.get("sio_adapter_request_timeouts_total", { type: "fetch_sockets" }), 0);

      // the Node server stays subscribed but cannot answer: the request times out
      process.kill(node.pid, "SIGSTOP");
      try {
        const part = await s.timeout(5000).emitWithAck("fetch", {});
        assert.deepEqual(part.map((x) => x.id), [s.id]);
      } finally {
        process.kill(node.pid, "SIGCONT");
      }
      m = await scrape(c);
      assert.equal(m.get("sio_adapter_requests_total", { type: "fetch_sockets" }), 2);
      assert.equal(m.get("sio_adapter_request_timeouts_total", { type: "fetch_sockets" }), 1);
      assert.equal(m.get("sio_redis_reconnects_total"), 0);

      // a Redis restart: the publishing and the subscribing connection are lost
      await redis.stop();
      redis = await redis.restart();
      for (let i = 0; i < 100; i++) {
        m = await scrape(c);
        if (m.get("sio_redis_reconnects_total") >= 2) break;
        await sleep(100);
      }
      assert.equal(m.get("sio_redis_reconnects_total"), 2);
      s.close();
      peer.close();
    });
  });
});
