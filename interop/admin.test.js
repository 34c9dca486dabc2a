// @socket.io/admin-ui across a mixed cluster: the UI bundled in the npm
// package (ui/dist), served by this test, in Debian's Chromium driven by
// playwright-core. Three servers share one redis-server: two C test
// servers (sio_admin_instrument) and the Node twin (socket.io 4.8 +
// instrument() from @socket.io/admin-ui + the Redis adapter), each with its
// own serverId. The UI logs in to one of them (a C server, then the Node
// twin: the same expectations hold for both), sees the three servers with
// their client counts, sees a socket appear on another server, makes it
// join a room and disconnects it; a wrong password is refused.
// Screenshots land in build/asan/admin-*.png.
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const bcrypt = require("bcryptjs");
const { chromium } = require("playwright-core");
const { io } = require("socket.io-client");
const { startServer, serverKinds, BUILD } = require("./lib/harness");
const { startRedis } = require("./lib/redis");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const UI_DIR = path.join(__dirname, "node_modules", "@socket.io", "admin-ui", "ui", "dist");
const PASSWORD = "s3cret-pass";
const HASH = bcrypt.hashSync(PASSWORD, 6); // a low cost keeps the suite quick

const TYPES = { ".html": "text/html", ".js": "application/javascript", ".css": "text/css",
                ".svg": "image/svg+xml", ".png": "image/png", ".map": "application/json" };

// The bundled UI, as `serve ui/dist` would: static files, index.html at /.
function serveUi() {
  const srv = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = path.join(UI_DIR, rel === "/" ? "index.html" : rel);
    if (!file.startsWith(UI_DIR) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => {
    srv.url = `http://127.0.0.1:${srv.address().port}`;
    resolve(srv);
  }));
}

const connect = (url, opts = {}) => new Promise((resolve, reject) => {
  const s = io(url, { forceNew: true, reconnection: false, transports: ["websocket"], ...opts });
  s.on("connect", () => resolve(s));
  s.on("connect_error", reject);
});

const shot = (page, name) => page.screenshot({ path: path.join(BUILD, `admin-${name}.png`), fullPage: true });

// The admin namespace's protocol without a browser, on one server of each
// kind with the same options: what a UI receives must be the same.
for (const kind of serverKinds()) {
  describe(`admin namespace protocol: ${kind}`, () => {
    const collect = (s) => {
      const got = [];
      s.onAny((ev, ...args) => got.push([ev, ...args]));
      return got;
    };

    test("development mode: config, all_sockets, socket/room/event traffic, commands", async () => {
      const srv = await startServer(kind, "sio_test_server", {
        admin: { username: "admin", passwordHash: HASH, serverId: "dev-1" } });
      try {
        const admin = io(srv.url + "/admin", { forceNew: true, reconnection: false,
          transports: ["websocket"], auth: { username: "admin", password: PASSWORD } });
        const got = collect(admin);
        await new Promise((r, j) => { admin.on("connect", r); admin.on("connect_error", j); });
        const user = await connect(srv.url, { auth: { token: "t" } });
        const uid = user.id; // socket.id is cleared on disconnect
        user.on("server-ack", (x, cb) => cb(x));
        await user.timeout(5000).emitWithAck("echo", "hello");
        admin.emit("join", "/", "vip", uid);
        const gone = new Promise((r) => user.on("disconnect", r));
        await new Promise((r) => setTimeout(r, 300));
        admin.emit("_disconnect", "/", false, uid);
        assert.equal(await gone, "io server disconnect");
        await new Promise((r) => setTimeout(r, 2300));
        const names = (ev) => got.filter((x) => x[0] === ev);
        assert.match(names("session")[0][1], /^[0-9a-f]{16}$/);
        assert.deepEqual(names("config")[0][1], { supportedFeatures:
          ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT",
           "AGGREGATED_EVENTS", "ALL_EVENTS"] });
        const all = names("all_sockets")[0][1];
        assert.deepEqual(all.map((x) => x.nsp), ["/admin"]);
        assert.deepEqual(Object.keys(all[0]).sort(),
                         ["clientId", "data", "handshake", "id", "nsp", "rooms", "transport"]);
        assert.deepEqual(Object.keys(all[0].handshake).sort(),
                         ["address", "headers", "issued", "query", "secure", "time", "url", "xdomain"]);
        const conn = names("socket_connected").find((x) => x[1].id === uid);
        assert.equal(conn[1].nsp, "/");
        assert.equal(conn[1].transport, "websocket");
        assert.deepEqual(conn[1].rooms, [uid]);
        assert.deepEqual(conn[1].data, {});
        assert.match(conn[2], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        const rx = names("event_received").find((x) => x[2] === uid);
        assert.deepEqual(rx.slice(1, 4), ["/", uid, ["echo", "hello"]]);
        assert.ok(names("event_sent").some((x) => x[2] === uid && x[3][0] === "auth"));
        assert.ok(names("room_joined").some((x) => x[1] === "/" && x[2] === "vip" && x[3] === uid));
        assert.deepEqual(names("room_left").filter((x) => x[3] === uid).map((x) => x[2]).sort(),
                         [uid, "vip"].sort());
        const disc = names("socket_disconnected").find((x) => x[2] === uid);
        assert.deepEqual(disc.slice(1, 4), ["/", uid, "server namespace disconnect"]);
        // the rooms are left after the disconnection is told (Node: a tick later)
        const at = (pred) => got.findIndex(pred);
        assert.ok(at((x) => x[0] === "socket_disconnected" && x[2] === uid) <
                  at((x) => x[0] === "room_left" && x[3] === uid));
        const stats = names("server_stats").map((x) => x[1]);
        assert.ok(stats.length >= 1);
        const last = stats[stats.length - 1];
        assert.equal(last.serverId, "dev-1");
        assert.equal(typeof last.pid, "number");
        assert.equal(last.clientsCount, 1);
        assert.equal(last.pollingClientsCount, 0);
        assert.ok(last.namespaces.some((n) => n.name === "/admin" && n.socketsCount === 1));
        const agg = stats.flatMap((x) => x.aggregatedEvents);
        const sum = (type, sub) => agg.filter((e) => e.type === type && e.subType === sub)
                                      .reduce((a, e) => a + e.count, 0);
        assert.equal(sum("rawConnection"), 2);
        assert.ok(sum("packetsIn") >= 3 && sum("bytesIn") > 0 && sum("packetsOut") >= 5);
        assert.equal(sum("rawDisconnection", "transport close"), 1); // the client left after io server disconnect
        admin.close();
        user.close();
      } finally {
        await srv.stop();
      }
    });

    // Several clients (on several loops when the C server runs workers):
    // the stats, all_sockets and the commands cover every one of them.
    test("stats, all_sockets and commands cover every client", async () => {
      const srv = await startServer(kind, "sio_test_server", {
        admin: { serverId: "many-1" } });
      const users = [];
      try {
        for (let i = 0; i < 6; i++)
          users.push(await connect(srv.url, i % 2 ? { transports: ["polling"] } : {}));
        const ids = users.map((u) => u.id);
        const admin = io(srv.url + "/admin", { forceNew: true, reconnection: false,
                                               transports: ["websocket"] });
        const got = collect(admin);
        await new Promise((r, j) => { admin.on("connect", r); admin.on("connect_error", j); });
        for (const u of users) await u.timeout(5000).emitWithAck("echo", "x");
        await new Promise((r) => setTimeout(r, 300));
        const all = got.find((x) => x[0] === "all_sockets")[1];
        assert.deepEqual(all.filter((x) => x.nsp === "/").map((x) => x.id).sort(), [...ids].sort());
        for (const id of ids) admin.emit("join", "/", "room-all", id);
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(
          (await users[0].timeout(5000).emitWithAck("fetch", { rooms: ["room-all"] })).map((x) => x.id).sort(),
          [...ids].sort());
        const joined = got.filter((x) => x[0] === "room_joined" && x[2] === "room-all").map((x) => x[3]);
        assert.deepEqual(joined.sort(), [...ids].sort());
        await new Promise((r) => setTimeout(r, 2300));
        const st = got.filter((x) => x[0] === "server_stats").pop()[1];
        assert.equal(st.clientsCount, 7);
        assert.equal(st.pollingClientsCount, 3);
        assert.equal(st.namespaces.find((n) => n.name === "/").socketsCount, 6);
        const agg = got.filter((x) => x[0] === "server_stats").flatMap((x) => x[1].aggregatedEvents);
        assert.equal(agg.filter((e) => e.type === "rawConnection").reduce((a, e) => a + e.count, 0), 7);
        const gone = users.map((u) => new Promise((r) => u.on("disconnect", r)));
        for (const id of ids) admin.emit("_disconnect", "/", false, id);
        assert.deepEqual(await Promise.all(gone), ids.map(() => "io server disconnect"));
        await new Promise((r) => setTimeout(r, 300));
        const disc = got.filter((x) => x[0] === "socket_disconnected").map((x) => x[2]);
        assert.deepEqual(disc.sort(), [...ids].sort());
        admin.close();
      } finally {
        for (const u of users) u.close();
        await srv.stop();
      }
    });

    test("production + readonly, no auth: stats only, commands ignored", async () => {
      const srv = await startServer(kind, "sio_test_server", {
        admin: { readonly: true, mode: "production", serverId: "prod-1" } });
      try {
        const admin = io(srv.url + "/admin", { forceNew: true, reconnection: false,
                                               transports: ["websocket"] });
        const got = collect(admin);
        await new Promise((r, j) => { admin.on("connect", r); admin.on("connect_error", j); });
        const user = await connect(srv.url);
        await user.timeout(5000).emitWithAck("echo", "hello");
        admin.emit("join", "/", "vip", user.id);
        admin.emit("_disconnect", "/", false, user.id);
        await new Promise((r) => setTimeout(r, 2300));
        assert.ok(user.connected, "readonly: _disconnect ignored");
        assert.deepEqual(await user.timeout(5000).emitWithAck("fetch", { rooms: ["vip"] }), []);
        const events = [...new Set(got.map((x) => x[0]))].sort();
        assert.deepEqual(events, ["config", "server_stats"]);
        assert.deepEqual(got.find((x) => x[0] === "config")[1],
                         { supportedFeatures: ["AGGREGATED_EVENTS"] });
        const st = got.filter((x) => x[0] === "server_stats").pop()[1];
        assert.equal(st.serverId, "prod-1");
        assert.equal(st.clientsCount, 2);
        admin.close();
        user.close();
      } finally {
        await srv.stop();
      }
    });
  });
}

// One cluster and one browser for both rounds; each round has its own
// browser context (fresh localStorage) and its own clients.
describe("admin UI on a 2 C + 1 Node cluster", () => {
  let redis, servers, ui, browser;
  before(async () => {
    redis = await startRedis();
    const opts = (serverId) => ({ redis: redis.url, cors: true,
                                  admin: { username: "admin", passwordHash: HASH, serverId } });
    servers = {};
    await Promise.all([["c-1", "c"], ["c-2", "c"], ["node-1", "node"]].map(async ([id, k]) => {
      servers[id] = await startServer(k, "sio_test_server", opts(id));
    }));
    ui = await serveUi();
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  after(async () => {
    if (browser) await browser.close();
    if (ui) await new Promise((r) => ui.close(r));
    for (const s of Object.values(servers || {})) await s.stop();
    if (redis) await redis.stop();
  });

  for (const kind of serverKinds()) {
    describe(`logged in to the ${kind} server`, () => {
      let context, page;
      const clients = [];
      const entry = kind === "c" ? "c-1" : "node-1";

      before(async () => {
        context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
        page = await context.newPage();
        // one socket on each server before the UI comes
        for (const id of ["c-1", "c-2", "node-1"]) clients.push(await connect(servers[id].url));
      });
      after(async () => {
        for (const c of clients) c.close();
        if (context) await context.close();
        await new Promise((r) => setTimeout(r, 300)); // the next round counts clients
      });
      async function login(password) {
        await page.goto(ui.url + "/");
        const dialog = page.locator(".v-dialog--active");
        await dialog.getByLabel("Server URL").fill(servers[entry].url);
        await dialog.getByLabel("Username").fill("admin");
        await dialog.getByLabel("Password").fill(password);
        await dialog.getByRole("button", { name: "Connect" }).click();
      }

      test("a wrong password is refused", async () => {
        await login("wrong-password");
        await page.getByText("Invalid credentials").waitFor({ timeout: 10000 });
        await shot(page, `${kind}-refused`);
      });

      test("logs in and sees the three servers with their client counts", async () => {
        await login(PASSWORD);
        await page.locator(".v-dialog--active").waitFor({ state: "detached", timeout: 15000 });
        await page.goto(ui.url + "/#/servers/");
        // c-1/node-1: the UI's own connection is one more client on the entry server
        const expected = { "c-1": 1, "c-2": 1, "node-1": 1 };
        expected[entry] += 1;
        // the Servers table (the one with a Hostname column) lists exactly
        // these servers, each with its client count
        const rows = () => page.evaluate(() => {
          const table = [...document.querySelectorAll("table")]
            .find((t) => /Hostname/.test(t.querySelector("thead")?.textContent || ""));
          if (!table) return null;
          const out = {};
          for (const tr of table.querySelectorAll("tbody tr")) {
            const cells = [...tr.querySelectorAll("td")].map((td) => td.textContent.trim());
            out[cells[0]] = Number(cells[4]);
          }
          return out;
        });
        let seen;
        for (let i = 0; i < 150; i++) {
          seen = await rows();
          if (JSON.stringify(seen) === JSON.stringify(expected)) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(seen, expected);
        await shot(page, `${kind}-servers`);
      });

      test("a socket on another server appears, joins a room from the UI, is disconnected", async () => {
        await page.goto(ui.url + "/#/sockets/");
        for (const c of clients) await page.getByText(c.id).waitFor({ timeout: 15000 });
        const other = kind === "c" ? "c-2" : "c-1";
        const s = await connect(servers[other].url);
        clients.push(s);
        const row = page.locator("tbody tr", { hasText: s.id });
        await row.waitFor({ timeout: 15000 });
        await shot(page, `${kind}-sockets`);

        await row.click();
        await page.getByText("Join a room").waitFor();
        const combo = page.getByLabel("Join a room");
        await combo.fill("vip");
        await page.locator("form", { has: combo }).locator("button[type=submit]").click();
        // the room reaches the socket's server: fetchSockets from another server sees it
        const probe = clients[2];
        await assert.doesNotReject(async () => {
          for (let i = 0; i < 100; i++) {
            const list = await probe.timeout(5000).emitWithAck("fetch", { rooms: ["vip"] });
            if (list.length === 1 && list[0].id === s.id) return;
            await new Promise((r) => setTimeout(r, 100));
          }
          throw new Error("never joined");
        });
        await page.locator(".v-chip, td, a", { hasText: "vip" }).first().waitFor({ timeout: 15000 });
        await shot(page, `${kind}-joined`);

        const gone = new Promise((r) => s.on("disconnect", r));
        await page.getByRole("link", { name: "Sockets" }).first().click();
        await page.getByText("Select namespace").waitFor();
        // the list row (the detail page may still be fading out)
        const listed = page.getByRole("row", { name: `${s.id} 127.0.0.1` });
        await listed.waitFor();
        await listed.locator("button").click();
        assert.equal(await gone, "io server disconnect");
        await listed.waitFor({ state: "detached", timeout: 15000 });
        await shot(page, `${kind}-disconnected`);
      });
    });
  }
});
