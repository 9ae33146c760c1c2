// What the browser tests share: a free port, and Debian's headless Chromium with the
// flags that keep it from reaching anything but 127.0.0.1.
import { createServer } from "node:net";
import { chromium } from "playwright-core";

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
