// TLS: https long-polling and wss on one port, against the C servers and
// their Node twins started with the same throwaway certificate.
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const net = require("node:net");
const tls = require("node:tls");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { Socket } = require("engine.io-client");
const { io } = require("socket.io-client");
const { startServer, serverKinds, sleep, BUILD } = require("./lib/harness");
const { makeCerts } = require("./lib/certs");

const certs = makeCerts();
process.on("exit", () => certs.cleanup());

function eioConnect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = new Socket(url, { ca: certs.ca, ...opts });
    s.on("open", () => resolve(s));
    s.on("error", reject);
  });
}

function echo(s, msgs) {
  return new Promise((resolve) => {
    const got = [];
    s.on("message", (d) => { got.push(d); if (got.length === msgs.length) resolve(got); });
    for (const m of msgs) s.send(m);
  });
}

// Raw TCP: send bytes, report what came back and whether the server closed.
function rawTcp(port, data, ms = 3000) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    const chunks = [];
    const t = setTimeout(() => { s.destroy(); resolve({ closed: false, data: Buffer.concat(chunks) }); }, ms);
    s.on("connect", () => { if (data) s.write(data); });
    s.on("data", (d) => chunks.push(d));
    s.on("close", () => { clearTimeout(t); resolve({ closed: true, data: Buffer.concat(chunks) }); });
    s.on("error", () => {});
  });
}

function peerSerial(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: "127.0.0.1", ca: certs.ca, servername: "localhost" }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.end();
      resolve(serial);
    });
    s.on("error", reject);
  });
}

for (const kind of serverKinds()) {
  describe(`TLS: ${kind}`, () => {
    let srv;
    before(async () => {
      // Each run gets its own copy of the files, so the reload test can
      // swap them.
      const own = { cert: path.join(certs.dir, `${kind}-cert.pem`), key: path.join(certs.dir, `${kind}-key.pem`) };
      fs.copyFileSync(certs.server.cert, own.cert);
      fs.copyFileSync(certs.server.key, own.key);
      srv = await startServer(kind, "eio_test_server", { tls: own, httpRequestTimeout: 1000 });
      srv.own = own;
    });
    after(async () => srv.stop());

    for (const [name, opts] of [["polling", { transports: ["polling"] }],
                                ["websocket", { transports: ["websocket"] }],
                                ["upgrade", {}]]) {
      test(`engine.io-client over ${name}: text and binary, large messages across records`, async () => {
        assert.match(srv.url, /^https:/);
        const s = await eioConnect(srv.url, opts);
        if (name === "upgrade") await new Promise((r) => s.once("upgrade", r));
        const big = "é".repeat(50000); // 100 KB of UTF-8: several TLS records
        const msgs = ["hello", Buffer.from([1, 2, 3]), big, Buffer.alloc(70000, 5)];
        const got = await echo(s, msgs);
        assert.equal(got[0], "hello");
        assert.deepEqual(Buffer.from(got[1]), msgs[1]);
        assert.equal(got[2], big);
        assert.deepEqual(Buffer.from(got[3]), msgs[3]);
        s.close();
      });
    }

    test("a client that does not trust the certificate is refused by the client", async () => {
      await assert.rejects(eioConnect(srv.url, { ca: undefined, transports: ["websocket"] }));
    });

    test("a plain HTTP request to the TLS port gets no HTTP answer and is closed", async () => {
      const r = await rawTcp(srv.port, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(r.closed, true);
      assert.doesNotMatch(r.data.toString("latin1"), /^HTTP\/1\.1 200/);
    });

    test("garbage instead of a ClientHello is closed", async () => {
      const r = await rawTcp(srv.port, Buffer.from("\x16\x03\x01\x00\x05garbage-garbage-garbage", "latin1"));
      assert.equal(r.closed, true);
    });

    test("a client that stalls mid-handshake is timed out", async () => {
      // The first bytes of a ClientHello record, then nothing.
      const r = await rawTcp(srv.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 6000);
      assert.equal(r.closed, true);
    });

    test("a client that vanishes mid-handshake leaves the others unaffected", async () => {
      for (let i = 0; i < 5; i++) {
        const s = tls.connect({ port: srv.port, host: "127.0.0.1", ca: certs.ca });
        s.on("error", () => {});
        s.on("secureConnect", () => s.destroy());
        setTimeout(() => s.destroy(), 2);
      }
      await sleep(200);
      const s = await eioConnect(srv.url, { transports: ["websocket"] });
      assert.deepEqual(await echo(s, ["still fine"]), ["still fine"]);
      s.close();
    });

    test("certificate reload (SIGHUP) without dropping open connections", async () => {
      const open = await eioConnect(srv.url, { transports: ["websocket"] });
      const before = await peerSerial(srv.port);
      fs.copyFileSync(certs.server2.cert, srv.own.cert);
      fs.copyFileSync(certs.server2.key, srv.own.key);
      process.kill(srv.pid, "SIGHUP");
      await srv.waitFor((e) => e.event === "reloaded");
      const afterSerial = await peerSerial(srv.port);
      assert.notEqual(afterSerial, before);
      assert.deepEqual(await echo(open, ["after reload"]), ["after reload"]);
      open.close();
    });

    test("socket.io-client over https and wss: handshake.secure, binary", async () => {
      const sio = await startServer(kind, "sio_test_server", { tls: certs.server });
      try {
        for (const transports of [["polling"], ["websocket"], undefined]) {
          const s = io(sio.url, { ca: certs.ca, forceNew: true, reconnection: false, transports });
          await new Promise((r, j) => { s.once("connect", r); s.once("connect_error", j); });
          const h = await s.emitWithAck("handshake");
          assert.equal(h.secure, true);
          const back = await s.emitWithAck("echo", { b: Buffer.alloc(40000, 3) });
          assert.deepEqual(back, { b: Buffer.alloc(40000, 3) });
          s.close();
        }
      } finally {
        await sio.stop();
      }
    });
  });
}

for (const kind of serverKinds()) {
  test(`${kind}: an encrypted key with its passphrase`, async () => {
    const srv = await startServer(kind, "eio_test_server", { tls: certs.encrypted });
    try {
      const s = await eioConnect(srv.url, { transports: ["websocket"] });
      assert.deepEqual(await echo(s, ["locked key"]), ["locked key"]);
      s.close();
    } finally {
      await srv.stop();
    }
  });
}

test("libsio offers ALPN http/1.1", async () => {
  const srv = await startServer("c", "eio_test_server", { tls: certs.server });
  try {
    const proto = await new Promise((resolve, reject) => {
      const s = tls.connect({ port: srv.port, host: "127.0.0.1", ca: certs.ca,
                              ALPNProtocols: ["h2", "http/1.1"] }, () => {
        resolve(s.alpnProtocol);
        s.end();
      });
      s.on("error", reject);
    });
    assert.equal(proto, "http/1.1");
  } finally {
    await srv.stop();
  }
});

describe("TLS options checked at start (libsio)", () => {
  const run = (tlsOpts) => spawnSync(path.join(BUILD, "eio_test_server"),
                                     [JSON.stringify({ tls: tlsOpts })], { encoding: "utf8", timeout: 10000 });
  test("an expired certificate: a clear error, exit 1", () => {
    const r = run(certs.expired);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the certificate has expired/);
  });
  test("a key that does not match: a clear error, exit 1", () => {
    const r = run(certs.mismatched);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /private key does not match the certificate/);
  });
  test("a wrong passphrase: a clear error, exit 1", () => {
    const r = run({ ...certs.encrypted, passphrase: "wrong" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot load the private key/);
  });
  test("a PKCS#8 key encrypted with AES (not readable by mbedtls 2.28): a clear error", () => {
    const r = run(certs.pkcs8aes);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot load the private key .*server-p8\.key: PKCS5/);
  });
  test("a missing file: a clear error, exit 1", () => {
    const r = run({ cert: path.join(certs.dir, "nope.pem"), key: certs.server.key });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot load the certificate .*nope\.pem/);
  });
});
