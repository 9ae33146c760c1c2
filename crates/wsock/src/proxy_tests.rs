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
    assert!(err.contains("only http://") && !err.contains("pw"), "{err}");
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
