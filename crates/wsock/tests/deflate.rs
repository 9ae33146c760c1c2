//! permessage-deflate between wsock's own server and client over 127.0.0.1.

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsock::{AcceptOptions, Client, Config, DeflateConfig, Limits, Message};
use wsock_proto::{Connection, DeflateParams, Role};

fn deflate_server_options() -> AcceptOptions {
    AcceptOptions::default().deflate(Some(DeflateConfig::default()))
}

/// A client connected to an echo server, both with `config`; compression agreed.
async fn compressed_echo(config: DeflateConfig) -> wsock::WebSocket {
    let addr = echo_server(AcceptOptions::default().deflate(Some(config.clone()))).await;
    let ws = Client::new(format!("ws://{addr}/echo"))
        .deflate(config)
        .connect()
        .await
        .unwrap();
    assert!(ws.is_compressed());
    ws
}

#[tokio::test]
async fn messages_of_every_size_echo_compressed() {
    let mut ws = compressed_echo(DeflateConfig::default()).await;
    for len in [0usize, 1, 63, 64, 125, 126, 65535, 65536, 1 << 20] {
        let json: String = (0..len)
            .map(|i| b"{\"k\":[1,2,3]}"[i % 13] as char)
            .collect();
        ws.send(Message::text(json.clone())).await.unwrap();
        assert_eq!(
            bounded(ws.recv()).await.unwrap(),
            Some(Message::text(json)),
            "text {len}"
        );
        let data: Vec<u8> = (0..len).map(|i| (i / 7) as u8).collect();
        ws.send(Message::binary(data.clone())).await.unwrap();
        assert_eq!(
            bounded(ws.recv()).await.unwrap(),
            Some(Message::binary(data)),
            "binary {len}"
        );
    }
    ws.send_uncompressed(Message::binary(vec![9u8; 5000]))
        .await
        .unwrap();
    assert_eq!(
        bounded(ws.recv()).await.unwrap(),
        Some(Message::binary(vec![9u8; 5000]))
    );
    ws.close(wsock::CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn quiet_connections_free_their_deflate_state_and_carry_on() {
    // Both sides free their compressor and decompressor 10-20 ms into a quiet spell,
    // and make them again from the last bytes each way: a wrong window would inflate
    // to garbage or fail the connection.
    let quickly =
        DeflateConfig::default().release_after(Some(std::time::Duration::from_millis(10)));
    let mut ws = compressed_echo(quickly).await;
    for round in 0..5 {
        for i in 0..3 {
            let json = format!(
                r#"{{"round":{round},"i":{i},"event":"price_update","symbol":"ACME","bid":101.25}}"#
            )
            .repeat(3);
            ws.send(Message::text(json.clone())).await.unwrap();
            assert_eq!(bounded(ws.recv()).await.unwrap(), Some(Message::text(json)));
        }
        // A quiet spell well past the release: the scenario, not a wait for a result.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ws.close(wsock::CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn each_side_may_decline() {
    // A server without deflate declines the offer; a client without it offers nothing.
    let plain = echo_server(AcceptOptions::default()).await;
    let ws = Client::new(format!("ws://{plain}/echo"))
        .deflate(DeflateConfig::default())
        .connect()
        .await
        .unwrap();
    assert!(!ws.is_compressed());
    let compressing = echo_server(deflate_server_options()).await;
    let mut ws = Client::new(format!("ws://{compressing}/echo"))
        .connect()
        .await
        .unwrap();
    assert!(!ws.is_compressed());
    ws.send(Message::text("x".repeat(1000))).await.unwrap();
    assert_eq!(
        bounded(ws.recv()).await.unwrap(),
        Some(Message::text("x".repeat(1000)))
    );
}

#[tokio::test]
async fn lean_settings_are_negotiated_and_work() {
    let lean = DeflateConfig::default()
        .no_context_takeover(true)
        .max_window_bits(9);
    let mut ws = compressed_echo(lean).await;
    for _ in 0..3 {
        let text = "the same text again and again ".repeat(100);
        ws.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(bounded(ws.recv()).await.unwrap(), Some(Message::text(text)));
    }
}

#[tokio::test]
async fn deflate_bomb_closes_with_1009() {
    let mut limits = Limits::default();
    limits.max_message_size = 1 << 20;
    let options = deflate_server_options().config(Config::default().with_limits(limits));
    let addr = echo_server(options).await;

    // Handshake by hand, then 16 MiB of zeros compressed into one small frame.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = request_head(
        addr,
        "/echo",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        bounded(stream.read_exact(&mut byte)).await.unwrap();
        response.push(byte[0]);
    }
    let response = String::from_utf8(response).unwrap();
    assert!(
        response
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate"),
        "{response}"
    );

    let mut bomber = Connection::new(Role::Client);
    bomber.enable_deflate(&DeflateParams::default(), &DeflateConfig::default());
    bomber.send_binary(&vec![0u8; 16 << 20]).unwrap();
    let bomb = bomber.take_output();
    assert!(
        bomb.len() < 64 << 10,
        "the bomb is {} bytes on the wire",
        bomb.len()
    );
    let _ = stream.write_all(&bomb).await;
    assert_eq!(read_close_code(&mut stream).await, Some(1009));
    assert_still_serving(addr).await;
}
