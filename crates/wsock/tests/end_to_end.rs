//! The async server and client talking over real sockets on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use wsock::{AcceptOptions, Client, CloseCode, CloseFrame, Error, Message, OriginPolicy, Server};

#[tokio::test]
async fn the_seeds_client_and_server() {
    let addr = echo_server(
        AcceptOptions::default().origin_policy(OriginPolicy::allow_list(["http://localhost"])),
    )
    .await;
    let mut ws = Client::new(format!("ws://localhost:{}/echo", addr.port()))
        .origin("http://localhost/")
        .connect()
        .await
        .unwrap();
    ws.send(Message::text("hello world!")).await.unwrap();
    let reply = bounded(ws.recv()).await.unwrap().unwrap();
    assert_eq!(reply.as_text(), Some("hello world!"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn messages_of_every_length_form_echo_intact() {
    let addr = echo_server(AcceptOptions::default()).await;
    let mut ws = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    for len in [0usize, 1, 125, 126, 65535, 65536, 1 << 20] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        ws.send(Message::binary(payload.clone())).await.unwrap();
        assert_eq!(
            bounded(ws.recv()).await.unwrap(),
            Some(Message::binary(payload)),
            "binary {len}"
        );
        let text = "é".repeat(len / 2);
        ws.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(
            bounded(ws.recv()).await.unwrap(),
            Some(Message::text(text)),
            "text {len}"
        );
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap(),
        None,
        "reads report closed after close"
    );
}

#[tokio::test]
async fn stream_and_sink() {
    let addr = echo_server(AcceptOptions::default()).await;
    let mut ws = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    for i in 0..10 {
        ws.feed(Message::text(format!("m{i}"))).await.unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..10 {
        let message = bounded(ws.next()).await.unwrap().unwrap();
        assert_eq!(message.as_text(), Some(format!("m{i}").as_str()));
    }
    SinkExt::close(&mut ws).await.unwrap();
    assert!(ws.next().await.is_none());
}

#[tokio::test]
async fn split_halves_work_from_two_tasks() {
    let addr = echo_server(AcceptOptions::default()).await;
    pipelined_echo(addr, 500, |i| Message::text(i.to_string())).await;
}

/// Large messages pipelined far ahead of the replies, so that the server's reads take
/// several frames at once and its replies go out batched (up to 256 KiB): every reply
/// arrives whole and in order.
#[tokio::test]
async fn large_messages_pipelined_far_ahead_echo_intact_and_in_order() {
    let addr = echo_server(AcceptOptions::default()).await;
    pipelined_echo(addr, 64, large_message).await;
}

/// A server whose handler reports the peer's close frame through a channel.
async fn close_observing_server() -> (std::net::SocketAddr, oneshot::Receiver<Option<CloseFrame>>) {
    let (report, observed) = oneshot::channel();
    let report = std::sync::Mutex::new(Some(report));
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route("/echo", move |mut ws| {
            let report = report.lock().unwrap().take();
            async move {
                while ws.recv().await?.is_some() {}
                if let Some(report) = report {
                    let _ = report.send(ws.peer_close_frame().cloned().flatten());
                }
                Ok(())
            }
        });
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    (addr, observed)
}

#[tokio::test]
async fn client_close_code_and_reason_reach_the_server() {
    let (addr, observed) = close_observing_server().await;
    let mut ws = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    ws.close(CloseCode(4000), "bye now").await.unwrap();
    let frame = bounded(observed).await.unwrap();
    assert_eq!(frame, Some(CloseFrame::new(CloseCode(4000), "bye now")));
    // The server echoed the code.
    assert_eq!(
        ws.peer_close_frame().cloned().flatten().map(|f| f.code),
        Some(CloseCode(4000))
    );
}

#[tokio::test]
async fn server_initiated_close_is_seen_by_the_client() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route("/bye", |mut ws| async move {
            ws.close(CloseCode::GOING_AWAY, "restarting").await
        });
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let mut ws = Client::new(format!("ws://{addr}/bye"))
        .connect()
        .await
        .unwrap();
    assert_eq!(bounded(ws.recv()).await.unwrap(), None);
    assert_eq!(
        ws.peer_close_frame().cloned().flatten(),
        Some(CloseFrame::new(CloseCode::GOING_AWAY, "restarting"))
    );
    assert!(matches!(
        ws.send(Message::text("late")).await,
        Err(Error::ConnectionClosed)
    ));
}

#[tokio::test]
async fn dropped_connection_is_an_abnormal_closure() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route("/drop", |ws| async move {
            drop(ws);
            Ok(())
        });
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let mut ws = Client::new(format!("ws://{addr}/drop"))
        .connect()
        .await
        .unwrap();
    assert!(matches!(
        bounded(ws.recv()).await,
        Err(Error::AbnormalClosure)
    ));
}

#[tokio::test]
async fn subprotocol_is_chosen_by_server_preference_among_offers() {
    let addr = echo_server(AcceptOptions::default().protocols(["chat", "superchat"])).await;
    let ws = Client::new(format!("ws://{addr}/echo"))
        .protocol("superchat")
        .protocol("chat")
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    let ws = Client::new(format!("ws://{addr}/echo"))
        .protocol("mqtt")
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.protocol(), None, "no overlap: no subprotocol");
}

/// The status a server on 127.0.0.1 answers `origin` with, judged as if it were
/// reachable from other machines (loopback origins get no exception).
async fn status_for_origin(policy: OriginPolicy, origin: &str) -> Result<(), u16> {
    let options = AcceptOptions::default().loopback_only(false);
    status_for_origin_with(options.origin_policy(policy), origin).await
}

async fn status_for_origin_with(options: AcceptOptions, origin: &str) -> Result<(), u16> {
    let addr = echo_server(options).await;
    let origin = origin.replace("PORT", &addr.port().to_string());
    match Client::new(format!("ws://127.0.0.1:{}/echo", addr.port()))
        .origin(origin)
        .connect()
        .await
    {
        Ok(_) => Ok(()),
        Err(Error::Handshake(wsock_proto::HandshakeError::UnexpectedStatus { status })) => {
            Err(status.as_u16())
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn origin_policy_same_origin_by_default() {
    assert_eq!(
        status_for_origin(OriginPolicy::default(), "http://127.0.0.1:PORT").await,
        Ok(())
    );
    assert_eq!(
        status_for_origin(OriginPolicy::default(), "http://evil.example").await,
        Err(403)
    );
    assert_eq!(
        status_for_origin(OriginPolicy::default(), "http://127.0.0.1:1").await,
        Err(403)
    );
}

#[tokio::test]
async fn a_loopback_server_takes_loopback_origins_and_still_refuses_foreign_ones() {
    // The seed's Go client sends `Origin: http://localhost/` to port 12345.
    for origin in [
        "http://localhost/",
        "http://127.0.0.1:1",
        "http://[::1]:8080",
    ] {
        assert_eq!(
            status_for_origin_with(AcceptOptions::default(), origin).await,
            Ok(()),
            "{origin}"
        );
    }
    for origin in ["http://evil.example", "https://localhost.evil.example"] {
        assert_eq!(
            status_for_origin_with(AcceptOptions::default(), origin).await,
            Err(403),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn a_host_without_a_port_does_not_match_an_origin_on_another_port_or_scheme() {
    // Host: 127.0.0.1 (no port) as a proxy in front might send it.
    let addr = echo_server(AcceptOptions::default().loopback_only(false)).await;
    for (origin, expected) in [
        ("http://127.0.0.1", 101),
        ("http://127.0.0.1:8081", 403),
        ("https://127.0.0.1:8443", 403),
        ("https://127.0.0.1", 403),
    ] {
        let head = request_head(addr, "/echo", &format!("Origin: {origin}\r\n"))
            .replace(&format!("Host: {addr}"), "Host: 127.0.0.1");
        let (status, response) = raw_request_head(addr, head.as_bytes()).await;
        assert_eq!(status, expected, "{origin}: {response}");
    }
}

#[tokio::test]
async fn origin_policy_widened_by_allow_list_and_callback() {
    let list = OriginPolicy::allow_list(["https://app.example"]);
    assert_eq!(
        status_for_origin(list.clone(), "https://app.example").await,
        Ok(())
    );
    assert_eq!(
        status_for_origin(list, "https://other.example").await,
        Err(403)
    );
    let callback = OriginPolicy::callback(|origin, _| origin.ends_with(".trusted.example"));
    assert_eq!(
        status_for_origin(callback.clone(), "https://a.trusted.example").await,
        Ok(())
    );
    assert_eq!(
        status_for_origin(callback, "https://a.untrusted.example").await,
        Err(403)
    );
}

#[tokio::test]
async fn requests_without_origin_are_accepted() {
    let addr = echo_server(AcceptOptions::default()).await;
    assert!(Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .is_ok());
}

#[tokio::test]
async fn path_and_query_reach_the_handler() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route_with_request("/room", |mut ws, request| async move {
            ws.send(Message::text(request.request().uri().to_string()))
                .await
        });
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let mut ws = Client::new(format!("ws://{addr}/room?name=lobby&x=1"))
        .connect()
        .await
        .unwrap();
    let message = bounded(ws.recv()).await.unwrap().unwrap();
    assert_eq!(message.as_text(), Some("/room?name=lobby&x=1"));
}

#[tokio::test]
async fn slow_handshake_times_out_and_others_are_served() {
    let addr =
        echo_server(AcceptOptions::default().handshake_timeout(Duration::from_millis(200))).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert_still_serving(addr).await;
    // The server drops the slow client once its time is up; `bounded` fails otherwise.
    let mut rest = Vec::new();
    let _ = bounded(tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut rest)).await;
    assert!(
        rest.is_empty(),
        "a timed-out client gets no response, only a closed socket"
    );
}

#[tokio::test]
async fn connect_timeout_fires_when_the_server_never_answers() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let err = Client::new(format!("ws://{addr}/"))
        .connect_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                what: "connecting",
                ..
            }
        ),
        "{err}"
    );
    drop(silent);
}

#[tokio::test]
async fn refused_connection_names_the_address() {
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let err = Client::new(format!("ws://{addr}/"))
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn extra_headers_are_sent_and_bad_ones_refused_locally() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route_with_request("/h", |mut ws, request| async move {
            let token = request.request().headers()["authorization"]
                .to_str()
                .unwrap_or("")
                .to_owned();
            ws.send(Message::text(token)).await
        });
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let mut ws = Client::new(format!("ws://{addr}/h"))
        .header("Authorization", "Bearer abc")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        bounded(ws.recv()).await.unwrap().unwrap().as_text(),
        Some("Bearer abc")
    );
    let err = Client::new(format!("ws://{addr}/h"))
        .header("X-Evil", "a\r\nInjected: yes")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidHeader(_)));
}

#[tokio::test]
async fn a_forged_origin_is_refused_before_anything_is_connected() {
    // A listener that must never see a connection: the error comes first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let error = Client::new(format!("ws://{addr}/echo"))
        .origin("http://localhost\r\nCookie: session=stolen")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Local(wsock_proto::LocalError::InvalidRequestField {
                field: "origin",
                ..
            })
        ),
        "{error}"
    );
    assert!(error
        .to_string()
        .contains("cannot go into an HTTP request head"));
    let nothing = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
    assert!(nothing.is_err(), "the client connected anyway");
}
