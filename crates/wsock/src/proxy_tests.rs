use super::*;

fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn scheme_picks_the_variable() {
    let vars = [
        ("http_proxy", "http://plain:1"),
        ("HTTPS_PROXY", "secure:2"),
    ];
    let plain = from_env(false, "example.com", 80, env(&vars))
        .unwrap()
        .unwrap();
    let secure = from_env(true, "example.com", 443, env(&vars))
        .unwrap()
        .unwrap();
    assert_eq!(plain.address(), "plain:1");
    assert_eq!(secure.address(), "secure:2");
}

#[test]
fn lower_case_wins_and_all_proxy_is_the_fallback() {
    let vars = [("http_proxy", "lower:1"), ("HTTP_PROXY", "upper:2")];
    let chosen = from_env(false, "h", 80, env(&vars)).unwrap().unwrap();
    assert_eq!(chosen.address(), "lower:1");
    let vars = [("ALL_PROXY", "all:3")];
    assert_eq!(
        from_env(true, "h", 443, env(&vars))
            .unwrap()
            .unwrap()
            .address(),
        "all:3"
    );
    assert!(from_env(true, "h", 443, env(&[("http_proxy", "x:1")])).is_none());
    assert!(from_env(false, "h", 80, env(&[("http_proxy", " ")])).is_none());
}

#[test]
fn upper_case_http_proxy_is_never_read() {
    // Under CGI, `Proxy: attacker:1` in a request becomes HTTP_PROXY ("httpoxy").
    assert!(from_env(false, "h", 80, env(&[("HTTP_PROXY", "attacker:1")])).is_none());
    let vars = [("HTTP_PROXY", "attacker:1"), ("ALL_PROXY", "all:3")];
    let chosen = from_env(false, "h", 80, env(&vars)).unwrap().unwrap();
    assert_eq!(chosen.address(), "all:3");
    let vars = [("HTTPS_PROXY", "secure:2")];
    let chosen = from_env(true, "h", 443, env(&vars)).unwrap().unwrap();
    assert_eq!(chosen.address(), "secure:2");
}

#[test]
fn no_proxy_matches_hosts_subdomains_ports_and_star() {
    for (list, host, port, expected) in [
        ("example.com", "example.com", 80, true),
        ("example.com", "a.example.com", 80, true),
        (".example.com", "a.example.com", 80, true),
        ("*.example.com", "a.example.com", 80, true),
        ("example.com", "badexample.com", 80, false),
        ("other.org, example.com", "EXAMPLE.com", 80, true),
        ("example.com:8080", "example.com", 8080, true),
        ("example.com:8080", "example.com", 80, false),
        ("127.0.0.1", "127.0.0.1", 9000, true),
        ("[::1]:9000", "::1", 9000, true),
        ("::1", "::1", 9000, true),
        ("*", "anything", 1, true),
        ("", "example.com", 80, false),
    ] {
        assert_eq!(
            bypasses(list, host, port),
            expected,
            "{list:?} vs {host}:{port}"
        );
    }
    let vars = [("https_proxy", "p:1"), ("NO_PROXY", "internal")];
    assert!(from_env(true, "db.internal", 443, env(&vars)).is_none());
    assert!(from_env(true, "example.com", 443, env(&vars)).is_some());
}

#[test]
fn credentials_become_basic_auth_and_stay_out_of_debug() {
    let proxy = Proxy::new("http://us%40er:p%3Ass@proxy:3128").unwrap();
    let request = String::from_utf8(proxy.connect_request("example.com", 443)).unwrap();
    // base64("us@er:p:ss")
    assert!(
        request.starts_with("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"),
        "{request}"
    );
    assert!(request.contains("Proxy-Authorization: Basic dXNAZXI6cDpzcw==\r\n"));
    assert!(request.ends_with("\r\n\r\n"));
    assert!(!format!("{proxy:?}").contains("p:ss"));
    let ipv6 = String::from_utf8(proxy.connect_request("::1", 9)).unwrap();
    assert!(ipv6.starts_with("CONNECT [::1]:9 "), "{ipv6}");
}

#[test]
fn bad_proxy_urls_and_answers_say_why() {
    let err = Proxy::new("https://user:pw@proxy").unwrap_err().to_string();
    assert!(
        err.contains("must be http://") && !err.contains("pw"),
        "{err}"
    );
    let err = Proxy::new("socks4://proxy").unwrap_err().to_string();
    assert!(err.contains("SOCKS4"), "{err}");
    let proxy = Proxy::new("proxy").unwrap();
    assert_eq!(proxy.address(), "proxy:80");
    assert!(proxy
        .check_response(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_ok());
    for (head, why) in [
        (
            &b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"[..],
            "user:password@",
        ),
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", "403 Forbidden"),
        (b"garbage\r\n\r\n", "not valid HTTP"),
    ] {
        let err = proxy.check_response(head).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }
    let with_auth = Proxy::new("u:p@proxy:1").unwrap();
    let err = with_auth
        .check_response(b"HTTP/1.1 407 No\r\n\r\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("refused the credentials"), "{err}");
}

#[test]
fn socks5_urls_default_to_1080_and_say_who_resolves() {
    let local = Proxy::new("socks5://proxy").unwrap();
    let remote = Proxy::new("socks5h://u:p%40ss@proxy:9050").unwrap();
    assert_eq!(local.address(), "proxy:1080");
    assert_eq!(remote.address(), "proxy:9050");
    assert!(local.resolves_here("example.com"));
    assert!(!local.resolves_here("10.0.0.1") && !local.resolves_here("::1"));
    assert!(!remote.resolves_here("example.com"));
    let debug = format!("{remote:?}");
    assert!(
        debug.contains("socks5h") && !debug.contains("p@ss"),
        "{debug}"
    );
}

/// Feeds `answers` to a tunnel opening one at a time, returning what it sent
/// (the first bytes included) and how it ended.
fn converse(
    proxy: &Proxy,
    host: &str,
    resolved: Option<std::net::SocketAddr>,
    answers: &[&[u8]],
) -> (Vec<Vec<u8>>, Result<()>) {
    let (mut opening, first) = proxy.open_tunnel(host, 443, resolved).unwrap();
    let mut sent = vec![first];
    let mut buf = BytesMut::new();
    for answer in answers {
        buf.extend_from_slice(answer);
        match opening.receive(&mut buf) {
            Ok(TunnelStep::Send(bytes)) => sent.push(bytes),
            Ok(TunnelStep::Receive) => {}
            Ok(TunnelStep::Open) => return (sent, Ok(())),
            Err(error) => return (sent, Err(error)),
        }
    }
    (sent, Err(opening.closed()))
}

#[test]
fn a_socks5_tunnel_opens_with_credentials_and_the_name_or_the_address() {
    let reply: &[u8] = &[5, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    let proxy = Proxy::new("socks5h://alice:s3cret@proxy").unwrap();
    let (sent, result) = converse(&proxy, "example.com", None, &[&[5, 2], &[1, 0], reply]);
    result.unwrap();
    assert_eq!(sent[0], [5, 2, 0, 2]);
    assert_eq!(sent[1], b"\x01\x05alice\x06s3cret");
    assert_eq!(sent[2], b"\x05\x01\x00\x03\x0bexample.com\x01\xbb");

    let proxy = Proxy::new("socks5://proxy").unwrap();
    let resolved = Some("192.0.2.7:443".parse().unwrap());
    let (sent, result) = converse(&proxy, "example.com", resolved, &[&[5, 0], reply]);
    result.unwrap();
    assert_eq!(sent[1], [5, 1, 0, 1, 192, 0, 2, 7, 1, 187]);
}

#[test]
fn socks5_refusals_name_the_proxy_and_the_reason() {
    let proxy = Proxy::new("socks5h://alice:wrong@proxy:1").unwrap();
    let (_, result) = converse(&proxy, "example.com", None, &[&[5, 2], &[1, 1]]);
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Proxy { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("socks5h://proxy:1"), "{text}");
    assert!(
        text.contains("refused the user name and password"),
        "{text}"
    );
    assert!(!text.contains("wrong"), "{text}");
    let (_, result) = converse(&proxy, "example.com", None, &[&[5, 2]]);
    assert!(result
        .unwrap_err()
        .to_string()
        .contains("closed the connection"));
}

#[test]
fn an_http_tunnel_opens_once_its_head_is_complete() {
    let proxy = Proxy::new("http://proxy:3128").unwrap();
    let (sent, result) = converse(
        &proxy,
        "example.com",
        None,
        &[b"HTTP/1.1 200 OK\r\n", b"Via: x\r\n", b"\r\n"],
    );
    result.unwrap();
    assert_eq!(sent.len(), 1);
    let (_, result) = converse(&proxy, "example.com", None, &[b"HTTP/1.1 200 OK\r\n\r\nhi"]);
    assert!(result
        .unwrap_err()
        .to_string()
        .contains("before the server"));
}
