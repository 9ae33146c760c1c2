// A Node `ws` echo server with permessage-deflate, for wsock's interop tests.
// Usage: node echo_server.mjs PORT   (prints "listening" once ready)
// /close-me closes at once with 4002 "server bye"; the text "ping-me" makes the server
// ping the client and answer "pong-ok" when the pong arrives.
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: { threshold: 0 },
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
});

wss.on('connection', (ws, request) => {
  if (request.url.startsWith('/close-me')) {
    ws.close(4002, 'server bye');
    return;
  }
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'ping-me') {
      ws.once('pong', (payload) => ws.send(payload.toString() === 'from-node' ? 'pong-ok' : 'bad pong'));
      ws.ping('from-node');
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => console.log(`closed ${code} ${reason}`));
});
wss.on('listening', () => console.log('listening'));
