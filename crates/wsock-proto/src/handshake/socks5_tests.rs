use super::*;

fn b(bytes: &[u8]) -> BytesMut {
    BytesMut::from(bytes)
}

fn credentials() -> Option<(String, String)> {
    Some(("alice".into(), "s3cret".into()))
}

fn domain() -> Socks5Target {
    Socks5Target::Domain("chat.example".into(), 8080)
}

fn sent(step: Socks5Step) -> Vec<u8> {
    match step {
        Socks5Step::Send(bytes) => bytes,
        other => panic!("expected bytes to send, got {other:?}"),
    }
}

/// Walks a handshake with credentials up to the CONNECT request.
fn authenticated() -> (Socks5Handshake, Vec<u8>) {
    let (mut handshake, _) = Socks5Handshake::new(domain(), credentials()).unwrap();
    sent(handshake.receive(&mut b(&[5, 2])).unwrap());
    let connect = sent(handshake.receive(&mut b(&[1, 0])).unwrap());
    (handshake, connect)
}

#[test]
fn greeting_offers_password_only_with_credentials() {
    let (_, plain) = Socks5Handshake::new(domain(), None).unwrap();
    assert_eq!(plain, [5, 1, 0]);
    let (_, with) = Socks5Handshake::new(domain(), credentials()).unwrap();
    assert_eq!(with, [5, 2, 0, 2]);
}

#[test]
fn user_and_password_follow_rfc_1929_then_connect_names_the_host() {
    let (mut handshake, _) = Socks5Handshake::new(domain(), credentials()).unwrap();
    let auth = sent(handshake.receive(&mut b(&[5, 2])).unwrap());
    assert_eq!(auth, b"\x01\x05alice\x06s3cret");
    let connect = sent(handshake.receive(&mut b(&[1, 0])).unwrap());
    assert_eq!(connect, b"\x05\x01\x00\x03\x0cchat.example\x1f\x90");
}

#[test]
fn connect_carries_resolved_addresses() {
    for (address, expected) in [
        ("10.1.2.3:443", vec![5, 1, 0, 1, 10, 1, 2, 3, 1, 187]),
        (
            "[::1]:80",
            [&[5u8, 1, 0, 4][..], &[0; 15], &[1, 0, 80]].concat(),
        ),
    ] {
        let target = Socks5Target::Address(address.parse().unwrap());
        let (mut handshake, _) = Socks5Handshake::new(target, None).unwrap();
        assert_eq!(sent(handshake.receive(&mut b(&[5, 0])).unwrap()), expected);
    }
}

#[test]
fn replies_of_every_address_type_open_the_tunnel_once_complete() {
    let ipv4 = vec![5, 0, 0, 1, 127, 0, 0, 1, 0, 80];
    let ipv6 = [&[5u8, 0, 0, 4][..], &[0; 16], &[0, 80]].concat();
    let domain_reply = [&[5u8, 0, 0, 3, 4][..], b"host", &[0, 80]].concat();
    for reply in [ipv4, ipv6, domain_reply] {
        let (mut handshake, _) = authenticated();
        // Byte by byte: nothing opens before the last byte.
        let mut received = BytesMut::new();
        for (i, &byte) in reply.iter().enumerate() {
            received.extend_from_slice(&[byte]);
            let step = handshake.receive(&mut received).unwrap();
            let last = i == reply.len() - 1;
            assert_eq!(step == Socks5Step::Open, last, "byte {i} of {reply:?}");
        }
        assert!(received.is_empty());
    }
}

#[test]
fn refusals_say_why() {
    let (mut no_auth, _) = Socks5Handshake::new(domain(), None).unwrap();
    let error = no_auth.receive(&mut b(&[5, 0xff])).unwrap_err();
    assert!(error.to_string().contains("user:password@"), "{error}");

    let (mut wrong, _) = Socks5Handshake::new(domain(), credentials()).unwrap();
    sent(wrong.receive(&mut b(&[5, 2])).unwrap());
    let error = wrong.receive(&mut b(&[1, 1])).unwrap_err();
    assert_eq!(error, Socks5Error::CredentialsRefused);
    assert!(error.to_string().contains("check them"), "{error}");

    for (code, words) in [(2, "not allowed"), (4, "host unreachable"), (5, "refused")] {
        let (mut handshake, _) = authenticated();
        let error = handshake
            .receive(&mut b(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
            .unwrap_err();
        assert!(error.to_string().contains(words), "{code}: {error}");
    }
}

#[test]
fn protocol_breaches_are_errors_not_hangs() {
    // Not SOCKS5 at all (an HTTP proxy answering).
    let (mut handshake, _) = Socks5Handshake::new(domain(), None).unwrap();
    let http = b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec();
    assert!(matches!(
        handshake.receive(&mut BytesMut::from(&http[..])),
        Err(Socks5Error::Protocol(_))
    ));
    // A method we did not offer.
    let (mut handshake, _) = Socks5Handshake::new(domain(), None).unwrap();
    assert!(handshake.receive(&mut b(&[5, 2])).is_err());
    // An unknown address type in the reply.
    let (mut handshake, _) = authenticated();
    assert!(handshake.receive(&mut b(&[5, 0, 0, 9])).is_err());
    // Bytes after the reply, before the client has spoken.
    let (mut handshake, _) = authenticated();
    let error = handshake
        .receive(&mut b(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0, b'x']))
        .unwrap_err();
    assert!(error.to_string().contains("before the server"), "{error}");
}

#[test]
fn fields_socks5_cannot_carry_are_refused_up_front() {
    let long = "x".repeat(256);
    for (target, credentials) in [
        (Socks5Target::Domain(long.clone(), 1), None),
        (domain(), Some((long.clone(), "p".into()))),
        (domain(), Some(("u".into(), long.clone()))),
        (domain(), Some((String::new(), "p".into()))),
    ] {
        let error = Socks5Handshake::new(target, credentials).unwrap_err();
        assert!(matches!(error, Socks5Error::Field { .. }), "{error}");
    }
}
