//! The seed's Go client with the blocking API, line for line:
//!
//! ```go
//! ws, err := websocket.Dial("ws://localhost:12345/echo", "", "http://localhost/")
//! ws.Write([]byte("hello, world!\n"))
//! var msg = make([]byte, 512)
//! n, err := ws.Read(msg)
//! fmt.Printf("Received: %s.\n", msg[:n])
//! ```
//!
//! Start `cargo run --example blocking_echo_server` (or `echo_server`) first. An
//! optional argument overrides the URL.

use std::io::{Read, Write};

fn main() -> wsock::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://localhost:12345/echo".to_owned());
    let mut ws = wsock::blocking::dial(&url, "", "http://localhost/")?;
    ws.write_all(b"hello, world!\n")?;
    let mut msg = [0u8; 512];
    let n = ws.read(&mut msg)?;
    println!("Received: {}.", String::from_utf8_lossy(&msg[..n]));
    ws.close(wsock::CloseCode::NORMAL, "")
}
