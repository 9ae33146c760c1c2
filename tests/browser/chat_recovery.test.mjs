// Recovery in headless Chromium: the chat page on node A of two `wsock broadcast`
// nodes sharing a real redis-server; node A restarts while a page on node B keeps
// talking, and the page on A, reconnecting with the last position it saw, shows the
// lines said while it was away, each once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TIMEOUT, freePort, launchChromium, startChat, stopChat } from "./browser.mjs";

let redis, redisPort, portA, portB, nodeA, nodeB, context, profile;

function listening(port) {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => { socket.destroy(); resolve(true); });
    socket.once("error", () => resolve(false));
  });
}

before(async () => {
  redisPort = await freePort();
  redis = spawn("redis-server", ["--port", `${redisPort}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" });
  const deadline = Date.now() + TIMEOUT;
  while (!(await listening(redisPort))) {
    assert.ok(Date.now() < deadline, "redis-server did not start");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  [portA, portB] = [await freePort(), await freePort()];
  const args = ["--redis", `redis://127.0.0.1:${redisPort}`];
  nodeA = await startChat(portA, args);
  nodeB = await startChat(portB, args);
  profile = mkdtempSync(join(tmpdir(), "wsock-chromium-"));
  context = await launchChromium(profile);
});

after(async () => {
  await context?.close();
  for (const node of [nodeA, nodeB]) if (node) await stopChat(node);
  redis?.kill();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openAs(port, name) {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/?room=lobby&name=${name}`);
  await page.locator('#status[data-state="open"]').waitFor({ timeout: TIMEOUT });
  return page;
}

async function say(page, text) {
  await page.locator("#text").fill(text);
  await page.locator("#text").press("Enter");
  await page.locator("#messages li .text", { hasText: text }).waitFor({ timeout: TIMEOUT });
}

test("after its server restarts, the page shows the lines it missed, once each", async () => {
  const carol = await openAs(portA, "carol");
  const dave = await openAs(portB, "dave");
  // Cross-node delivery is up once a line from B reaches A (the nodes may still be
  // connecting to Redis: say it again until it does, a bounded number of times).
  const seen = carol.locator("#messages li .text", { hasText: "before" });
  for (let attempt = 0; (await seen.count()) === 0; attempt++) {
    assert.ok(attempt < 30, "lines from node B never reached node A");
    await say(dave, "before");
    await seen.first().waitFor({ timeout: 500 }).catch(() => {});
  }

  await stopChat(nodeA);
  await carol.locator('#status[data-state="closed"]').waitFor({ timeout: TIMEOUT });
  await say(dave, "while away 1");
  await say(dave, "while away 2");
  nodeA = await startChat(portA, ["--redis", `redis://127.0.0.1:${redisPort}`]);
  await carol.locator('#status[data-state="open"]').waitFor({ timeout: TIMEOUT });

  for (const text of ["while away 1", "while away 2"]) {
    const line = carol.locator("#messages li", { hasText: text });
    await line.waitFor({ timeout: TIMEOUT });
    assert.equal(await line.count(), 1, `"${text}" shown once`);
    assert.equal(await line.locator(".user").textContent(), "dave");
  }
  const texts = await carol.locator("#messages li .text").allTextContents();
  const away = texts.filter((text) => text.startsWith("while away"));
  assert.deepEqual(away, ["while away 1", "while away 2"], "in order");
  assert.equal(await carol.locator("#messages .gap").count(), 0, "nothing was lost");
  // And it is live again, both ways.
  await say(carol, "back");
  await dave.locator("#messages li .text", { hasText: "back" }).waitFor({ timeout: TIMEOUT });
});
