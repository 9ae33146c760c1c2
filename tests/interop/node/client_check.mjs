// Drives a wsock echo server from Node's `ws` client with permessage-deflate and
// checks every echo. Usage: node client_check.mjs ws://127.0.0.1:PORT/echo
// Prints one line per check and exits non-zero on the first mismatch.
import WebSocket from 'ws';

const url = process.argv[2];
const sizes = [0, 1, 125, 126, 65535, 65536, 16 * 1024 * 1024];

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

const ws = new WebSocket(url, ['chat'], { perMessageDeflate: true, maxPayload: 64 * 1024 * 1024 });
const timer = setTimeout(() => fail('timed out'), 60_000);

const queue = [];
ws.on('message', (data, isBinary) => queue.shift()?.({ data, isBinary }));
const next = () => new Promise((resolve) => queue.push(resolve));

ws.on('error', (error) => fail(error.message));
ws.on('open', async () => {
  if (!ws.extensions.includes('permessage-deflate')) fail(`no deflate: ${ws.extensions}`);
  if (ws.protocol !== 'chat') fail(`subprotocol ${ws.protocol}`);
  console.log('ok: permessage-deflate and subprotocol chat negotiated');
  for (const size of sizes) {
    const binary = Buffer.alloc(size, 0).map((_, i) => (i * 31) % 251);
    ws.send(binary);
    const got = await next();
    if (!got.isBinary || !Buffer.from(got.data).equals(binary)) fail(`binary echo of ${size}`);
    const text = 'ab\u2603'.repeat(Math.floor(size / 5)) + 'x'.repeat(size % 5);
    ws.send(text);
    const echoed = await next();
    if (echoed.isBinary || echoed.data.toString() !== text) fail(`text echo of ${size}`);
    console.log(`ok: ${size} bytes, text and binary`);
  }
  ws.ping('from-node');
  ws.once('pong', (payload) => {
    if (payload.toString() !== 'from-node') fail('pong payload');
    console.log('ok: ping answered');
    ws.close(4001, 'bye');
  });
});
ws.on('close', (code, reason) => {
  clearTimeout(timer);
  if (code !== 4001 || reason.toString() !== 'bye') fail(`close echoed as ${code} ${reason}`);
  console.log('ok: close 4001 "bye" echoed');
  process.exit(0);
});
