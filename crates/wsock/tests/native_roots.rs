//! `ClientTls::native_roots` (feature `native-roots`): the system's store, which
//! `SSL_CERT_FILE` may name. One test in its own binary: the environment is shared by
//! every thread of a process.
#![cfg(feature = "native-roots")]

mod common;

use common::pki::TestPki;
use common::*;
use wsock::tls::ClientTls;
use wsock::{Client, CloseCode, Message};

#[tokio::test]
async fn the_system_store_named_by_ssl_cert_file_is_trusted() {
    let pki = TestPki::new();
    let ca_file =
        std::env::temp_dir().join(format!("wsock-native-roots-{}.pem", std::process::id()));
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    std::env::remove_var("SSL_CERT_DIR");
    std::fs::write(&ca_file, "").unwrap();
    let err = ClientTls::native_roots().unwrap_err();
    assert!(err.to_string().contains("no usable certificate"), "{err}");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let tls = ClientTls::native_roots();
    std::fs::remove_file(&ca_file).unwrap();
    let tls = tls.expect("the store named by SSL_CERT_FILE loads");

    let port = pki
        .echo_server(wsock::AcceptOptions::default())
        .await
        .port();
    let mut ws = bounded(
        Client::new(format!("wss://localhost:{port}/echo"))
            .tls(tls)
            .no_proxy()
            .connect(),
    )
    .await
    .unwrap();
    ws.send(Message::text("trusted by the system store"))
        .await
        .unwrap();
    assert_eq!(
        bounded(ws.recv()).await.unwrap(),
        Some(Message::text("trusted by the system store"))
    );
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}
