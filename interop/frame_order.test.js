// Issue 12 part 5: frame ordering after CONNECT. The socket.io-protocol test
// suite drives servers with ws 8.5, which emits every frame of one TCP read
// synchronously, one "message" event after another; the suite awaits one
// frame and only then (a microtask later) listens for the next, so a frame
// that shared a TCP read with the previous one is lost. Here a raw ws 8.5
// client does exactly that, 200 times in a row, for "/" and "/custom": after
// the CONNECT reply it must see the event the connection handler emits
// ("auth" on "/", "hello" on "/custom").
//
// Asserted on the C server only. The Node twin (socket.io 4.8) is known to
// lose some of these frames (issue 12: it fails 2 to 4 of the 32 protocol
// tests for this reason), so for Node the number of frames it delivered is
// printed as a measurement, not asserted.
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const WebSocket = require("ws-8.5");
const { startServer, serverKinds } = require("./lib/harness");

const ROUNDS = 200;

// The protocol suite's helper: one listener, attached now, removed after
// its first event.
const waitFor = (ws, type) => new Promise((resolve) => {
  ws.addEventListener(type, resolve, { once: true });
});

// One round: true when the late listener saw the frame after CONNECT.
async function round(port, nsp) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  const all = []; // every frame, recorded by a listener present from the start
  let third;
  const gotThird = new Promise((r) => { third = r; });
  ws.on("message", (d) => { all.push(String(d)); if (all.length === 3) third(); });
  try {
    const open = await waitFor(ws, "message");
    assert.match(String(open.data), /^0\{"sid"/);
    ws.send(nsp === "/" ? "40" : `40${nsp},`);
    const connect = await waitFor(ws, "message");
    assert.match(String(connect.data), nsp === "/" ? /^40\{"sid"/ : /^40\/custom,\{"sid"/);
    let seen = null;
    const late = waitFor(ws, "message").then((e) => { seen = String(e.data); });
    await gotThird; // the frame has arrived (whatever the late listener did)
    await new Promise((r) => setImmediate(r));
    const expected = nsp === "/" ? '42["auth",{}]' : '42/custom,["hello","/custom"]';
    assert.equal(all[2], expected);
    void late;
    return seen === expected;
  } finally {
    ws.terminate();
  }
}

for (const kind of serverKinds()) {
  describe(`frame order after CONNECT (ws 8.5): ${kind}`, () => {
    let srv;
    before(async () => { srv = await startServer(kind, "sio_test_server"); });
    after(async () => { await srv.stop(); });

    for (const nsp of ["/", "/custom"]) {
      test(`${ROUNDS} rounds on ${nsp}: the first event after CONNECT is seen`, async (t) => {
        let ok = 0;
        for (let i = 0; i < ROUNDS; i++) if (await round(srv.port, nsp)) ok++;
        t.diagnostic(`${kind} ${nsp}: ${ok}/${ROUNDS} first events seen by the late listener`);
        console.log(`measurement: ${kind} server, nsp ${nsp}: ${ok}/${ROUNDS} seen`);
        if (kind === "c") assert.equal(ok, ROUNDS);
      });
    }
  });
}
