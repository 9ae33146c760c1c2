use http::header::{HeaderMap, HeaderName};

/// Whether `s` is an HTTP token (RFC 9110 section 5.6.2), as subprotocol names must be.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The comma-separated elements of every `name` header, trimmed, empty ones skipped.
pub fn header_tokens<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Whether the list-valued header `name` contains `token`, compared case-insensitively.
pub(crate) fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    header_tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Converts httparse's headers into a `HeaderMap`, rejecting invalid names and values.
pub(crate) fn to_header_map(
    parsed: &[httparse::Header<'_>],
) -> Result<HeaderMap, crate::HandshakeError> {
    let mut map = HeaderMap::with_capacity(parsed.len());
    for h in parsed {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
            crate::HandshakeError::Malformed(format!("invalid header name {:?}", h.name))
        })?;
        let value = http::HeaderValue::from_bytes(h.value).map_err(|_| {
            crate::HandshakeError::Malformed(format!("invalid value for header {}", h.name))
        })?;
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONNECTION, UPGRADE};

    #[test]
    fn tokens_are_found_case_insensitively_inside_lists() {
        let mut headers = HeaderMap::new();
        headers.append(CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        headers.append(UPGRADE, "WebSocket".parse().unwrap());
        assert!(has_token(&headers, &CONNECTION, "upgrade"));
        assert!(has_token(&headers, &UPGRADE, "websocket"));
        assert!(!has_token(&headers, &CONNECTION, "close"));
    }

    #[test]
    fn token_grammar() {
        assert!(is_token("chat.v2"));
        assert!(!is_token("chat v2"));
        assert!(!is_token(""));
        assert!(!is_token("a,b"));
    }
}
