//! The tokio shell's bookkeeping between waits, seen from inside: which timer a
//! connection keeps. Over an in-memory stream, with the runtime's clock paused.

use std::future::poll_fn;
use std::task::Poll;

use tokio::io::{AsyncWriteExt, DuplexStream};
use wsock_proto::{Connection, Limits, Message, Role};

use super::WebSocket;
use crate::Config;

/// A client's masked binary frame of `len` bytes.
fn client_frame(len: usize) -> Vec<u8> {
    let mut client = Connection::new(Role::Client);
    client.send_binary(&vec![7; len]).unwrap();
    client.take_output().to_vec()
}

/// Polls `recv` once: the message if one is ready, `None` if the connection would wait.
async fn recv_now(server: &mut WebSocket<DuplexStream>) -> Option<Message> {
    poll_fn(|cx| {
        Poll::Ready(match server.poll_recv(cx) {
            Poll::Ready(result) => Some(result.unwrap().expect("the connection is open")),
            Poll::Pending => None,
        })
    })
    .await
}

/// Where the connection's timer lives, if it has one: the same address means the same
/// registration with the runtime.
fn timer_address(server: &WebSocket<DuplexStream>) -> Option<usize> {
    let timer = server.keepalive_timer.as_ref()?;
    Some(&**timer as *const tokio::time::Sleep as usize)
}

#[tokio::test(start_paused = true)]
async fn a_timer_is_kept_between_the_frames_it_times() {
    let (mut client, io) = tokio::io::duplex(1 << 20);
    let mut server = WebSocket::from_upgraded(io, Role::Server, Config::default());
    let frame = client_frame(64 << 10);
    let half = frame.len() / 2;

    client.write_all(&frame[..half]).await.unwrap();
    assert!(
        recv_now(&mut server).await.is_none(),
        "half a frame is no message"
    );
    let timer = timer_address(&server).expect("half a frame held is timed");

    client.write_all(&frame[half..]).await.unwrap();
    assert_eq!(
        recv_now(&mut server).await.unwrap().payload().len(),
        64 << 10
    );
    assert!(recv_now(&mut server).await.is_none());
    assert_eq!(
        timer_address(&server),
        Some(timer),
        "waiting with nothing held keeps the timer"
    );

    client.write_all(&frame[..half]).await.unwrap();
    assert!(recv_now(&mut server).await.is_none());
    assert_eq!(
        timer_address(&server),
        Some(timer),
        "the next frame is timed by the same timer, not a new registration"
    );
    client.write_all(&frame[half..]).await.unwrap();
    assert!(recv_now(&mut server).await.is_some());
    assert!(recv_now(&mut server).await.is_none());

    // The timer fires once for nothing, and the idle connection then holds none.
    let timeout = Limits::default().incomplete_message_timeout;
    tokio::time::advance(timeout + std::time::Duration::from_secs(1)).await;
    assert!(recv_now(&mut server).await.is_none());
    assert_eq!(
        timer_address(&server),
        None,
        "an idle connection holds no timer"
    );
}
