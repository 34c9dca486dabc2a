// Compression interop: HTTP compression of long-polling responses
// (httpCompression) and permessage-deflate on WebSocket (perMessageDeflate,
// RFC 7692), against the C server (eio_test_server) and the Node engine.io
// 6.6 twin (eio_ref_server.js) with the same options and expectations.
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const zlib = require("node:zlib");
const WebSocket = require("ws");
const { Socket: EioSocket } = require("engine.io-client");
const { chromium } = require("playwright-core");
const { startServer, serverKinds } = require("./lib/harness");
const { frame, wsConnect } = require("./lib/raw");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const RS = "\x1e";
const TAIL = Buffer.from([0, 0, 0xff, 0xff]);
const MAX = 100000; // maxHttpBufferSize of the servers below

// Raw HTTP: no transparent decompression, the exact bytes and headers.
function request(port, method, path, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                      raw: Buffer.concat(chunks) }));
      });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function handshake(port) {
  const r = await request(port, "GET", "/engine.io/?EIO=4&transport=polling");
  assert.equal(r.status, 200);
  return JSON.parse(r.raw.toString().slice(1)).sid;
}

const decode = (r) => {
  const enc = r.headers["content-encoding"];
  if (enc === "gzip") return zlib.gunzipSync(r.raw).toString();
  if (enc === "deflate") return zlib.inflateSync(r.raw).toString();
  assert.equal(enc, undefined);
  return r.raw.toString();
};

// A session that has the echo of `body` (a polling payload) waiting; the
// GET that fetches it carries `accept`.
async function echoPoll(srv, body, accept) {
  const sid = await handshake(srv.port);
  const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
  const p = await request(srv.port, "POST", q, { body });
  assert.equal(p.status, 200);
  const headers = accept === undefined ? {} : { "accept-encoding": accept };
  const g = await request(srv.port, "GET", q, { headers });
  assert.equal(g.status, 200);
  await request(srv.port, "POST", q, { body: "1" }); // close
  return g;
}

const text = (n, seed = "x") => {
  let s = "";
  for (let i = 0; s.length < n; i++) s += `${seed}${i % 97},`;
  return s.slice(0, n);
};

// A raw WebSocket with permessage-deflate: sends compressed or plain
// Engine.IO messages, reads frames with their RSV bits.
async function pmdSocket(port, offer) {
  const ws = await wsConnect(port, "", `Sec-WebSocket-Extensions: ${offer}\r\n`);
  assert.equal(ws.status, 101, ws.text);
  return ws;
}
const deflateRaw = (buf) => {
  const z = zlib.deflateRawSync(buf, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return z.subarray(0, z.length - 4);
};
const inflateRaw = (buf) => zlib.inflateRawSync(Buffer.concat([buf, TAIL]),
                                                { finishFlush: zlib.constants.Z_SYNC_FLUSH });
const extHeader = (head) => {
  const m = /\r\nsec-websocket-extensions: ([^\r]*)/i.exec(head);
  return m ? m[1] : null;
};
const parseExt = (v) => Object.fromEntries(v.split(";").slice(1).map((p) => {
  const [k, val] = p.trim().split("=");
  return [k, val === undefined ? true : Number(val)];
}));

function wsOpen(url, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    const msgs = [];
    const waiters = [];
    ws.on("message", (d, bin) => {
      const m = bin ? d : d.toString();
      msgs.push(m);
      for (const w of [...waiters]) if (msgs.length >= w.n) { waiters.splice(waiters.indexOf(w), 1); w.r(); }
    });
    ws.nth = (n) => (msgs.length >= n ? Promise.resolve()
      : new Promise((r) => waiters.push({ n, r }))).then(() => msgs[n - 1]);
    ws.msgs = msgs;
    ws.on("open", () => resolve(ws));
    ws.on("error", reject);
  });
}

// One browser for both servers' cases (a launch costs seconds under load).
let browserPromise = null;
const launchBrowser = () => (browserPromise ||= chromium.launch({
  executablePath: CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
}));
after(async () => { if (browserPromise) await (await browserPromise).close(); });

for (const kind of serverKinds()) {
  describe(`compression, ${kind} server`, () => {
    let srv, strict, plain;
    before(async () => {
      [srv, strict, plain] = await Promise.all([
        startServer(kind, "eio_test_server", { perMessageDeflate: true, maxHttpBufferSize: MAX }),
        startServer(kind, "eio_test_server", {
          perMessageDeflate: { threshold: 0, clientNoContextTakeover: true,
                               serverMaxWindowBits: 12, clientMaxWindowBits: 10 },
          httpCompression: { threshold: 100 } }),
        startServer(kind, "eio_test_server", { httpCompression: false }),
      ]);
    });
    after(async () => {
      for (const s of [srv, strict, plain]) if (s) await s.stop();
    });

    describe("long-polling responses", () => {
      test("over 1 KiB: gzip or deflate by Accept-Encoding, same payload", async () => {
        const msg = "4" + text(3000);
        for (const [accept, enc] of [["gzip", "gzip"], ["deflate", "deflate"],
                                     ["gzip, deflate, br", "gzip"], ["deflate, gzip", "deflate"]]) {
          const r = await echoPoll(srv, msg, accept);
          assert.equal(r.headers["content-encoding"], enc, accept);
          assert.ok(r.raw.length < msg.length / 2, `${accept}: ${r.raw.length} bytes`);
          assert.equal(decode(r), msg, accept);
        }
      });

      test("Accept-Encoding preferences as Node's negotiator reads them", async () => {
        const msg = "4" + text(2000);
        const cases = [
          ["gzip;q=0.5, deflate", "deflate"], ["deflate;q=0.1, gzip;q=0.2", "gzip"],
          ["*", "gzip"], ["br, *;q=0.5", "gzip"], ["deflate, *", "deflate"],
          ["GZIP", "gzip"], ["gzip;q=0", undefined], ["gzip;q=0, *", "deflate"],
          ["identity", undefined], ["br, zstd", undefined], ["", undefined],
          ["gzip;q=0.5, deflate;q=0.5", "gzip"], ["deflate;q=0.5, gzip;q=0.5", "deflate"],
          ["gzip; q=0.3, deflate; q=0.4", "deflate"], ["gzip;q=abc, deflate", "deflate"],
          ["x-gzip, gzip;level=1", "gzip"], ["gzip foo, deflate", "deflate"],
        ];
        for (const [accept, enc] of cases) {
          const r = await echoPoll(srv, msg, accept);
          assert.equal(r.headers["content-encoding"], enc, JSON.stringify(accept));
          assert.equal(decode(r), msg, accept);
        }
      });

      test("under the threshold or without Accept-Encoding: identity", async () => {
        // The payload of the response is exactly the echo of the POST.
        const at = await echoPoll(srv, "4" + text(1023), "gzip");
        assert.equal(at.headers["content-encoding"], "gzip");
        assert.equal(decode(at), "4" + text(1023));
        const under = await echoPoll(srv, "4" + text(1022), "gzip");
        assert.equal(under.headers["content-encoding"], undefined);
        assert.equal(under.raw.toString(), "4" + text(1022));
        const none = await echoPoll(srv, "4" + text(3000), undefined);
        assert.equal(none.headers["content-encoding"], undefined);
        assert.equal(none.raw.toString(), "4" + text(3000));
      });

      test("several packets and binary in one compressed response", async () => {
        const bin = Buffer.alloc(3000, 7);
        const body = ["4" + text(800, "a"), "b" + bin.toString("base64"), "4" + text(900, "b")].join(RS);
        const r = await echoPoll(srv, body, "gzip");
        assert.equal(r.headers["content-encoding"], "gzip");
        assert.equal(decode(r), body);
      });

      test("the threshold option, and httpCompression: false", async () => {
        const r = await echoPoll(strict, "4" + text(150), "deflate");
        assert.equal(r.headers["content-encoding"], "deflate");
        assert.equal(decode(r), "4" + text(150));
        const off = await echoPoll(plain, "4" + text(5000), "gzip, deflate");
        assert.equal(off.headers["content-encoding"], undefined);
        assert.equal(off.raw.toString(), "4" + text(5000));
      });

      test("a gzip POST body is not inflated: it is a parse error", async () => {
        const sid = await handshake(srv.port);
        const q = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
        const body = zlib.gzipSync("4" + text(5000));
        const p = await request(srv.port, "POST", q, { body, headers: { "content-encoding": "gzip" } });
        assert.equal(p.status, 200); // as for any payload that does not parse
        assert.equal(p.raw.toString(), "ok");
        const c = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(c.reason, "parse error");
        assert.equal((await request(srv.port, "GET", q)).status, 400);
      });
    });

    describe("Socket.IO: compress(false)", () => {
      let sio;
      before(async () => { sio = await startServer(kind, "sio_test_server", {}); });
      after(async () => { if (sio) await sio.stop(); });

      test("a broadcast with compress(false) is not compressed over polling", async () => {
        const base = "/socket.io/?EIO=4&transport=polling";
        const h = await request(sio.port, "GET", base);
        const q = `${base}&sid=${JSON.parse(h.raw.toString().slice(1)).sid}`;
        assert.equal((await request(sio.port, "POST", q, { body: "40" })).status, 200);
        assert.match((await request(sio.port, "GET", q)).raw.toString(), /^40/);
        const big = text(3000, "c");
        for (const [flags, enc] of [[{ compress: false }, undefined], [{}, "gzip"]]) {
          const ev = `42${JSON.stringify(["to", flags, "big", big])}`;
          assert.equal((await request(sio.port, "POST", q, { body: ev })).status, 200);
          const r = await request(sio.port, "GET", q, { headers: { "accept-encoding": "gzip" } });
          assert.equal(r.headers["content-encoding"], enc, JSON.stringify(flags));
          assert.equal(decode(r), `42${JSON.stringify(["big", big])}`);
        }
      });
    });

    describe("permessage-deflate", () => {
      test("negotiated by ws; messages round-trip both ways", async () => {
        const ws = await wsOpen(`ws://127.0.0.1:${srv.port}/engine.io/?EIO=4&transport=websocket`);
        assert.match(ws.extensions, /^permessage-deflate/);
        await ws.nth(1);
        // The client compresses every message (context takeover); the
        // server inflates with its context across messages.
        const sent = ["4" + text(5000, "p"), "4" + text(5000, "p"), "4hello", "4" + text(2000, "é")];
        for (const m of sent) ws.send(m);
        const bin = Buffer.from(Array.from({ length: 4000 }, (_, i) => i * 7 & 255));
        ws.send(bin);
        for (let i = 0; i < sent.length; i++) assert.equal(await ws.nth(2 + i), sent[i]);
        assert.deepEqual(Buffer.from(await ws.nth(2 + sent.length)), bin);
        ws.close();
      });

      test("engine.io-client: polling, then upgraded to a compressed WebSocket", async () => {
        const sock = new EioSocket(`http://127.0.0.1:${srv.port}`, { transports: ["polling", "websocket"] });
        const got = [];
        let wake = null;
        sock.on("message", (d) => { got.push(d); if (wake) wake(); });
        const next = async (n) => { while (got.length < n) await new Promise((r) => (wake = r)); return got[n - 1]; };
        await new Promise((r, j) => { sock.on("open", r); sock.on("error", j); });
        const before = "b" + text(5000, "u");
        sock.send(before);
        assert.equal(await next(1), before);
        await new Promise((r) => (sock.transport.name === "websocket" ? r() : sock.on("upgrade", r)));
        assert.equal(sock.transport.ws._extensions["permessage-deflate"] !== undefined, true);
        const after = ["a" + text(8000, "v"), "a" + text(8000, "v"), "short"];
        for (const m of after) sock.send(m);
        for (let i = 0; i < after.length; i++) assert.equal(await next(2 + i), after[i]);
        sock.close();
      });

      test("the answer and the frames, on the wire", async () => {
        // A client asking server_no_context_takeover gets it from both
        // servers, and the threshold then applies to what the server sends.
        const ws = await pmdSocket(srv.port, "permessage-deflate; server_no_context_takeover; client_max_window_bits");
        assert.deepEqual(parseExt(extHeader(ws.head)), { server_no_context_takeover: true });
        const open = await ws.waitFrame((f) => f.opcode === 1);
        assert.equal(open.rsv, 0); // under 1 KiB: sent as it is
        assert.equal(open.data.toString()[0], "0");
        const big = "4" + text(4000, "w");
        ws.send(frame(1, deflateRaw(Buffer.from(big)), { rsv: 4 }));
        ws.send(frame(1, "4small"));
        const e1 = await ws.waitFrame((f) => f.opcode === 1 && f !== open && f.rsv === 4);
        assert.equal(inflateRaw(e1.data).toString(), big);
        assert.ok(e1.data.length < big.length / 3);
        const e2 = await ws.waitFrame((f) => f.opcode === 1 && f.rsv === 0 && f !== open);
        assert.equal(e2.data.toString(), "4small");
        // Binary, fragmented: RSV1 on the first frame only.
        const bin = Buffer.alloc(5000, 3);
        const z = deflateRaw(bin);
        ws.send(frame(2, z.subarray(0, 10), { fin: false, rsv: 4 }));
        ws.send(frame(0, z.subarray(10)));
        const e3 = await ws.waitFrame((f) => f.opcode === 2);
        assert.equal(e3.rsv, 4);
        assert.deepEqual(inflateRaw(e3.data), bin);
        ws.socket.destroy();
      });

      test("the server's options in the answer: window bits, client context", async () => {
        const raw = await pmdSocket(strict.port, "permessage-deflate; client_max_window_bits");
        assert.deepEqual(parseExt(extHeader(raw.head).replace(/; server_no_context_takeover/, "")),
                         { client_no_context_takeover: true, server_max_window_bits: 12,
                           client_max_window_bits: 10 });
        raw.socket.destroy();
        const ws = await wsOpen(`ws://127.0.0.1:${strict.port}/engine.io/?EIO=4&transport=websocket`);
        assert.equal(ws.extensions, "permessage-deflate");
        await ws.nth(1);
        const sent = ["4" + text(30000, "q"), "4" + text(30000, "q"), "4x"];
        for (const m of sent) ws.send(m);
        for (let i = 0; i < sent.length; i++) assert.equal(await ws.nth(2 + i), sent[i]);
        ws.close();
        // An offer that needs a smaller server window than the option is
        // refused; a later acceptable offer is taken.
        const two = await pmdSocket(strict.port,
          "permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate; client_max_window_bits=11");
        assert.deepEqual(parseExt(extHeader(two.head).replace(/; server_no_context_takeover/, "")),
                         { client_no_context_takeover: true, server_max_window_bits: 12,
                           client_max_window_bits: 10 });
        two.socket.destroy();
      });

      test("invalid or unacceptable offers: 400, as ws answers", async () => {
        const bad = [
          "permessage-deflate; foo", "permessage-deflate; server_max_window_bits=7",
          "permessage-deflate; server_max_window_bits", "permessage-deflate; client_no_context_takeover=1",
          "permessage-deflate; client_max_window_bits=16", "permessage-deflate;",
          "permessage-deflate, ", ", permessage-deflate", "permessage-deflate; a=\"\"",
          "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
          "permessage-deflate, permessage-deflate; x", "permessage-deflate; server_max_window_bits= 9",
          "x-other; a=1\"", "permessage-deflate; server_max_window_bits=1.5",
        ];
        for (const offer of bad) {
          const ws = await wsConnect(srv.port, "", `Sec-WebSocket-Extensions: ${offer}\r\n`);
          assert.equal(ws.status, 400, offer);
          assert.match(ws.text, /Invalid or unacceptable Sec-WebSocket-Extensions header$/, offer);
        }
        const strictBad = ["permessage-deflate; server_max_window_bits=11", "permessage-deflate"];
        for (const offer of strictBad) {
          const ws = await wsConnect(strict.port, "", `Sec-WebSocket-Extensions: ${offer}\r\n`);
          assert.equal(ws.status, 400, offer);
        }
        const good = [
          ["x-webkit-deflate-frame", null],
          ["permessage-deflate; client_max_window_bits=\"10\"", { server_no_context_takeover: true, client_max_window_bits: 10 }],
          ["permessage-deflate ; server_max_window_bits=0x9 ; client_no_context_takeover",
           { server_no_context_takeover: true, server_max_window_bits: 9, client_no_context_takeover: true }],
          ["foo, permessage-deflate; server_max_window_bits=\"1\\3\"", { server_no_context_takeover: true, server_max_window_bits: 13 }],
        ];
        for (const [offer, want] of good) {
          const ws = await wsConnect(srv.port, "", `Sec-WebSocket-Extensions: ${offer}\r\n`);
          assert.equal(ws.status, 101, offer);
          const h = extHeader(ws.head);
          if (want === null) assert.equal(h, null, offer);
          else {
            // Node answers server_no_context_takeover only when asked.
            const got = parseExt(h);
            got.server_no_context_takeover = true;
            assert.deepEqual(got, want, offer);
          }
          ws.socket.destroy();
        }
        // Without perMessageDeflate the header is ignored, valid or not.
        const off = await wsConnect(plain.port, "", "Sec-WebSocket-Extensions: permessage-deflate; foo\r\n");
        assert.equal(off.status, 101);
        assert.equal(extHeader(off.head), null);
        off.socket.destroy();
      });

      test("RSV1 where it has no place: 1002", async () => {
        const cases = [
          [plain, (ws) => ws.send(frame(1, deflateRaw(Buffer.from("4hello")), { rsv: 4 }))],
          [srv, (ws) => { ws.send(frame(1, "4he", { fin: false })); ws.send(frame(0, "llo", { rsv: 4 })); }],
          [srv, (ws) => ws.send(frame(9, "", { rsv: 4 }))],
        ];
        for (const [s, act] of cases) {
          const ws = await wsConnect(s.port, "", s === plain ? "" :
            "Sec-WebSocket-Extensions: permessage-deflate\r\n");
          await ws.waitFrame((f) => f.opcode === 1);
          act(ws);
          const c = await ws.waitFrame((f) => f.opcode === 8);
          assert.equal(c.code, 1002);
          ws.socket.destroy();
        }
      });

      test("a compressed bomb is closed with 1009, other clients go on", async () => {
        const other = await wsOpen(`ws://127.0.0.1:${srv.port}/engine.io/?EIO=4&transport=websocket`);
        await other.nth(1);
        const NCT = "permessage-deflate; server_no_context_takeover";
        const ws = await pmdSocket(srv.port, NCT);
        const open = await ws.waitFrame((f) => f.opcode === 1);
        const sid = JSON.parse(open.data.toString().slice(1)).sid;
        // 50 MB of one byte: about 50 KB compressed, under maxHttpBufferSize.
        const bomb = deflateRaw(Buffer.concat([Buffer.from("4"), Buffer.alloc(50e6, 0x41)]));
        assert.ok(bomb.length < MAX, String(bomb.length));
        ws.send(frame(1, bomb, { rsv: 4 }));
        const c = await ws.waitFrame((f) => f.opcode === 8, 20000);
        assert.equal(c.code, 1009);
        const closed = await srv.waitFor((e) => e.event === "close" && e.id === sid);
        assert.equal(closed.reason, "transport error");
        await ws.closedPromise;
        // Just over the bound is refused as well, just under it delivered.
        const edge = await pmdSocket(srv.port, NCT);
        await edge.waitFrame((f) => f.opcode === 1);
        edge.send(frame(1, deflateRaw(Buffer.from("4" + "z".repeat(MAX - 1))), { rsv: 4 }));
        const ok = await edge.waitFrame((f) => f.opcode === 1 && f.data.length > 10 &&
          (f.rsv ? inflateRaw(f.data) : f.data).length === MAX);
        assert.ok(ok);
        edge.send(frame(1, deflateRaw(Buffer.from("4" + "z".repeat(MAX))), { rsv: 4 }));
        assert.equal((await edge.waitFrame((f) => f.opcode === 8)).code, 1009);
        edge.socket.destroy();
        // The other client never noticed.
        const m = "4" + text(3000, "o");
        other.send(m);
        assert.equal(await other.nth(2), m);
        other.close();
      });

      test("corrupt compressed data: 1007", async () => {
        const ws = await pmdSocket(srv.port, "permessage-deflate");
        await ws.waitFrame((f) => f.opcode === 1);
        ws.send(frame(1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]), { rsv: 4 }));
        assert.equal((await ws.waitFrame((f) => f.opcode === 8)).code, 1007);
        ws.socket.destroy();
      });
    });

    describe("in Chromium", () => {
      let browser;
      before(async () => { browser = await launchBrowser(); });

      test("permessage-deflate negotiated by the browser, messages round-trip", async () => {
        const page = await browser.newPage();
        try {
          const out = await page.evaluate(async (url) => {
            const ws = new WebSocket(url);
            const got = [];
            let wake = null;
            ws.onmessage = (e) => { got.push(e.data); if (wake) wake(); };
            await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
            const next = async (n) => { while (got.length < n) await new Promise((r) => (wake = r)); return got[n - 1]; };
            await next(1);
            let big = "";
            for (let i = 0; big.length < 20000; i++) big += `chromium-${i % 50};`;
            const sent = ["4" + big, "4" + big.slice(7), "4small"];
            for (const m of sent) ws.send(m);
            const echoes = [];
            for (let i = 0; i < sent.length; i++) echoes.push(await next(2 + i));
            ws.close();
            return { extensions: ws.extensions, ok: echoes.every((e, i) => e === sent[i]), n: echoes.length };
          }, `ws://127.0.0.1:${srv.port}/engine.io/?EIO=4&transport=websocket`);
          assert.match(out.extensions, /^permessage-deflate/);
          assert.equal(out.n, 3);
          assert.ok(out.ok);
        } finally {
          await page.close();
        }
      });

      test("polling responses decoded by the browser", async () => {
        const page = await browser.newPage();
        try {
          const encodings = [];
          page.on("response", (r) => {
            if (r.request().method() === "GET") encodings.push(r.headers()["content-encoding"]);
          });
          await page.goto(`http://127.0.0.1:${srv.port}/engine.io/?EIO=4&transport=polling`);
          const out = await page.evaluate(async () => {
            const base = "/engine.io/?EIO=4&transport=polling";
            const sid = JSON.parse((await (await fetch(base)).text()).slice(1)).sid;
            const q = `${base}&sid=${sid}`;
            let big = "";
            for (let i = 0; big.length < 20000; i++) big += `poll-${i % 50};`;
            await fetch(q, { method: "POST", body: "4" + big });
            const body = await (await fetch(q)).text();
            return body === "4" + big;
          });
          assert.ok(out);
          assert.deepEqual(encodings, [undefined, undefined, "gzip"]);
        } finally {
          await page.close();
        }
      });
    });
  });
}
