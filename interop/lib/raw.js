// Raw HTTP and WebSocket peers for the tests that must send what no
// well-behaved client sends (bad frames, bad requests), and that read the
// server's exact answers.
"use strict";
const net = require("node:net");
const crypto = require("node:crypto");

// Sends raw bytes, returns everything the server sent until it closed the
// connection (or until ms passed, with closed=false).
function rawExchange(port, data, ms = 5000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const chunks = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      resolve({ data: Buffer.concat(chunks).toString("latin1"), closed });
    };
    const t = setTimeout(() => finish(false), ms);
    s.on("connect", () => s.write(data));
    s.on("data", (d) => chunks.push(d));
    s.on("end", () => finish(true));
    s.on("close", () => finish(true));
    s.on("error", (e) => (e.code === "ECONNRESET" ? finish(true) : reject(e)));
  });
}

// Parses "HTTP/1.1 400 ...\r\nheaders\r\n\r\nbody" (Content-Length or
// chunked bodies).
function parseResponse(text) {
  const i = text.indexOf("\r\n\r\n");
  if (i < 0) return null;
  const lines = text.slice(0, i).split("\r\n");
  const status = Number(lines[0].split(" ")[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const k = l.indexOf(":");
    headers[l.slice(0, k).toLowerCase()] = l.slice(k + 1).trim();
  }
  let body = text.slice(i + 4);
  if (/chunked/i.test(headers["transfer-encoding"] || "")) {
    let out = "";
    let rest = body;
    for (;;) {
      const e = rest.indexOf("\r\n");
      const n = parseInt(rest.slice(0, e), 16);
      if (!n) break;
      out += rest.slice(e + 2, e + 2 + n);
      rest = rest.slice(e + 2 + n + 2);
    }
    body = out;
  } else if (headers["content-length"] !== undefined) {
    body = body.slice(0, Number(headers["content-length"]));
  }
  return { status, headers, body };
}

// A minimal client-side WebSocket over a raw socket. frame() builds frames
// with any header bits, masked or not.
function frame(opcode, payload, { fin = true, mask = true, rsv = 0 } = {}) {
  payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = payload.length;
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode)];
  if (len < 126) head.push((mask ? 0x80 : 0) | len);
  else if (len < 65536) head.push((mask ? 0x80 : 0) | 126, len >> 8, len & 255);
  else {
    head.push((mask ? 0x80 : 0) | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

// Opens a WebSocket with a raw handshake. Resolves with
// { status, socket, frames, closed, waitFrame(pred), send(buf) } where frames
// are {opcode, data, code}; a non-101 answer resolves with status and text.
function wsConnect(port, query, extraHeaders = "", path = "/engine.io/") {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const key = crypto.randomBytes(16).toString("base64");
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const frames = [];
    const waiters = [];
    const st = { socket: s, frames, closed: false, status: 0, text: "" };
    let closedResolve;
    st.closedPromise = new Promise((r) => (closedResolve = r));
    st.send = (b) => s.write(b);
    st.waitFrame = (pred, ms = 5000) => {
      const f = frames.find(pred);
      if (f) return Promise.resolve(f);
      return new Promise((res, rej) => {
        const w = { pred, res };
        waiters.push(w);
        setTimeout(() => rej(new Error("no such frame; got " + JSON.stringify(frames))), ms);
      });
    };
    const parseFrames = () => {
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const f = { opcode: buf[0] & 0x0f, rsv: (buf[0] >> 4) & 7, data: buf.subarray(off, off + len) };
        if (f.opcode === 8) {
          f.code = len >= 2 ? f.data.readUInt16BE(0) : 1005;
          // Answer the close handshake as a real client does.
          if (!st.closeSent && !s.destroyed) {
            st.closeSent = true;
            s.write(frame(8, len >= 2 ? f.data.subarray(0, 2) : Buffer.alloc(0)));
          }
        }
        buf = buf.subarray(off + len);
        frames.push(f);
        for (const w of [...waiters]) if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); w.res(f); }
      }
    };
    s.on("connect", () => {
      s.write(`GET ${path}?EIO=4&transport=websocket${query ? "&" + query : ""} HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`);
    });
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const i = buf.indexOf("\r\n\r\n");
        if (i < 0) return;
        const head = buf.subarray(0, i).toString("latin1");
        st.status = Number(head.split(" ")[1]);
        if (st.status !== 101) {
          st.text = buf.toString("latin1");
          return;
        }
        upgraded = true;
        st.head = head;
        buf = buf.subarray(i + 4);
        resolve(st);
      }
      parseFrames();
    });
    s.on("close", () => {
      st.closed = true;
      closedResolve();
      if (!upgraded) resolve(st);
    });
    s.on("error", (e) => { if (!upgraded && e.code !== "ECONNRESET") reject(e); });
  });
}

module.exports = { rawExchange, parseResponse, frame, wsConnect };
