// The `wsock broadcast` chat page over https in Debian's headless Chromium: the page
// loads over HTTP/2, its WebSocket opens as an extended CONNECT (RFC 8441) on that
// same connection (the server's log says which transport each member came over), and
// it chats with a member on HTTP/1.1 (`wsock connect`) in the same room.
// Run by scripts/test.sh after the release build (`node --test tests/browser/`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { TIMEOUT, freePort, launchChromium } from "./browser.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const binDir = process.env.WSOCK_BIN_DIR || join(root, "target", "release");


// A CA and a certificate for localhost, made for this run with Python's trustme
// (installed in .venv by scripts/test.sh).
function makePki(folder) {
  const script = `
import trustme, sys
ca = trustme.CA()
cert = ca.issue_cert("localhost")
folder = sys.argv[1]
ca.cert_pem.write_to_path(folder + "/ca.pem")
with open(folder + "/cert.pem", "wb") as chain:
    for blob in cert.cert_chain_pems:
        chain.write(blob.bytes())
cert.private_key_pem.write_to_path(folder + "/key.pem")
`;
  execFileSync(join(root, ".venv", "bin", "python"), ["-c", script, folder]);
  return { ca: join(folder, "ca.pem"), cert: join(folder, "cert.pem"), key: join(folder, "key.pem") };
}

let port, pki, folder, chat, log = "", context, profile;

before(async () => {
  folder = mkdtempSync(join(tmpdir(), "wsock-h2-"));
  pki = makePki(folder);
  port = await freePort();
  chat = spawn(join(binDir, "wsock"), [
    "broadcast", "--listen", `127.0.0.1:${port}`, "--tls-cert", pki.cert, "--tls-key", pki.key,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  chat.stderr.on("data", (chunk) => { log += chunk; });
  const deadline = Date.now() + TIMEOUT;
  while (!log.includes("chat on https://")) {
    if (Date.now() > deadline) throw new Error(`wsock broadcast did not start:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  profile = mkdtempSync(join(tmpdir(), "wsock-chromium-"));
  context = await launchChromium(profile, { ignoreHTTPSErrors: true });
});

after(async () => {
  await context?.close();
  if (chat) {
    const exited = new Promise((resolve) => chat.once("exit", resolve));
    chat.kill("SIGTERM");
    await exited;
  }
  for (const dir of [profile, folder]) if (dir) rmSync(dir, { recursive: true, force: true });
});

// `wsock connect` as a member over HTTP/1.1; resolves lines of its output as they come.
function http1Member(name) {
  const proc = spawn(join(binDir, "wsock"), [
    "connect", "--no-proxy", "--ca", pki.ca, `wss://localhost:${port}/ws?room=lobby&name=${name}`,
  ], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (chunk) => { out += chunk; });
  const waitFor = async (text) => {
    const deadline = Date.now() + TIMEOUT;
    while (!out.includes(text)) {
      if (Date.now() > deadline) throw new Error(`${name} never received ${text}:\n${out}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { proc, waitFor };
}

test("the page and its WebSocket run over one HTTP/2 connection, and chat with HTTP/1.1", async () => {
  const page = await context.newPage();
  await page.goto(`https://localhost:${port}/?room=lobby&name=alice`);
  await page.locator('#status[data-state="open"]').waitFor({ timeout: TIMEOUT });
  const protocol = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  assert.equal(protocol, "h2", "the page came over HTTP/2");
  assert.match(log, /path=\/ws[^\n]*over=HTTP\/2/, "the WebSocket came as an extended CONNECT");

  const dave = http1Member("dave");
  await dave.waitFor('"type":"welcome"');
  assert.match(log, /path=\/ws[^\n]*over=HTTP\/1\.1/, "dave came over HTTP/1.1");
  await page.waitForFunction(
    () => document.querySelectorAll("#users li").length === 2, null, { timeout: TIMEOUT });

  await page.locator("#text").fill("hello from alice over h2");
  await page.locator("#text").press("Enter");
  await dave.waitFor("hello from alice over h2");

  dave.proc.stdin.write("hello from dave over http/1.1\n");
  await page.locator("#messages li", { hasText: "hello from dave over http/1.1" })
    .waitFor({ timeout: TIMEOUT });
  const exited = new Promise((resolve) => dave.proc.once("exit", resolve));
  dave.proc.stdin.end();
  assert.equal(await exited, 0);
  await page.close();
});
