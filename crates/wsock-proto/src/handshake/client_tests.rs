use super::super::accept_key;
use super::*;
use crate::handshake::server;
use http::StatusCode;

fn server_response(req: &ClientHandshake, protocol: Option<&str>) -> Vec<u8> {
    let parsed = server::parse_request(&req.encode().unwrap(), &Limits::default()).unwrap();
    answer_101(&parsed, protocol, &HeaderMap::new())
}

/// A 101 to `parsed` choosing `protocol`, with `extra` headers: any answer a server
/// might give, right or wrong, for the client to judge.
fn answer_101(
    parsed: &server::UpgradeRequest,
    protocol: Option<&str>,
    extra: &HeaderMap,
) -> Vec<u8> {
    let mut response = http::Response::new(bytes::Bytes::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let key = accept_key(parsed.key().as_bytes());
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, key.parse().unwrap());
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol.parse().unwrap());
    }
    headers.extend(extra.clone());
    server::encode_response(&response, false)
}

#[test]
fn request_and_response_agree_end_to_end() {
    let req = ClientHandshake::new("localhost:12345", "/echo?x=1")
        .origin("http://localhost/")
        .protocols(["chat", "superchat"])
        .header(header::USER_AGENT, HeaderValue::from_static("wsock-test"));
    let parsed = server::parse_request(&req.encode().unwrap(), &Limits::default()).unwrap();
    assert_eq!(parsed.request().uri(), "/echo?x=1");
    assert_eq!(parsed.origin(), Some("http://localhost/"));
    assert_eq!(parsed.request().headers()[header::USER_AGENT], "wsock-test");
    let accepted = req
        .validate_response(
            &answer_101(&parsed, Some("superchat"), &HeaderMap::new()),
            &Limits::default(),
        )
        .unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("superchat"));
}

#[test]
fn every_request_has_a_fresh_key() {
    let a = ClientHandshake::new("h", "/");
    let b = ClientHandshake::new("h", "/");
    assert_ne!(a.key(), b.key());
    assert_eq!(a.key().len(), 24);
}

#[test]
fn wrong_accept_value_is_rejected() {
    let req = ClientHandshake::new("h", "/");
    let other = ClientHandshake::new("h", "/");
    let response = server_response(&other, None);
    assert_eq!(
        req.validate_response(&response, &Limits::default())
            .unwrap_err(),
        HandshakeError::InvalidAccept
    );
}

#[test]
fn non_101_status_is_reported() {
    let req = ClientHandshake::new("h", "/");
    let refusal = server::text_response(StatusCode::FORBIDDEN, "no");
    let response = server::encode_response(&refusal, false);
    assert_eq!(
        req.validate_response(&response, &Limits::default())
            .unwrap_err(),
        HandshakeError::UnexpectedStatus {
            status: StatusCode::FORBIDDEN
        }
    );
}

#[test]
fn protocol_not_offered_is_rejected() {
    let offered = ClientHandshake::new("h", "/").protocols(["chat"]);
    let response = String::from_utf8(server_response(&offered, Some("chat")))
        .unwrap()
        .replace(
            "sec-websocket-protocol: chat",
            "sec-websocket-protocol: superchat",
        );
    assert_eq!(
        offered
            .validate_response(response.as_bytes(), &Limits::default())
            .unwrap_err(),
        HandshakeError::UnofferedProtocol("superchat".into())
    );
    // A protocol when none was offered at all.
    let none = ClientHandshake::new("h", "/");
    let response = String::from_utf8(server_response(&none, None))
        .unwrap()
        .replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
    assert!(matches!(
        none.validate_response(response.as_bytes(), &Limits::default()),
        Err(HandshakeError::UnofferedProtocol(_))
    ));
}

#[test]
fn extension_not_offered_is_rejected() {
    let req = ClientHandshake::new("h", "/");
    let response = String::from_utf8(server_response(&req, None))
        .unwrap()
        .replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
    assert_eq!(
        req.validate_response(response.as_bytes(), &Limits::default())
            .unwrap_err(),
        HandshakeError::UnofferedExtension("permessage-deflate".into())
    );
}

#[test]
fn missing_upgrade_header_is_rejected() {
    let req = ClientHandshake::new("h", "/");
    let response = String::from_utf8(server_response(&req, None))
        .unwrap()
        .replace("upgrade: websocket\r\n", "");
    assert_eq!(
        req.validate_response(response.as_bytes(), &Limits::default())
            .unwrap_err(),
        HandshakeError::MissingHeader("Upgrade")
    );
}

#[test]
fn deflate_is_offered_and_its_answer_checked() {
    use crate::deflate::{negotiate_server, DeflateConfig};
    let req = ClientHandshake::new("h", "/").deflate(DeflateConfig::default());
    let head = String::from_utf8(req.encode().unwrap()).unwrap();
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    );
    let parsed = server::parse_request(head.as_bytes(), &Limits::default()).unwrap();
    let offers = parsed
        .request()
        .headers()
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS);
    let (_, answer) = negotiate_server(
        offers.iter().filter_map(|v| v.to_str().ok()),
        &DeflateConfig::default(),
    )
    .unwrap();
    let mut extra = HeaderMap::new();
    extra.insert(header::SEC_WEBSOCKET_EXTENSIONS, answer.parse().unwrap());
    let accepted = req
        .validate_response(&answer_101(&parsed, None, &extra), &Limits::default())
        .unwrap();
    assert!(accepted.deflate.is_some());
    // Declined: no extension header in the answer.
    let accepted = req
        .validate_response(
            &answer_101(&parsed, None, &HeaderMap::new()),
            &Limits::default(),
        )
        .unwrap();
    assert!(accepted.deflate.is_none());
}

#[test]
fn several_deflate_offers_are_sent_and_the_answer_matched_to_one() {
    use crate::deflate::{negotiate_server, DeflateConfig};
    let plain = DeflateConfig::default();
    let lean = DeflateConfig::default().no_context_takeover(true);
    let req = ClientHandshake::new("h", "/").deflate_offers([lean.clone(), plain.clone()]);
    let head = String::from_utf8(req.encode().unwrap()).unwrap();
    assert!(head.contains(&format!(
        "Sec-WebSocket-Extensions: {}, {}\r\n",
        lean.client_offer(),
        plain.client_offer()
    )));
    // An answer without server_no_context_takeover does not fit the lean offer (which
    // asked for it) but fits the plain one.
    let parsed = server::parse_request(head.as_bytes(), &Limits::default()).unwrap();
    let mut extra = HeaderMap::new();
    extra.insert(
        header::SEC_WEBSOCKET_EXTENSIONS,
        HeaderValue::from_static("permessage-deflate"),
    );
    let (_, config) = req
        .validate_response(&answer_101(&parsed, None, &extra), &Limits::default())
        .unwrap()
        .deflate
        .unwrap();
    assert_eq!(config, plain);
    let offers = parsed
        .request()
        .headers()
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS);
    let (params, _) = negotiate_server(
        offers.iter().filter_map(|v| v.to_str().ok()),
        &DeflateConfig::default(),
    )
    .unwrap();
    assert!(
        params.server_no_context_takeover,
        "a server takes the first offer it can honour"
    );
}

#[test]
fn cr_or_lf_in_any_field_is_refused_before_encoding() {
    let field = |request: ClientHandshake| match request.encode() {
        Err(LocalError::InvalidRequestField { field, .. }) => field,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(field(ClientHandshake::new("h\r\nX: y", "/")), "host");
    assert_eq!(field(ClientHandshake::new("h", "/a\r\nX: y")), "resource");
    assert_eq!(field(ClientHandshake::new("h", "/a b")), "resource");
    assert_eq!(field(ClientHandshake::new("h", "a")), "resource");
    assert_eq!(
        field(ClientHandshake::new("h", "/").origin("http://o\nX: y")),
        "origin"
    );
    assert_eq!(
        field(ClientHandshake::new("h", "/").protocols(["chat\r\nX: y"])),
        "subprotocol"
    );
    let fine = ClientHandshake::new("[::1]:80", "/a?b=c%20d").origin("http://localhost/");
    assert!(fine.encode().is_ok());
}

#[test]
fn a_response_over_the_header_limit_is_refused_in_words() {
    let req = ClientHandshake::new("h", "/");
    let parsed = server::parse_request(&req.encode().unwrap(), &Limits::default()).unwrap();
    let mut extra = HeaderMap::new();
    for n in 0..10 {
        let name = http::HeaderName::from_bytes(format!("x-filler-{n}").as_bytes()).unwrap();
        extra.insert(name, HeaderValue::from(n));
    }
    let response = answer_101(&parsed, None, &extra);
    let mut limits = Limits::default();
    assert!(req.validate_response(&response, &limits).is_ok());
    limits.max_headers = 12;
    let error = req.validate_response(&response, &limits).unwrap_err();
    assert_eq!(error, HandshakeError::TooManyHeaders { limit: 12 });
    assert!(
        error.to_string().contains("more than 12 header fields"),
        "{error}"
    );
}
