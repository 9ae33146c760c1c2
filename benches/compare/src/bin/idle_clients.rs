//! Opens N WebSocket connections to a server, says "ready" once all are open, and
//! keeps them idle until its standard input closes: what benches/compare.sh uses to
//! measure a server's memory per idle connection.
//!
//! `idle_clients HOST:PORT N`

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect("HOST:PORT");
    let count: usize = args.next().and_then(|n| n.parse().ok()).expect("N");
    wsock_compare::run(async move {
        let mut open = Vec::with_capacity(count);
        for _ in 0..count {
            let mut stream = TcpStream::connect(&addr).await.expect("connect");
            let request = format!(
                "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            stream
                .write_all(request.as_bytes())
                .await
                .expect("send the request");
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8];
                stream
                    .read_exact(&mut byte)
                    .await
                    .expect("read the response");
                head.push(byte[0]);
            }
            assert!(
                head.starts_with(b"HTTP/1.1 101"),
                "{}",
                String::from_utf8_lossy(&head)
            );
            open.push(stream);
        }
        println!("ready {}", open.len());
        let mut rest = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut rest).await;
        drop(open);
    });
}
