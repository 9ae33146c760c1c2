use super::*;

fn server(offer: &str) -> Option<(DeflateParams, String)> {
    negotiate_server([offer], &DeflateConfig::default())
}

fn client(answer: &str) -> Result<DeflateParams, HandshakeError> {
    parse_client_response([answer], &DeflateConfig::default())
}

#[test]
fn plain_offer_is_accepted_with_defaults() {
    let (params, answer) = server("permessage-deflate").unwrap();
    assert_eq!(params, DeflateParams::default());
    assert_eq!(answer, "permessage-deflate");
}

#[test]
fn browser_offer_is_accepted() {
    // What Chromium sends.
    let (params, answer) = server("permessage-deflate; client_max_window_bits").unwrap();
    assert_eq!(params.client_max_window_bits, 15);
    assert_eq!(answer, "permessage-deflate");
}

#[test]
fn each_parameter_is_honoured() {
    let (p, a) = server("permessage-deflate; server_no_context_takeover").unwrap();
    assert!(p.server_no_context_takeover);
    assert_eq!(a, "permessage-deflate; server_no_context_takeover");

    let (p, a) = server("permessage-deflate; client_no_context_takeover").unwrap();
    assert!(p.client_no_context_takeover);
    assert_eq!(a, "permessage-deflate; client_no_context_takeover");

    let (p, a) = server("permessage-deflate; server_max_window_bits=12").unwrap();
    assert_eq!(p.server_max_window_bits, 12);
    assert_eq!(a, "permessage-deflate; server_max_window_bits=12");

    // Asked with 15: still answered, as section 7.1.2.1 requires.
    let (_, a) = server("permessage-deflate; server_max_window_bits=15").unwrap();
    assert_eq!(a, "permessage-deflate; server_max_window_bits=15");

    let (p, a) = server("permessage-deflate; client_max_window_bits=10").unwrap();
    assert_eq!(p.client_max_window_bits, 10);
    assert_eq!(a, "permessage-deflate; client_max_window_bits=10");

    let quoted = server("permessage-deflate; server_max_window_bits=\"11\"").unwrap();
    assert_eq!(quoted.0.server_max_window_bits, 11);
}

#[test]
fn server_configuration_limits_are_stated() {
    let config = DeflateConfig::default()
        .max_window_bits(10)
        .no_context_takeover(true);
    let (p, a) = negotiate_server(["permessage-deflate; client_max_window_bits"], &config).unwrap();
    assert_eq!(
        (p.server_max_window_bits, p.client_max_window_bits),
        (10, 10)
    );
    assert_eq!(
        a,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=10"
    );
    // A client that cannot limit its window is not told to.
    let (p, a) = negotiate_server(["permessage-deflate"], &config).unwrap();
    assert_eq!(p.client_max_window_bits, 15);
    assert!(!a.contains("client_max_window_bits"));
}

#[test]
fn invalid_offers_are_declined() {
    for offer in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; unknown_parameter",
        "permessage-deflate; server_max_window_bits=8", // we cannot compress with 8
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(server(offer), None, "{offer}");
    }
}

#[test]
fn the_first_acceptable_of_several_offers_wins() {
    let header = "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10, permessage-deflate";
    let (p, _) = server(header).unwrap();
    assert_eq!(p.server_max_window_bits, 10);
    // Offers split over two header lines count too.
    let (p, _) = negotiate_server(
        ["foo", "permessage-deflate; client_no_context_takeover"],
        &DeflateConfig::default(),
    )
    .unwrap();
    assert!(p.client_no_context_takeover);
}

#[test]
fn client_offer_names_what_it_wants() {
    assert_eq!(
        DeflateConfig::default().client_offer(),
        "permessage-deflate; client_max_window_bits"
    );
    let lean = DeflateConfig::default()
        .no_context_takeover(true)
        .max_window_bits(9);
    assert_eq!(
        lean.client_offer(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=9; client_max_window_bits=9"
    );
}

#[test]
fn client_accepts_valid_answers() {
    assert_eq!(
        client("permessage-deflate").unwrap(),
        DeflateParams::default()
    );
    let p = client("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")
        .unwrap();
    assert!(p.server_no_context_takeover);
    assert_eq!(p.client_max_window_bits, 10);
    let p =
        client("permessage-deflate; client_no_context_takeover; server_max_window_bits=9").unwrap();
    assert!(p.client_no_context_takeover);
    assert_eq!(p.server_max_window_bits, 9);
}

#[test]
fn client_rejects_invalid_or_unoffered_answers() {
    for answer in [
        "permessage-deflate; client_max_window_bits", // a value is required in answers
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate, permessage-deflate",
    ] {
        assert!(
            matches!(client(answer), Err(HandshakeError::InvalidExtension(_))),
            "{answer}"
        );
    }
    assert_eq!(
        client("x-custom"),
        Err(HandshakeError::UnofferedExtension("x-custom".into()))
    );
}

#[test]
fn client_checks_the_server_honoured_its_requests() {
    let config = DeflateConfig {
        server_no_context_takeover: true,
        server_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    let ok = parse_client_response(
        ["permessage-deflate; server_no_context_takeover; server_max_window_bits=10"],
        &config,
    );
    assert!(ok.is_ok());
    let too_big = parse_client_response(
        ["permessage-deflate; server_no_context_takeover; server_max_window_bits=12"],
        &config,
    );
    assert!(matches!(too_big, Err(HandshakeError::InvalidExtension(_))));
    let no_reset =
        parse_client_response(["permessage-deflate; server_max_window_bits=10"], &config);
    assert!(matches!(no_reset, Err(HandshakeError::InvalidExtension(_))));
}
