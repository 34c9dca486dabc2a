// The main job, as a person sees it: the C chat example (examples/chat)
// in a real browser (Debian's Chromium driven by playwright-core). Two
// pages log in two users; a message typed in one appears in the other,
// once over WebSocket and once with the client forced to polling.
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { chromium } = require("playwright-core");
const { BUILD } = require("./lib/harness");
const { makeCerts } = require("./lib/certs");
const https = require("node:https");
const { startRedis } = require("./lib/redis");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

function startChat(extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(BUILD, "chat"), ["--port", "0", "--debug", ...extra],
                        { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
      const m = /listening on (https?:\/\/[^/\s]+)\//.exec(err);
      if (m && !child.url) { child.url = m[1]; resolve(child); }
    });
    child.on("exit", (code) => { if (!child.url) reject(new Error(`chat exited ${code}: ${err}`)); });
    child.log = () => err;
    child.stop = () => new Promise((r) => {
      child.on("exit", (code, sig) => r({ code, sig }));
      child.kill("SIGTERM");
    });
  });
}

function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on("error", reject);
  });
}

describe("chat example in a real browser", () => {
  let chat, browser;
  before(async () => {
    chat = await startChat();
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  after(async () => {
    if (browser) await browser.close();
    const { code, sig } = await chat.stop();
    assert.equal(sig, null, chat.log());
    assert.doesNotMatch(chat.log(), /Sanitizer|runtime error:/);
    assert.equal(code, 0, chat.log());
  });

  test("the client bundle is served the way Node's serveClient does", async () => {
    const r = await get(`${chat.url}/socket.io/socket.io.min.js`);
    assert.equal(r.status, 200);
    const pkg = path.join(__dirname, "node_modules", "socket.io-client");
    const version = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).version;
    assert.equal(r.headers.etag, `"${version}"`);
    assert.equal(r.headers["cache-control"], "public, max-age=0");
    assert.equal(r.headers["content-type"], "application/javascript; charset=utf-8");
    const file = fs.readFileSync(path.join(pkg, "dist", "socket.io.min.js"));
    assert.ok(r.body.equals(file));
    const again = await get(`${chat.url}/socket.io/socket.io.min.js`, { "if-none-match": `"${version}"` });
    assert.equal(again.status, 304);
    const map = await get(`${chat.url}/socket.io/socket.io.min.js.map`);
    assert.equal(map.headers["content-type"], "application/json; charset=utf-8");
  });

  test("--cert/--key: the page and the bundle over https, then a chat over wss", async () => {
    const certs = makeCerts();
    const secure = await startChat(["--cert", certs.server.cert, "--key", certs.server.key]);
    try {
      assert.match(secure.url, /^https:/);
      const page = await new Promise((resolve, reject) => {
        https.get(secure.url + "/", { ca: certs.ca, agent: false }, (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode, body }));
        }).on("error", reject);
      });
      assert.equal(page.status, 200);
      assert.match(page.body, /socket\.io\.min\.js/);
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
      const p = await ctx.newPage();
      await p.goto(`${secure.url}/?transport=websocket`);
      await p.fill("#nickname", "tls-user");
      await p.press("#nickname", "Enter");
      await p.waitForSelector('#status:has-text("connected (websocket)")');
      await p.waitForSelector('#messages .notice:has-text("there is 1 participant")');
      await ctx.close();
    } finally {
      const { code } = await secure.stop();
      certs.cleanup();
      assert.equal(code, 0, secure.log());
    }
  });

  test("clear errors: a port in use, a missing page folder", async () => {
    const { spawnSync } = require("node:child_process");
    const port = new URL(chat.url).port;
    const inUse = spawnSync(path.join(BUILD, "chat"), ["--port", port], { encoding: "utf8" });
    assert.equal(inUse.status, 1);
    assert.match(inUse.stderr, /cannot listen on 127\.0\.0\.1:\d+: Address already in use/);
    const missing = spawnSync(path.join(BUILD, "chat"), ["--public", "/nonexistent"], { encoding: "utf8" });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /the page is missing/);
    const help = spawnSync(path.join(BUILD, "chat"), ["--help"], { encoding: "utf8" });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--port N/);
  });

  test("--redis: two chat servers, one Redis, a message crosses between them", async () => {
    const redis = await startRedis();
    const one = await startChat(["--redis", redis.url]);
    const two = await startChat(["--redis", redis.url]);
    try {
      const ctxA = await browser.newContext();
      const ctxB = await browser.newContext();
      const a = await ctxA.newPage();
      const b = await ctxB.newPage();
      for (const [page, url, name] of [[a, one.url, "ann"], [b, two.url, "ben"]]) {
        await page.goto(url + "/");
        await page.fill("#nickname", name);
        await page.press("#nickname", "Enter");
        await page.waitForSelector('#status:has-text("connected")');
      }
      await a.waitForSelector('#messages .notice:has-text("ben joined")');
      await a.fill("#message", "across the cluster");
      await a.press("#message", "Enter");
      await b.waitForSelector('#messages li.message:has-text("across the cluster")');
      await ctxA.close();
      await ctxB.close();
    } finally {
      for (const c of [one, two]) {
        const { code } = await c.stop();
        assert.equal(code, 0, c.log());
      }
      await redis.stop();
    }
  });

  test("--redis: a bad URL is refused, an unreachable Redis is said clearly", async () => {
    const { spawnSync } = require("node:child_process");
    const bad = spawnSync(path.join(BUILD, "chat"), ["--port", "0", "--redis", "http://x"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /invalid Redis URL/);
    const lone = await startChat(["--redis", "redis://127.0.0.1:1"]);
    try {
      const deadline = Date.now() + 5000;
      while (!/127\.0\.0\.1:1 .*reconnecting with backoff/.test(lone.log()) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.match(lone.log(), /127\.0\.0\.1:1 .*reconnecting with backoff/);
      // and it still serves its own users
      const page = await new Promise((resolve, reject) => {
        http.get(lone.url + "/", { agent: false }, (res) => { res.resume(); resolve(res.statusCode); }).on("error", reject);
      });
      assert.equal(page, 200);
    } finally {
      const { code } = await lone.stop();
      assert.equal(code, 0, lone.log());
    }
  });

  for (const transport of ["websocket", "polling"]) {
    test(`two users chat over ${transport}`, async () => {
      const ctxA = await browser.newContext();
      const ctxB = await browser.newContext();
      const a = await ctxA.newPage();
      const b = await ctxB.newPage();
      const login = async (page, name) => {
        await page.goto(`${chat.url}/?transport=${transport}`);
        await page.fill("#nickname", name);
        await page.press("#nickname", "Enter");
        await page.waitForSelector(`#status:has-text("connected (${transport})")`);
      };
      await login(a, `alice-${transport}`);
      await a.waitForSelector('#messages .notice:has-text("there is 1 participant")');
      await login(b, `bob-${transport}`);
      await a.waitForSelector(`#messages .notice:has-text("bob-${transport} joined")`);
      await a.waitForSelector('#messages .notice:has-text("there are 2 participants")');

      await b.type("#message", "typing slowly", { delay: 20 });
      await a.waitForSelector(`#typing:has-text("bob-${transport} is typing")`);
      await b.fill("#message", "");

      await a.fill("#message", `hello from alice over ${transport}`);
      await a.press("#message", "Enter");
      const got = b.locator("#messages li.message").last();
      await got.waitFor();
      assert.equal(await got.locator(".user").textContent(), `alice-${transport}`);
      assert.equal(await got.locator(".body").textContent(), `hello from alice over ${transport}`);

      await b.fill("#message", "hi alice");
      await b.press("#message", "Enter");
      await a.waitForSelector('#messages li.message:has-text("hi alice")');

      await b.screenshot({ path: path.join(BUILD, `chat-${transport}.png`) });
      await ctxB.close();
      await a.waitForSelector(`#messages .notice:has-text("bob-${transport} left")`);
      await ctxA.close();
    });
  }
});
