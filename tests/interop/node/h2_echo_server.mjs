// Node's http2 server with the extended CONNECT protocol enabled (RFC 8441): it
// answers a WebSocket CONNECT with 200, echoes messages with its own framing, and
// answers a close. Prints "listening", then "closed CODE" for each close it saw.
// Usage: node h2_echo_server.mjs PORT CERT_PEM KEY_PEM
import http2 from "node:http2";
import { readFileSync } from "node:fs";
import { encodeFrame, FrameReader } from "./frames.mjs";

const [port, certPath, keyPath] = process.argv.slice(2);
const server = http2.createSecureServer({
  cert: readFileSync(certPath),
  key: readFileSync(keyPath),
  settings: { enableConnectProtocol: true },
});
server.on("stream", (stream, headers) => {
  if (headers[":method"] !== "CONNECT" || headers[":protocol"] !== "websocket") {
    stream.respond({ ":status": 400 });
    stream.end();
    return;
  }
  stream.respond({ ":status": 200 });
  const reader = new FrameReader();
  stream.on("data", (chunk) => {
    for (const frame of reader.push(chunk)) {
      if (!frame.masked) {
        stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      if (frame.opcode === 8) {
        console.log(`closed ${frame.payload.readUInt16BE(0)} ${frame.payload.subarray(2)}`);
        stream.end(encodeFrame(8, frame.payload, false));
        return;
      }
      stream.write(encodeFrame(frame.opcode, frame.payload, false));
    }
  });
  stream.on("error", () => {});
});
server.listen(Number(port), "127.0.0.1", () => console.log("listening"));
