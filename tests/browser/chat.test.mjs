// The `wsock broadcast` chat page in Debian's headless Chromium: two pages in one
// room see each other, a message typed in one appears in the other over a
// permessage-deflate connection, and the pages reconnect when the server restarts.
// Run by scripts/test.sh after the release build (`node --test tests/browser/`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { TIMEOUT, freePort, launchChromium, startChat, stopChat } from "./browser.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const shots = join(root, "target", "browser");


let port, chat, context, profile;

before(async () => {
  port = await freePort();
  chat = await startChat(port);
  profile = mkdtempSync(join(tmpdir(), "wsock-chromium-"));
  context = await launchChromium(profile);
});

after(async () => {
  await context?.close();
  if (chat) await stopChat(chat);
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openAs(name) {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/?room=lobby&name=${name}`);
  await page.locator('#status[data-state="open"]').waitFor({ timeout: TIMEOUT });
  return page;
}

async function users(page) {
  return page.locator("#users li").allTextContents();
}

test("two pages chat through wsock broadcast with permessage-deflate", async () => {
  const alice = await openAs("alice");
  const bob = await openAs("bob");
  for (const page of [alice, bob]) {
    await page.waitForFunction(
      () => document.querySelectorAll("#users li").length === 2, null, { timeout: TIMEOUT });
    assert.deepEqual(await users(page), ["alice", "bob"]);
    // Chromium offers permessage-deflate and wsock broadcast accepts it.
    assert.match(await page.locator("#status").textContent(), /permessage-deflate/);
  }

  await alice.locator("#text").fill("hello from alice ☃");
  await alice.locator("#text").press("Enter");
  const line = bob.locator("#messages li", { hasText: "hello from alice ☃" });
  await line.waitFor({ timeout: TIMEOUT });
  assert.equal(await line.locator(".user").textContent(), "alice");
  assert.match(await line.locator("time").textContent(), /^\d{2}:\d{2}:\d{2}$/);
  // The sender sees its own message once, as everyone does.
  await alice.locator("#messages li", { hasText: "hello from alice ☃" }).waitFor({ timeout: TIMEOUT });
  assert.equal(await alice.locator("#messages li .text", { hasText: "hello from alice ☃" }).count(), 1);

  mkdirSync(shots, { recursive: true });
  await bob.screenshot({ path: join(shots, "chat.png") });

  await bob.close();
  await alice.waitForFunction(
    () => [...document.querySelectorAll("#users li")].map((li) => li.textContent).join() === "alice",
    null, { timeout: TIMEOUT });
  await alice.close();
});

test("the page reconnects when the server restarts", async () => {
  const carol = await openAs("carol");
  await stopChat(chat);
  await carol.locator('#status[data-state="closed"]').waitFor({ timeout: TIMEOUT });
  assert.match(await carol.locator("#status").textContent(), /1001/, "closed as going away");
  chat = await startChat(port);
  await carol.locator('#status[data-state="open"]').waitFor({ timeout: TIMEOUT });
  await carol.locator("#text").fill("back again");
  await carol.locator("#text").press("Enter");
  await carol.locator("#messages li", { hasText: "back again" }).waitFor({ timeout: TIMEOUT });
  await carol.close();
});
