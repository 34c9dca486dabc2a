// Starts the C test servers (built under SIO_BUILD_DIR, default ../build)
// or their Node twins, reads their JSON-lines events, and stops them,
// checking that they exit cleanly (no sanitizer report, no leak).
"use strict";
const { spawn } = require("node:child_process");
const path = require("node:path");
const readline = require("node:readline");
const assert = require("node:assert/strict");

const ROOT = path.resolve(__dirname, "..", "..");
const BUILD = process.env.SIO_BUILD_DIR
  ? path.resolve(process.env.SIO_BUILD_DIR)
  : path.join(ROOT, "build", "asan");

// Which servers the suites run against: "c", "node", or both.
function serverKinds() {
  return (process.env.SIO_SERVERS || "c,node").split(",").filter(Boolean);
}

// spawnOpts.asan: extra ASAN_OPTIONS for the C server (e.g. a small
// quarantine where a suite measures RSS); spawnOpts.env: more environment
// (e.g. SIO_WORKERS for a suite that needs several loops).
async function startServer(kind, program, options = {}, spawnOpts = {}) {
  if (program === "sio_test_server" && kind === "c")
    options = { clientDir: path.join(__dirname, "..", "node_modules", "socket.io-client", "dist"), ...options };
  const cmd = kind === "c"
    ? [path.join(spawnOpts.build || BUILD, program), [JSON.stringify(options)]]
    : [process.execPath, [path.join(__dirname, "..", `${program.replace("_test_", "_ref_")}.js`),
                          JSON.stringify(options)]];
  const child = spawn(cmd[0], cmd[1], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...(spawnOpts.env || {}), ASAN_OPTIONS: "detect_leaks=1:abort_on_error=0:exitcode=23" +
      (spawnOpts.asan ? ":" + spawnOpts.asan : "") },
  });
  const events = [];
  const waiters = [];
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const rl = readline.createInterface({ input: child.stdout });
  rl.on("line", (l) => {
    let ev;
    try { ev = JSON.parse(l); } catch { return; }
    ev.at = Date.now();
    events.push(ev);
    for (const w of [...waiters]) {
      if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
    }
  });
  const exited = new Promise((resolve) => child.on("exit", (code, sig) => resolve({ code, sig })));

  const waitFor = (pred, ms = 10000, what = "event") => {
    const found = events.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      waiters.push(w);
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`));
      }, ms);
      const orig = w.resolve;
      w.resolve = (ev) => { clearTimeout(t); orig(ev); };
    });
  };
  const listening = await Promise.race([
    waitFor((e) => e.event === "listening", 15000, "listening"),
    exited.then((x) => { throw new Error(`server exited early ${JSON.stringify(x)}: ${stderr}`); }),
  ]).catch((e) => {
    // a server that never said it listens must not stay behind (it may
    // still join a Redis cluster and be counted by the next suite)
    child.kill("SIGKILL");
    throw e;
  });
  return {
    kind,
    pid: child.pid,
    port: listening.port,
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${listening.port}`,
    events,
    waitFor,
    get stderr() { return stderr; },
    // Stops the server and asserts a clean exit: status 0, and nothing from
    // AddressSanitizer, LeakSanitizer or UBSan on stderr.
    async stop() {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 15000);
      const { code, sig } = await exited;
      clearTimeout(t);
      assert.equal(sig, null, `server killed by ${sig}; stderr: ${stderr}`);
      assert.doesNotMatch(stderr, /Sanitizer|runtime error:/, stderr);
      assert.equal(code, 0, `server exit status ${code}; stderr: ${stderr}`);
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { startServer, serverKinds, sleep, ROOT, BUILD };
