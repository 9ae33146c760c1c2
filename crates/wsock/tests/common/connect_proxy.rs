//! A small HTTP CONNECT proxy on 127.0.0.1, to test clients that tunnel through one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct TestProxy {
    pub addr: SocketAddr,
    /// The `host:port` of every tunnel asked for, in order.
    pub tunnels: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    /// Starts a proxy; with `credentials` ("user:password") it demands basic auth.
    pub async fn start(credentials: Option<&str>) -> Self {
        use base64::Engine;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let expected = credentials.map(|c| {
            format!(
                "proxy-authorization: basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
            .to_ascii_lowercase()
        });
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = tunnels.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(client, expected.clone(), seen.clone()));
            }
        });
        Self { addr, tunnels }
    }

    pub fn url(&self, credentials: Option<&str>) -> String {
        match credentials {
            Some(c) => format!("http://{c}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().unwrap().clone()
    }
}

async fn serve(mut client: TcpStream, expected: Option<String>, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if client.read(&mut byte).await.unwrap_or(0) == 0 || head.len() > 8192 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let Some(target) = head
        .strip_prefix("connect ")
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_owned)
    else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await;
        return;
    };
    if let Some(expected) = expected {
        if !head.lines().any(|line| line.trim() == expected) {
            let _ = client
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                .await;
            return;
        }
    }
    seen.lock().unwrap().push(target.clone());
    let Ok(mut server) = TcpStream::connect(target.as_str()).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    let _ = client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
