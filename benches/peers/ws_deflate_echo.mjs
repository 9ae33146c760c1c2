// Node's `ws` as a permessage-deflate echo server for benches/compare.sh, configured as
// its README's example of tuning permessage-deflate (level 3, memLevel 7, a 10-bit
// window, no context takeover either way, 1 KiB threshold).
// Usage: node ws_deflate_echo.mjs HOST:PORT
// It needs the `ws` package: npm ci --prefix tests/interop/node (scripts/test.sh does).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "tests", "interop", "node", "package.json"));
const { WebSocketServer } = require("ws");

const [host, port] = process.argv[2].split(":");
const wss = new WebSocketServer({
  host,
  port: Number(port),
  perMessageDeflate: {
    zlibDeflateOptions: { chunkSize: 1024, memLevel: 7, level: 3 },
    zlibInflateOptions: { chunkSize: 10 * 1024 },
    clientNoContextTakeover: true,
    serverNoContextTakeover: true,
    serverMaxWindowBits: 10,
    concurrencyLimit: 10,
    threshold: 1024,
  },
  maxPayload: 64 * 1024 * 1024,
});
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
