// What the browser tests share: a free port, and Debian's headless Chromium with the
// flags that keep it from reaching anything but 127.0.0.1.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const binDir = process.env.WSOCK_BIN_DIR || join(root, "target", "release");

export const TIMEOUT = 15_000;

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Chromium on a fresh profile in `profile`; `options` go to playwright as they are.
export function launchChromium(profile, options = {}) {
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    ...options,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

// `wsock broadcast` on `port` with `args`, once it answers HTTP.
export async function startChat(port, args = []) {
  const proc = spawn(join(binDir, "wsock"), ["broadcast", "--listen", `127.0.0.1:${port}`, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  proc.stderr.on("data", (chunk) => { log += chunk; });
  // Ready once it answers HTTP; bounded like everything here.
  const deadline = Date.now() + TIMEOUT;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      if (response.ok) return { proc, log: () => log };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  proc.kill();
  throw new Error(`wsock broadcast did not start:\n${log}`);
}

export async function stopChat(chat) {
  const exited = new Promise((resolve) => chat.proc.once("exit", resolve));
  chat.proc.kill("SIGTERM");
  await exited;
}
