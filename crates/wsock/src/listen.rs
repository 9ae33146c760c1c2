//! Socket options set once on a server's listening socket instead of on every
//! connection it accepts.

use socket2::SockRef;

/// Sets `TCP_NODELAY` on a listening socket and answers whether the connections it
/// accepts have it without a system call of their own: Linux copies the option to
/// every accepted socket, which spares each connection a `setsockopt` (a connection
/// storm's every handshake). Elsewhere, or when the option cannot be set, the shells
/// set it on each connection as before.
pub(crate) fn nodelay_on_listener<'s>(listener: impl Into<SockRef<'s>>) -> bool {
    cfg!(target_os = "linux") && listener.into().set_tcp_nodelay(true).is_ok()
}

#[cfg(test)]
mod tests {
    use super::nodelay_on_listener;

    /// What the servers rely on to skip the per-connection `setsockopt`.
    #[test]
    fn accepted_sockets_inherit_nodelay_from_their_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inherited = nodelay_on_listener(&listener);
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(inherited, cfg!(target_os = "linux"));
        if inherited {
            assert!(
                accepted.nodelay().unwrap(),
                "the accepted socket lacks TCP_NODELAY"
            );
        }
    }

    #[test]
    fn a_listener_without_the_option_gives_sockets_without_it() {
        // The control: the option seen above came from the listener, not a default.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(!accepted.nodelay().unwrap());
    }
}
