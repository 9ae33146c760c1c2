use super::*;
use bytes::Bytes;
use http::StatusCode;

const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn parse(head: &str) -> Result<UpgradeRequest, HandshakeError> {
    parse_request(head.as_bytes(), &Limits::default())
}

/// The RFC request with one header line replaced (or removed when `with` is empty).
fn with_header(name: &str, with: &str) -> String {
    let mut out = String::new();
    for line in RFC_REQUEST.split_inclusive("\r\n") {
        if line
            .to_ascii_lowercase()
            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        {
            if !with.is_empty() {
                out.push_str(&format!("{name}: {with}\r\n"));
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

fn status_of(head: &str) -> StatusCode {
    parse(head).unwrap_err().status()
}

#[test]
fn rfc_request_is_accepted_with_the_rfc_accept_value() {
    let req = parse(RFC_REQUEST).unwrap();
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.host(), "server.example.com");
    assert_eq!(req.origin(), Some("http://example.com"));
    let policy = AcceptPolicy {
        protocols: vec!["chat".into()],
        origins: super::super::origin::OriginPolicy::Any,
        ..AcceptPolicy::default()
    };
    let accepted = accept(req.request().clone(), &policy).unwrap();
    let response = String::from_utf8(encode_response(&accepted.response, false)).unwrap();
    assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(response.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(response.contains("sec-websocket-protocol: chat\r\n"));
    assert!(response.ends_with("\r\n\r\n"));
    assert!(!response.contains("content-length"), "a 101 has no body");
}

#[test]
fn upgrade_and_connection_are_tokens_in_lists_any_case() {
    let head = with_header("Connection", "keep-alive, UPGRADE");
    let head = head.replace("Upgrade: websocket", "Upgrade: WebSocket");
    assert!(parse(&head).is_ok());
}

#[test]
fn missing_or_wrong_upgrade_headers_are_400() {
    assert_eq!(
        status_of(&with_header("Upgrade", "")),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status_of(&with_header("Upgrade", "h2c")),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status_of(&with_header("Connection", "keep-alive")),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(status_of(&with_header("Host", "")), StatusCode::BAD_REQUEST);
}

#[test]
fn key_must_be_base64_of_16_bytes_and_single() {
    assert_eq!(
        parse(&with_header("Sec-WebSocket-Key", "")).unwrap_err(),
        HandshakeError::MissingHeader("Sec-WebSocket-Key")
    );
    for bad in ["not base64!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(
            status_of(&with_header("Sec-WebSocket-Key", bad)),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let twice = RFC_REQUEST.replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert_eq!(status_of(&twice), StatusCode::BAD_REQUEST);
}

#[test]
fn other_versions_get_426() {
    let err = parse(&with_header("Sec-WebSocket-Version", "8")).unwrap_err();
    assert_eq!(err, HandshakeError::UnsupportedVersion("8".into()));
    assert_eq!(err.status(), StatusCode::UPGRADE_REQUIRED);
    let response = Refusal::from(err).response();
    let response = String::from_utf8(encode_response(&response, false)).unwrap();
    assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(response.contains("sec-websocket-version: 13\r\n"));
    assert!(response.ends_with(
        "Connection: close\r\n\r\nWebSocket version \"8\" is not supported; only version 13 is\n"
    ));
}

#[test]
fn missing_version_is_400() {
    assert_eq!(
        status_of(&with_header("Sec-WebSocket-Version", "")),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn only_get_over_http_1_1() {
    assert_eq!(
        status_of(&RFC_REQUEST.replace("GET", "POST")),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        parse(&RFC_REQUEST.replace("HTTP/1.1", "HTTP/1.0")).unwrap_err(),
        HandshakeError::HttpVersion
    );
    assert_eq!(status_of("GARBAGE\r\n\r\n"), StatusCode::BAD_REQUEST);
}

#[test]
fn too_many_headers_is_431() {
    let extra: String = (0..200).map(|i| format!("X-{i}: a\r\n")).collect();
    let head = RFC_REQUEST.replace("\r\n\r\n", &format!("\r\n{extra}\r\n"));
    assert_eq!(
        status_of(&head),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[test]
fn subprotocols_are_collected_across_header_lines() {
    let head = RFC_REQUEST.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
    assert_eq!(
        parse(&head).unwrap().protocols(),
        ["chat", "superchat", "mqtt"]
    );
    let bad = with_header("Sec-WebSocket-Protocol", "a b");
    assert_eq!(status_of(&bad), StatusCode::BAD_REQUEST);
}

#[test]
fn server_chooses_by_its_own_preference_and_only_among_offers() {
    let req = parse(RFC_REQUEST).unwrap();
    assert_eq!(
        select_protocol(req.protocols(), &["superchat", "chat"]),
        Some("superchat")
    );
    assert_eq!(select_protocol(req.protocols(), &["graphql-ws"]), None);
}

#[test]
fn query_is_kept_in_the_request() {
    let req = parse(&RFC_REQUEST.replace("/chat", "/chat?room=a")).unwrap();
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.request().uri().query(), Some("room=a"));
}

#[test]
fn body_headers_on_the_upgrade_get_are_400() {
    for (name, value) in [("Content-Length", "5"), ("Transfer-Encoding", "chunked")] {
        let head = RFC_REQUEST.replace("\r\n\r\n", &format!("\r\n{name}: {value}\r\n\r\n"));
        let error = parse(&head).unwrap_err();
        assert_eq!(error, HandshakeError::BodyHeader(name));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }
}

#[test]
fn a_head_with_bytes_after_its_end_is_refused() {
    // The I/O layer hands over exactly the scanned head; anything more means two
    // parsers disagree on where it ends.
    let head = format!("{RFC_REQUEST}GET /other HTTP/1.1\r\n\r\n");
    assert_eq!(status_of(&head), StatusCode::BAD_REQUEST);
}

#[test]
fn a_bare_lf_head_is_400() {
    let head = RFC_REQUEST.replace("\r\n", "\n");
    assert_eq!(status_of(&head), StatusCode::BAD_REQUEST);
}

#[test]
fn two_origins_or_an_origin_that_is_not_visible_ascii_are_400() {
    let two = RFC_REQUEST.replace("\r\n\r\n", "\r\nOrigin: http://evil.example\r\n\r\n");
    assert!(matches!(
        parse(&two),
        Err(HandshakeError::InvalidHeader { name: "Origin", .. })
    ));
    let mut head = with_header("Origin", "http://exa\u{e9}mple.com").into_bytes();
    assert!(matches!(
        parse_request(&head, &Limits::default()),
        Err(HandshakeError::InvalidHeader { name: "Origin", .. })
    ));
    // obs-text (a Latin-1 byte) is what httparse lets through.
    let at = head.windows(4).position(|w| w == b"exa\xc3").unwrap();
    head.remove(at + 3);
    assert!(matches!(
        parse_request(&head, &Limits::default()),
        Err(HandshakeError::InvalidHeader { name: "Origin", .. })
    ));
}

fn rfc_request() -> http::Request<()> {
    parse(RFC_REQUEST).unwrap().request().clone()
}

#[test]
fn accept_refuses_a_foreign_origin_before_asking_the_application() {
    let mut asked = false;
    let refusal = accept_with(rfc_request(), &AcceptPolicy::default(), |_| {
        asked = true;
        Ok(())
    })
    .unwrap_err();
    assert!(!asked, "the application's check ran for a refused origin");
    assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
    assert_eq!(refusal.cause(), "origin");
    assert_eq!(
        refusal.reason(),
        "origin http://example.com is not allowed to connect"
    );
    let wire = String::from_utf8(encode_response(&refusal.response(), false)).unwrap();
    assert!(wire.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{wire}");
    assert!(wire.ends_with("\r\n\r\norigin http://example.com is not allowed to connect\n"));
}

#[test]
fn accept_passes_the_applications_refusal_on_as_it_is() {
    let policy = AcceptPolicy {
        origins: super::super::origin::OriginPolicy::allow_list(["http://example.com"]),
        ..AcceptPolicy::default()
    };
    let refusal = accept_with(rfc_request(), &policy, |request| {
        Err((
            StatusCode::NOT_FOUND,
            format!("nothing at {}", request.path()),
        ))
    })
    .unwrap_err();
    assert_eq!(
        refusal,
        Refusal::Refused {
            status: StatusCode::NOT_FOUND,
            reason: "nothing at /chat".into()
        }
    );
    assert_eq!(refusal.cause(), "not_found");
}

#[test]
fn refusal_causes_are_a_fixed_set_of_words() {
    for (error, cause) in [
        (HandshakeError::UnsupportedVersion("8".into()), "version"),
        (HandshakeError::MethodNotGet("POST".into()), "method"),
        (HandshakeError::HeadTooLarge { limit: 1 }, "too_large"),
        (HandshakeError::MissingHeader("upgrade"), "bad_request"),
    ] {
        assert_eq!(Refusal::from(error).cause(), cause);
    }
    let teapot = Refusal::Refused {
        status: StatusCode::IM_A_TEAPOT,
        reason: "no".into(),
    };
    assert_eq!(teapot.cause(), "application");
}

#[test]
fn accept_chooses_the_servers_preferred_protocol_and_negotiates_deflate() {
    let mut request = rfc_request();
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_EXTENSIONS,
        "permessage-deflate; client_max_window_bits"
            .parse()
            .unwrap(),
    );
    let policy = AcceptPolicy {
        origins: super::super::origin::OriginPolicy::Any,
        protocols: vec!["superchat".into(), "chat".into()],
        deflate: Some(crate::DeflateConfig::default()),
        ..AcceptPolicy::default()
    };
    let accepted = accept(request.clone(), &policy).unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("superchat"));
    assert_eq!(
        accepted.response.headers()["sec-websocket-protocol"],
        "superchat"
    );
    assert!(
        accepted.response.headers()[header::SEC_WEBSOCKET_EXTENSIONS]
            .to_str()
            .unwrap()
            .starts_with("permessage-deflate")
    );
    assert!(accepted.connection.deflate_enabled());
    // Without a deflate policy the offer is declined.
    let plain = AcceptPolicy {
        deflate: None,
        ..policy
    };
    let accepted = accept(request, &plain).unwrap();
    assert!(!accepted.connection.deflate_enabled());
    assert!(!accepted
        .response
        .headers()
        .contains_key(header::SEC_WEBSOCKET_EXTENSIONS));
}

mod extended_connect {
    //! RFC 8441: WebSocket over an HTTP/2 stream, decided by the same core.
    use super::*;
    use crate::handshake::client::ClientHandshake;
    use crate::handshake::origin::OriginPolicy;

    fn request() -> http::Request<()> {
        ClientHandshake::new("example.com", "/chat?room=a")
            .origin("https://example.com")
            .protocols(["chat"])
            .extended_connect("https")
            .unwrap()
    }

    #[test]
    fn is_accepted_with_200_and_no_key_and_the_client_agrees() {
        let policy = AcceptPolicy {
            protocols: vec!["chat".into()],
            reached: crate::handshake::origin::Reached {
                over_tls: true,
                loopback_only: false,
            },
            deflate: Some(crate::DeflateConfig::default()),
            ..AcceptPolicy::default()
        };
        let client = ClientHandshake::new("example.com", "/chat?room=a")
            .origin("https://example.com")
            .protocols(["chat"])
            .deflate(crate::DeflateConfig::default());
        let accepted = accept(client.extended_connect("https").unwrap(), &policy).unwrap();
        assert!(accepted.request.is_extended_connect());
        assert_eq!(accepted.request.path(), "/chat");
        assert_eq!(
            accepted.request.host(),
            "example.com",
            "same origin by :authority"
        );
        assert_eq!(accepted.response.status(), StatusCode::OK);
        let headers = accepted.response.headers();
        for forbidden in [
            header::UPGRADE,
            header::CONNECTION,
            header::SEC_WEBSOCKET_ACCEPT,
        ] {
            assert!(!headers.contains_key(&forbidden), "{forbidden}");
        }
        assert_eq!(headers[header::SEC_WEBSOCKET_PROTOCOL], "chat");
        let (connection, protocol) = client
            .finish_extended_connect(&accepted.response.map(|_| ()), Limits::default())
            .unwrap();
        assert_eq!(protocol.as_deref(), Some("chat"));
        assert!(connection.deflate_enabled());
        assert!(accepted.connection.deflate_enabled());
    }

    #[test]
    fn the_origin_policy_holds_as_over_http1() {
        let mut foreign = request();
        foreign
            .headers_mut()
            .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        let refusal = accept(foreign, &AcceptPolicy::default()).unwrap_err();
        assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn other_methods_and_protocols_are_refused_with_the_reason() {
        let policy = AcceptPolicy {
            origins: OriginPolicy::Any,
            ..AcceptPolicy::default()
        };
        let mut get = request();
        *get.method_mut() = Method::GET;
        let refusal = accept(get, &policy).unwrap_err();
        assert_eq!(refusal.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            refusal.reason().contains("extended CONNECT"),
            "{}",
            refusal.reason()
        );

        let mut other = request();
        other
            .extensions_mut()
            .insert(ConnectProtocol("webtransport".into()));
        assert_eq!(
            accept(other, &policy).unwrap_err(),
            Refusal::Invalid(HandshakeError::InvalidHeader {
                name: ":protocol",
                value: "webtransport".into()
            })
        );
        let mut plain_connect = request();
        plain_connect.extensions_mut().remove::<ConnectProtocol>();
        assert_eq!(
            accept(plain_connect, &policy).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );

        let mut old = request();
        old.headers_mut()
            .insert(header::SEC_WEBSOCKET_VERSION, "8".parse().unwrap());
        assert_eq!(
            accept(old, &policy).unwrap_err().status(),
            StatusCode::UPGRADE_REQUIRED
        );
    }

    #[test]
    fn the_client_refuses_a_non_2xx_or_an_unoffered_protocol() {
        let client = ClientHandshake::new("example.com", "/");
        let mut response = http::Response::new(());
        *response.status_mut() = StatusCode::NOT_FOUND;
        assert_eq!(
            client
                .finish_extended_connect(&response, Limits::default())
                .unwrap_err(),
            HandshakeError::UnexpectedStatus {
                status: StatusCode::NOT_FOUND
            }
        );
        *response.status_mut() = StatusCode::OK;
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, "chat".parse().unwrap());
        assert!(matches!(
            client.finish_extended_connect(&response, Limits::default()),
            Err(HandshakeError::UnofferedProtocol(_))
        ));
    }
}

/// The RFC request with `extra` more header fields, `X-Filler-N: n` each.
fn with_extra_fields(extra: usize) -> String {
    let (head, end) = RFC_REQUEST.split_at(RFC_REQUEST.len() - 2);
    let filler: String = (0..extra)
        .map(|n| format!("X-Filler-{n}: {n}\r\n"))
        .collect();
    format!("{head}{filler}{end}")
}

#[test]
fn header_fields_up_to_the_limit_are_parsed_and_one_more_is_refused_with_431() {
    // The RFC request has 7 fields of its own.
    let at_limit = with_extra_fields(128 - 7);
    let request = parse(&at_limit).unwrap();
    assert_eq!(request.request().headers().len(), 128);
    let over = parse(&with_extra_fields(128 - 7 + 1)).unwrap_err();
    assert_eq!(over, HandshakeError::TooManyHeaders { limit: 128 });
    assert_eq!(over.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn a_header_limit_above_the_stack_slots_is_honoured_both_ways() {
    let mut limits = Limits {
        max_headers: 300,
        ..Limits::default()
    };
    let at_limit = with_extra_fields(300 - 7);
    let request = parse_request(at_limit.as_bytes(), &limits).unwrap();
    assert_eq!(request.request().headers().len(), 300);
    assert_eq!(
        parse_request(with_extra_fields(300 - 7 + 1).as_bytes(), &limits).unwrap_err(),
        HandshakeError::TooManyHeaders { limit: 300 }
    );
    limits.max_headers = 3;
    assert_eq!(
        parse_request(RFC_REQUEST.as_bytes(), &limits).unwrap_err(),
        HandshakeError::TooManyHeaders { limit: 3 }
    );
}

#[test]
fn a_shared_head_lends_its_memory_to_the_target_and_every_value() {
    let head = Bytes::from_static(RFC_REQUEST.as_bytes());
    let within = |bytes: &[u8]| head.as_ptr_range().contains(&bytes.as_ptr());
    let request = parse_shared_head(head.clone(), &Limits::default()).unwrap();
    assert!(within(request.uri().path().as_bytes()), "the target");
    assert_eq!(request.headers().len(), 7);
    for (name, value) in request.headers() {
        assert!(within(value.as_bytes()), "{name} was copied");
    }
    // The same request as from a borrowed head, which is copied once.
    let copied = parse_head(RFC_REQUEST.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(copied.uri(), request.uri());
    assert_eq!(copied.headers(), request.headers());
    let upgrade = validate(request).unwrap();
    assert_eq!(upgrade.key(), "dGhlIHNhbXBsZSBub25jZQ==");
}
