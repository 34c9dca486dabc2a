// A broadcast with ack across two servers where the other one never
// answers: the caller gets its own clients' answers with the timeout error
// at the timeout (flags.timeout), not later; then a server closed while such
// a broadcast waits exits cleanly (the C server: nothing leaked under ASan).
// The silent server is a Redis client subscribed where the adapter counts
// servers (NUMSUB / SHARDNUMSUB), so the caller expects its answers and
// none come. Classic, sharded and streams adapters; C server and Node twin.
"use strict";
const nodeTest = require("node:test");
const { describe, before, after } = nodeTest;
const test = (name, fn) => nodeTest.test(name, { timeout: 20000 }, fn);
const assert = require("node:assert/strict");
const { io } = require("socket.io-client");
const { createClient } = require("redis");
const { startServer, serverKinds, sleep } = require("./lib/harness");
const { startRedis } = require("./lib/redis");

const TIMEOUT = 500;
// Timers never fire early (Node's may round down by a millisecond); the
// upper bound leaves room for a loaded machine yet stays well below the
// timeout + 1 s the adapters once needed.
const LATE = 450;

const ADAPTERS = [
  ["classic", {}, ["SUBSCRIBE", "socket.io-request#/#"]],
  ["sharded", { sharded: true, subscriptionMode: "static" }, ["SSUBSCRIBE", "socket.io#/#"]],
  // its own prefix: its envelopes on "socket.io#/#<uid>#" would reach the
  // classic server's pattern subscription next to it
  ["streams", { adapter: "streams", channelPrefix: "acks", streamName: "acks" },
   ["SUBSCRIBE", "acks#/#"]],
];

describe("broadcast with ack, a silent server in the cluster", () => {
  let redis, silent;
  before(async () => {
    redis = await startRedis(0);
    silent = createClient({ url: redis.url });
    await silent.connect();
    // the silent server: subscribed, never publishing anything
    for (const [, , [cmd, ch]] of ADAPTERS)
      await silent[cmd === "SUBSCRIBE" ? "subscribe" : "sSubscribe"](ch, () => {});
  });
  after(async () => {
    if (silent) await silent.quit();
    if (redis) await redis.stop();
  });

  // One server per adapter, side by side (their starts dominate the time).
  async function check(kind, opts) {
    const server = await startServer(kind, "sio_test_server", { redis: redis.url, ...opts });
    const client = io(server.url, { transports: ["websocket"], forceNew: true, reconnection: false });
    let stopped = false;
    try {
      await new Promise((r) => client.on("connect", r));
      client.on("ask", (x, ack) => ack({ x }));
      // the silent server counts: two servers
      for (let i = 0; (await client.emitWithAck("server-count")) !== 2; i++) {
        if (i === 50) throw new Error("the silent server is not counted");
        await sleep(100);
      }
      // a monotonic clock: Date.now() follows the wall clock, which this VM's
      // time keeping may step by a few ms (once seen: "answered after 497 ms")
      const t0 = performance.now();
      const r = await client.emitWithAck("broadcast-ack", { timeout: TIMEOUT }, "ask", 5);
      const took = Math.round(performance.now() - t0);
      assert.equal(r.err, "operation has timed out");
      assert.deepEqual(r.responses, [{ x: 5 }]);
      assert.ok(took >= TIMEOUT - 2, `answered after ${took} ms, before the ${TIMEOUT} ms timeout`);
      assert.ok(took < TIMEOUT + LATE, `answered after ${took} ms, not at the ${TIMEOUT} ms timeout`);

      // closed while a broadcast with ack waits for the silent server
      const pending = client.emitWithAck("broadcast-ack", { timeout: 10000 }, "ask", 6)
        .then(() => "answered", () => "failed");
      await sleep(150); // the request is out and waiting
      const t1 = Date.now();
      stopped = true;
      await server.stop(); // clean exit: status 0, no sanitizer or leak report
      assert.ok(Date.now() - t1 < 5000, "the pending broadcast held the server");
      assert.equal(await Promise.race([pending, sleep(2000).then(() => "open")]), "failed");
    } finally {
      client.close();
      if (!stopped) await server.stop();
    }
  }

  for (const kind of serverKinds()) {
    test(`${kind}: partial answers with the timeout error at the timeout, then closed while waiting, a clean exit (${ADAPTERS.map((x) => x[0]).join(", ")})`, async () => {
      const results = await Promise.allSettled(ADAPTERS.map(([, opts]) => check(kind, opts)));
      results.forEach((x, i) => {
        if (x.status === "rejected") throw new Error(`${ADAPTERS[i][0]}: ${x.reason.stack || x.reason}`);
      });
    });
  }
});
