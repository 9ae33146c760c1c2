//! wss:// over real sockets on 127.0.0.1, with certificates made in the test.
#![cfg(feature = "tls")]

mod common;

use std::time::Duration;

use common::pki::TestPki;
use common::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use wsock::tls::{ClientTls, ServerTls};
use wsock::{AcceptOptions, Client, CloseCode, Error, Message};

async fn assert_echoes(url: String, tls: ClientTls) {
    let mut ws = bounded(Client::new(url).tls(tls).no_proxy().connect())
        .await
        .expect("the wss client connects");
    assert!(ws.get_ref().is_tls());
    for len in [0usize, 5, 70_000] {
        let text = "x".repeat(len);
        ws.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(bounded(ws.recv()).await.unwrap(), Some(Message::text(text)));
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), None);
}

#[tokio::test]
async fn echo_over_wss_with_a_private_ca() {
    let pki = TestPki::new();
    let addr = pki.echo_server(AcceptOptions::default()).await;
    assert_echoes(
        format!("wss://localhost:{}/echo", addr.port()),
        pki.client_tls(),
    )
    .await;
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_with_the_reason() {
    let pki = TestPki::new();
    let addr = pki.echo_server(AcceptOptions::default()).await;
    // The certificate names localhost only; 127.0.0.1 is another name.
    let err = Client::new(format!("wss://{addr}/echo"))
        .tls(pki.client_tls())
        .no_proxy()
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TlsHandshake { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("not valid for name"), "{text}");
    assert!(text.contains("127.0.0.1"), "{text}");
}

#[tokio::test]
async fn an_unknown_issuer_is_refused_with_the_reason() {
    let pki = TestPki::new();
    let addr = pki.echo_server(AcceptOptions::default()).await;
    // The default trust, the webpki roots, does not include the test CA.
    let err = Client::new(format!("wss://localhost:{}/echo", addr.port()))
        .no_proxy()
        .connect()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("TLS handshake with localhost failed") && text.contains("UnknownIssuer"),
        "{text}"
    );
    let other_ca = TestPki::new();
    let err = Client::new(format!("wss://localhost:{}/echo", addr.port()))
        .tls(other_ca.client_tls())
        .no_proxy()
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn a_stalled_tls_handshake_times_out_while_others_are_served() {
    let pki = TestPki::new();
    let timeout = Duration::from_millis(500);
    let addr = pki
        .echo_server(AcceptOptions::default().handshake_timeout(timeout))
        .await;
    // Connects and never says hello.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    assert_echoes(
        format!("wss://localhost:{}/echo", addr.port()),
        pki.client_tls(),
    )
    .await;
    let mut byte = [0u8; 1];
    let ended = bounded(stalled.read(&mut byte)).await;
    assert!(
        matches!(ended, Ok(0) | Err(_)),
        "the server closed the silent connection"
    );
    assert!(started.elapsed() >= timeout, "not before the timeout");
}

#[tokio::test]
async fn plain_http_to_a_tls_server_fails_alone() {
    let pki = TestPki::new();
    let addr = pki.echo_server(AcceptOptions::default()).await;
    let (_, _) = tokio::join!(
        async {
            // A ws:// client at a wss:// server: the server reads garbage for TLS.
            let err = Client::new(format!("ws://localhost:{}/echo", addr.port()))
                .no_proxy()
                .connect_timeout(PATIENCE)
                .connect()
                .await
                .unwrap_err();
            assert!(!matches!(err, Error::Timeout { .. }), "{err}");
        },
        assert_echoes(
            format!("wss://localhost:{}/echo", addr.port()),
            pki.client_tls(),
        )
    );
}

#[tokio::test]
async fn bad_pem_says_what_is_missing() {
    let pki = TestPki::new();
    let err = ServerTls::from_pem(b"", pki.key_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
    let err = ServerTls::from_pem(pki.cert_pem.as_bytes(), b"nothing").unwrap_err();
    assert!(err.to_string().contains("no private key"), "{err}");
    let other = TestPki::new();
    let err = ServerTls::from_pem(pki.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("do not go together"), "{err}");
    let err = ClientTls::from_ca_file("/nonexistent/ca.pem").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
