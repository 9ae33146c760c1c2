//! The seed's Go client, in Rust:
//!
//! ```go
//! ws, err := websocket.Dial("ws://localhost:12345/echo", "", "http://localhost/")
//! ws.Write([]byte("hello world!"))
//! n, err := ws.Read(msg)
//! fmt.Printf("Received: %s.\n", msg[:n])
//! ```
//!
//! Start `cargo run --example echo_server` first. An optional argument overrides the URL.

use wsock::{Client, CloseCode, Message};

#[tokio::main]
async fn main() -> wsock::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://localhost:12345/echo".to_owned());
    let mut ws = Client::new(url)
        .origin("http://localhost/")
        .connect()
        .await?;
    ws.send(Message::text("hello world!")).await?;
    if let Some(reply) = ws.recv().await? {
        println!("Received: {}.", String::from_utf8_lossy(reply.payload()));
    }
    ws.close(CloseCode::NORMAL, "").await
}
