//! Malformed handshakes and frames over real sockets: each gets its exact HTTP status or
//! close code, and the server goes on serving the next connection.

mod common;

use common::*;
use tokio::io::AsyncWriteExt;
use wsock::{AcceptOptions, Config, Limits};

async fn server() -> std::net::SocketAddr {
    let mut limits = Limits::default();
    limits.max_message_size = 1 << 20;
    echo_server(AcceptOptions::default().config(Config::default().with_limits(limits))).await
}

async fn assert_status(head: String, expected: u16) {
    let addr = server().await;
    let head = head.replace("HOST_PLACEHOLDER", &addr.to_string());
    let (status, response) = raw_request(addr, head.as_bytes()).await;
    assert_eq!(status, expected, "request:\n{head}\nresponse:\n{response}");
    assert_still_serving(addr).await;
}

fn valid() -> String {
    "GET /echo HTTP/1.1\r\nHost: HOST_PLACEHOLDER\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_owned()
}

#[tokio::test]
async fn missing_key_is_400() {
    assert_status(
        valid().replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
        400,
    )
    .await;
}

#[tokio::test]
async fn short_key_is_400() {
    assert_status(valid().replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), 400).await;
}

#[tokio::test]
async fn wrong_version_is_426_with_the_supported_version() {
    let addr = server().await;
    let head = valid()
        .replace("HOST_PLACEHOLDER", &addr.to_string())
        .replace("Version: 13", "Version: 8");
    let (status, response) = raw_request(addr, head.as_bytes()).await;
    assert_eq!(status, 426);
    assert!(
        response
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13\r\n"),
        "{response}"
    );
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn missing_upgrade_is_400() {
    assert_status(valid().replace("Upgrade: websocket\r\n", ""), 400).await;
}

#[tokio::test]
async fn connection_without_upgrade_token_is_400() {
    assert_status(
        valid().replace("Connection: Upgrade", "Connection: keep-alive"),
        400,
    )
    .await;
}

#[tokio::test]
async fn post_is_405() {
    assert_status(valid().replace("GET", "POST"), 405).await;
}

#[tokio::test]
async fn http_1_0_is_400() {
    assert_status(valid().replace("HTTP/1.1", "HTTP/1.0"), 400).await;
}

#[tokio::test]
async fn tls_client_hello_on_plain_port_is_400() {
    assert_status(
        "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03\x03\r\n\r\n".to_owned(),
        400,
    )
    .await;
}

#[tokio::test]
async fn oversized_head_is_431() {
    let big = format!("X-Big: {}\r\n\r\n", "a".repeat(9000));
    assert_status(valid().replacen("\r\n\r\n", &format!("\r\n{big}"), 1), 431).await;
}

#[tokio::test]
async fn too_many_headers_is_431() {
    let many: String = (0..200).map(|i| format!("X-{i}: 1\r\n")).collect();
    assert_status(
        valid().replacen("\r\n\r\n", &format!("\r\n{many}\r\n"), 1),
        431,
    )
    .await;
}

#[tokio::test]
async fn foreign_origin_is_403() {
    assert_status(
        valid().replacen("\r\n\r\n", "\r\nOrigin: http://evil.example\r\n\r\n", 1),
        403,
    )
    .await;
}

#[tokio::test]
async fn unknown_path_is_404() {
    assert_status(valid().replace("/echo", "/nowhere"), 404).await;
}

async fn assert_close_code(frames: Vec<u8>, expected: u16) {
    let addr = server().await;
    let mut stream = raw_websocket(addr).await;
    // The server may fail the connection before it has read all we send.
    let _ = stream.write_all(&frames).await;
    assert_eq!(
        read_close_code(&mut stream).await,
        Some(expected),
        "frames {:x?}",
        &frames[..frames.len().min(32)]
    );
    assert_still_serving(addr).await;
}

fn unmasked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first, payload.len() as u8];
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn unmasked_client_frame_is_1002() {
    assert_close_code(unmasked(0x81, b"hello"), 1002).await;
}

#[tokio::test]
async fn reserved_opcode_is_1002() {
    assert_close_code(client_frame(0x83, b""), 1002).await;
}

#[tokio::test]
async fn rsv_bit_without_extension_is_1002() {
    assert_close_code(client_frame(0xC1, b"x"), 1002).await;
}

#[tokio::test]
async fn oversized_ping_is_1002() {
    assert_close_code(client_frame(0x89, &[0; 126]), 1002).await;
}

#[tokio::test]
async fn fragmented_ping_is_1002() {
    assert_close_code(client_frame(0x09, b"x"), 1002).await;
}

#[tokio::test]
async fn invalid_utf8_text_is_1007() {
    assert_close_code(
        client_frame(
            0x81,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
        ),
        1007,
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8_across_fragments_is_1007() {
    let mut frames = client_frame(0x01, "κόσμε".as_bytes());
    frames.extend(client_frame(0x80, b"\xf4\x90\x80\x80"));
    assert_close_code(frames, 1007).await;
}

#[tokio::test]
async fn reserved_close_code_is_1002() {
    assert_close_code(client_frame(0x88, &1005u16.to_be_bytes()), 1002).await;
}

#[tokio::test]
async fn one_byte_close_is_1002() {
    assert_close_code(client_frame(0x88, &[0x03]), 1002).await;
}

#[tokio::test]
async fn close_reason_not_utf8_is_1007() {
    assert_close_code(client_frame(0x88, &[0x03, 0xe8, 0xff]), 1007).await;
}

#[tokio::test]
async fn length_with_top_bit_set_is_1002() {
    let mut frame = vec![0x82, 0xff];
    frame.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    assert_close_code(frame, 1002).await;
}

#[tokio::test]
async fn oversized_message_is_1009_before_its_payload_arrives() {
    // Only the header of a 2 MiB frame is sent, against a 1 MiB limit.
    let mut frame = vec![0x82, 0xff];
    frame.extend_from_slice(&(2u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    assert_close_code(frame, 1009).await;
}

#[tokio::test]
async fn continuation_without_a_message_is_1002() {
    assert_close_code(client_frame(0x80, b"x"), 1002).await;
}

#[tokio::test]
async fn new_message_inside_a_fragmented_one_is_1002() {
    let mut frames = client_frame(0x01, b"a");
    frames.extend(client_frame(0x81, b"b"));
    assert_close_code(frames, 1002).await;
}

#[tokio::test]
async fn ping_is_answered_with_the_same_payload_then_close_is_echoed() {
    use tokio::io::AsyncReadExt;
    let addr = server().await;
    let mut stream = raw_websocket(addr).await;
    stream
        .write_all(&client_frame(0x89, b"are you there"))
        .await
        .unwrap();
    let mut pong = [0u8; 15];
    bounded(stream.read_exact(&mut pong)).await.unwrap();
    assert_eq!(&pong[..2], &[0x8A, 13]);
    assert_eq!(&pong[2..], b"are you there");
    let mut close = 4321u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    stream.write_all(&client_frame(0x88, &close)).await.unwrap();
    assert_eq!(read_close_code(&mut stream).await, Some(4321));
}

#[tokio::test]
async fn a_bare_lf_head_is_400_at_once_not_after_the_handshake_timeout() {
    // A handshake timeout far beyond the test's patience: only an answer at once passes.
    let addr = echo_server(AcceptOptions::default().handshake_timeout(PATIENCE * 10)).await;
    let head = valid()
        .replace("HOST_PLACEHOLDER", &addr.to_string())
        .replace("\r\n", "\n");
    let (status, response) = raw_request(addr, head.as_bytes()).await;
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("bare LF"), "{response}");
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn a_request_smuggled_after_a_bare_lf_head_is_not_served() {
    // httparse ends the head at "\n\n"; a proxy that only knows CRLF reads on to the
    // second head. Neither may be taken as the request.
    let smuggled = valid().replacen("\r\n\r\n", "\r\n\nGET /other HTTP/1.1\r\n\r\n", 1);
    assert_status(smuggled, 400).await;
}

#[tokio::test]
async fn body_headers_on_the_upgrade_get_are_400() {
    for extra in ["Content-Length: 4\r\n", "Transfer-Encoding: chunked\r\n"] {
        assert_status(
            valid().replacen("\r\n\r\n", &format!("\r\n{extra}\r\n"), 1),
            400,
        )
        .await;
    }
}

#[tokio::test]
async fn two_origin_headers_are_400() {
    let origins = "\r\nOrigin: http://HOST_PLACEHOLDER\r\nOrigin: http://evil.example\r\n\r\n";
    assert_status(valid().replacen("\r\n\r\n", origins, 1), 400).await;
}
