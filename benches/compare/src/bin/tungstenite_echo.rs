//! tokio-tungstenite echo server, written as its own examples do.
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

fn main() {
    wsock_compare::run(async {
        let listener = TcpListener::bind(wsock_compare::addr()).await.unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
}
