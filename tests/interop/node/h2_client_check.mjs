// Node's http2 client opens a WebSocket with an extended CONNECT (RFC 8441) and its
// own framing, echoes a text and a large binary message through the server, and closes.
// Usage: node h2_client_check.mjs PORT CA_PEM
import http2 from "node:http2";
import { readFileSync } from "node:fs";
import { encodeFrame, FrameReader } from "./frames.mjs";

const [port, caPath] = process.argv.slice(2);
const fail = (why) => {
  console.error(`failed: ${why}`);
  process.exit(1);
};
const timer = setTimeout(() => fail("timed out"), 15_000);

const session = http2.connect(`https://localhost:${port}`, { ca: readFileSync(caPath) });
session.on("error", (error) => fail(error.message));
session.once("remoteSettings", (settings) => {
  if (!settings.enableConnectProtocol) fail("the server's SETTINGS do not enable extended CONNECT");
  const stream = session.request({
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": "https",
    ":path": "/echo",
    ":authority": `localhost:${port}`,
    "sec-websocket-version": "13",
  });
  const sent = [
    { opcode: 1, payload: Buffer.from("hello over an HTTP/2 stream") },
    { opcode: 2, payload: Buffer.alloc(70_000, 7) },
  ];
  const expected = [...sent];
  const reader = new FrameReader();
  stream.on("response", (headers) => {
    if (headers[":status"] !== 200) fail(`status ${headers[":status"]}`);
    if (headers["sec-websocket-accept"]) fail("an HTTP/2 answer has no Sec-WebSocket-Accept");
    for (const { opcode, payload } of sent) stream.write(encodeFrame(opcode, payload, true));
  });
  stream.on("data", (chunk) => {
    for (const frame of reader.push(chunk)) {
      if (frame.masked) fail("the server masked a frame");
      if (frame.opcode === 8) {
        if (frame.payload.readUInt16BE(0) !== 1000) fail("the close was not 1000");
        console.log("ok: echoed over an HTTP/2 stream and closed with 1000");
        clearTimeout(timer);
        stream.end();
        session.close();
        return;
      }
      const want = expected.shift();
      if (!want || frame.opcode !== want.opcode || !frame.payload.equals(want.payload)) {
        fail(`unexpected frame opcode ${frame.opcode}, ${frame.payload.length} bytes`);
      }
      if (expected.length === 0) {
        const code = Buffer.alloc(2);
        code.writeUInt16BE(1000);
        stream.write(encodeFrame(8, code, true));
      }
    }
  });
  stream.on("error", (error) => fail(error.message));
});
