// Throwaway certificates for the TLS tests, made with the openssl command
// in a temporary folder: a CA, a server certificate it signs for
// 127.0.0.1/localhost, a second one (for reload tests), an expired one,
// and a key that matches none of them.
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "libsio-tls-"));
  const f = (n) => path.join(dir, n);
  const ssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  fs.writeFileSync(f("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
      "-days", "2", "-subj", "/CN=libsio test CA");
  for (const name of ["server", "server2"]) {
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`,
        "-subj", `/CN=${name}`);
    ssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", "san.ext");
  }
  // The server key again, encrypted with a passphrase: legacy PEM
  // encryption (AES-256), which mbedtls 2.28 reads, and PKCS#8 with AES
  // (OpenSSL 3's default), which it does not.
  ssl("rsa", "-in", "server.key", "-out", "server-enc.key", "-aes256", "-traditional",
      "-passout", "pass:hunter2");
  ssl("pkey", "-in", "server.key", "-out", "server-p8.key", "-aes256", "-passout", "pass:hunter2");
  // An expired certificate: openssl ca can set the validity window.
  fs.mkdirSync(f("ca-db"));
  fs.writeFileSync(f("ca-db/index.txt"), "");
  fs.writeFileSync(f("ca-db/serial"), "1000\n");
  fs.writeFileSync(f("ca.cnf"), [
    "[ca]", "default_ca=d", "[d]", `dir=${dir}`, "database=$dir/ca-db/index.txt",
    "serial=$dir/ca-db/serial", "new_certs_dir=$dir/ca-db", "certificate=$dir/ca.pem",
    "private_key=$dir/ca.key", "default_md=sha256", "policy=p", "copy_extensions=copy",
    "[p]", "commonName=supplied", ""].join("\n"));
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "expired.key", "-out", "expired.csr",
      "-subj", "/CN=expired");
  ssl("ca", "-batch", "-config", "ca.cnf", "-in", "expired.csr", "-out", "expired.pem",
      "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-notext");
  return {
    dir,
    ca: fs.readFileSync(f("ca.pem")),
    server: { cert: f("server.pem"), key: f("server.key") },
    server2: { cert: f("server2.pem"), key: f("server2.key") },
    encrypted: { cert: f("server.pem"), key: f("server-enc.key"), passphrase: "hunter2" },
    pkcs8aes: { cert: f("server.pem"), key: f("server-p8.key"), passphrase: "hunter2" },
    expired: { cert: f("expired.pem"), key: f("expired.key") },
    mismatched: { cert: f("server.pem"), key: f("server2.key") },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

module.exports = { makeCerts };
