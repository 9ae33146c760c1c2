use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName};

use crate::error::HandshakeError;

/// Header fields httparse may fill without a heap allocation: as many as the default
/// [`Limits::max_headers`](crate::Limits::max_headers). In a connection storm the
/// 4 KiB of slots allocated per handshake was one of the larger items of the
/// server's profile (glibc tidies its free lists before every allocation that size).
const STACK_HEADER_SLOTS: usize = 128;

/// Runs `parse` with `limit` header slots for httparse: on the stack when they fit,
/// on the heap beyond [`STACK_HEADER_SLOTS`].
pub(crate) fn with_header_slots<'b, R>(
    limit: usize,
    parse: impl FnOnce(&mut [MaybeUninit<httparse::Header<'b>>]) -> R,
) -> R {
    if limit <= STACK_HEADER_SLOTS {
        let mut slots = [const { MaybeUninit::uninit() }; STACK_HEADER_SLOTS];
        parse(&mut slots[..limit])
    } else {
        let mut slots = Vec::with_capacity(limit);
        slots.resize_with(limit, MaybeUninit::uninit);
        parse(&mut slots)
    }
}

/// httparse's verdict on a head that should be complete, as our error: `what` is
/// "request" or "response", `limit` the header count it was allowed.
pub(crate) fn complete_head(
    parsed: httparse::Result<usize>,
    what: &str,
    limit: usize,
) -> Result<(), HandshakeError> {
    match parsed {
        Ok(httparse::Status::Complete(_)) => Ok(()),
        Ok(httparse::Status::Partial) => Err(HandshakeError::Malformed(format!(
            "the {what} head is incomplete"
        ))),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders { limit }),
        Err(e) => Err(HandshakeError::Malformed(e.to_string())),
    }
}

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

/// Converts httparse's headers into a `HeaderMap`, rejecting invalid names and values;
/// `share` gives each value's bytes (a slice of the head, not a copy, where it can).
pub(crate) fn to_header_map(
    parsed: &[httparse::Header<'_>],
    share: impl Fn(&[u8]) -> Bytes,
) -> Result<HeaderMap, HandshakeError> {
    let mut map = HeaderMap::with_capacity(parsed.len());
    for h in parsed {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HandshakeError::Malformed(format!("invalid header name {:?}", h.name)))?;
        let value = http::HeaderValue::from_maybe_shared(share(h.value)).map_err(|_| {
            HandshakeError::Malformed(format!("invalid value for header {}", h.name))
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
