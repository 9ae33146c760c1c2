//! Parsing and answering `Sec-WebSocket-Extensions` for permessage-deflate
//! (RFC 7692 section 7.1).

use std::collections::HashSet;

use super::{DeflateConfig, DeflateParams};
use crate::error::HandshakeError;
use crate::handshake::is_token;

const NAME: &str = "permessage-deflate";

/// One element of an extension list: a name and its parameters.
#[derive(Debug)]
struct Element<'a> {
    name: &'a str,
    params: Vec<(&'a str, Option<String>)>,
}

/// Parameters of one permessage-deflate offer or answer, each present at most once.
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in offers only).
    client_max_window_bits: Option<Option<u8>>,
}

fn parse_element(text: &str) -> Option<Element<'_>> {
    let mut parts = text.split(';');
    let name = parts.next()?.trim();
    if !is_token(name) {
        return None;
    }
    let mut params = Vec::new();
    for part in parts {
        let part = part.trim();
        let (key, value) = match part.split_once('=') {
            Some((key, value)) => (key.trim(), Some(unquote(value.trim())?)),
            None => (part, None),
        };
        if !is_token(key) {
            return None;
        }
        params.push((key, value));
    }
    Some(Element { name, params })
}

/// A token, or a quoted string holding one (RFC 7692 allows both for values).
fn unquote(value: &str) -> Option<String> {
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => value,
    };
    is_token(inner).then(|| inner.to_owned())
}

fn elements<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> impl Iterator<Item = Option<Element<'a>>> {
    values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(parse_element)
}

fn window_bits(key: &str, value: Option<&str>) -> Result<u8, String> {
    let value = value.ok_or_else(|| format!("{key} needs a value"))?;
    // 8 to 15, decimal, no leading zero (RFC 7692 section 7.1.2).
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) if !value.starts_with('0') => Ok(bits),
        _ => Err(format!("{key}={value} is not a window size from 8 to 15")),
    }
}

fn parse_params(params: &[(&str, Option<String>)], is_answer: bool) -> Result<Params, String> {
    let mut seen = HashSet::new();
    let mut out = Params::default();
    for (key, value) in params {
        if !seen.insert(*key) {
            return Err(format!("parameter {key} appears twice"));
        }
        let value = value.as_deref();
        match *key {
            "server_no_context_takeover" | "client_no_context_takeover" => {
                if value.is_some() {
                    return Err(format!("{key} takes no value"));
                }
                if *key == "server_no_context_takeover" {
                    out.server_no_context_takeover = true;
                } else {
                    out.client_no_context_takeover = true;
                }
            }
            "server_max_window_bits" => out.server_max_window_bits = Some(window_bits(key, value)?),
            "client_max_window_bits" => {
                out.client_max_window_bits = Some(match value {
                    None if !is_answer => None,
                    _ => Some(window_bits(key, value)?),
                })
            }
            other => return Err(format!("unknown parameter {other}")),
        }
    }
    Ok(out)
}

/// Picks the first acceptable permessage-deflate offer among the request's
/// `Sec-WebSocket-Extensions` values, as RFC 7692 section 5 says: invalid offers and
/// offers we cannot honour are declined, and the next one tried. Returns the agreed
/// parameters and the response header value.
///
/// ```
/// use wsock_proto::{negotiate_server, DeflateConfig};
/// let offer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits";
/// let (params, answer) = negotiate_server([offer], &DeflateConfig::default()).unwrap();
/// assert_eq!(params.server_max_window_bits, 10);
/// assert_eq!(answer, "permessage-deflate; server_max_window_bits=10");
/// ```
pub fn negotiate_server<'a>(
    values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    for element in elements(values).flatten() {
        if element.name != NAME {
            continue;
        }
        let Ok(offer) = parse_params(&element.params, false) else {
            continue;
        };
        let server_bits = offer
            .server_max_window_bits
            .map_or(config.server_max_window_bits, |asked| {
                asked.min(config.server_max_window_bits)
            });
        if server_bits < 9 {
            continue; // zlib cannot compress with a 256-byte window
        }
        // We may limit the client's window only if it said it supports that.
        let client_bits = match offer.client_max_window_bits {
            None => 15,
            Some(None) => config.client_max_window_bits,
            Some(Some(hint)) => hint.min(config.client_max_window_bits),
        };
        let params = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits.max(9),
        };
        let mut answer = String::from(NAME);
        if params.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if params.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        // An offer that named server_max_window_bits must see it answered.
        if offer.server_max_window_bits.is_some() || server_bits < 15 {
            answer.push_str(&format!("; server_max_window_bits={server_bits}"));
        }
        if offer.client_max_window_bits.is_some() && client_bits < 15 {
            answer.push_str(&format!("; client_max_window_bits={client_bits}"));
        }
        return Some((params, answer));
    }
    None
}

impl DeflateConfig {
    /// The client's offer: its own settings, and `client_max_window_bits` to say it can
    /// limit its window.
    pub fn client_offer(&self) -> String {
        let mut offer = String::from(NAME);
        if self.server_no_context_takeover {
            offer.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            offer.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            offer.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            offer.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        } else {
            offer.push_str("; client_max_window_bits");
        }
        offer
    }
}

/// Checks the server's answer to our [`DeflateConfig::client_offer`]: one
/// permessage-deflate element with valid parameters that honour what we asked.
pub fn parse_client_response<'a>(
    values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Result<DeflateParams, HandshakeError> {
    let invalid = |why: String| HandshakeError::InvalidExtension(why);
    let mut agreed = None;
    for element in elements(values) {
        let element =
            element.ok_or_else(|| invalid("malformed Sec-WebSocket-Extensions".into()))?;
        if element.name != NAME {
            return Err(HandshakeError::UnofferedExtension(element.name.to_owned()));
        }
        if agreed.is_some() {
            return Err(invalid("permessage-deflate answered twice".into()));
        }
        let answer = parse_params(&element.params, true).map_err(invalid)?;
        let server_bits = answer.server_max_window_bits.unwrap_or(15);
        if server_bits > config.server_max_window_bits {
            return Err(invalid(format!(
                "server_max_window_bits={server_bits} exceeds the {} we asked for",
                config.server_max_window_bits
            )));
        }
        if config.server_no_context_takeover && !answer.server_no_context_takeover {
            return Err(invalid(
                "server_no_context_takeover was asked for but not granted".into(),
            ));
        }
        let client_bits =
            match answer.client_max_window_bits {
                Some(Some(8)) => return Err(invalid(
                    "client_max_window_bits=8 cannot be honoured: zlib compresses with at least 9"
                        .into(),
                )),
                Some(Some(bits)) => bits.min(config.client_max_window_bits),
                _ => config.client_max_window_bits,
            };
        agreed = Some(DeflateParams {
            server_no_context_takeover: answer.server_no_context_takeover,
            client_no_context_takeover: answer.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits.max(9),
            client_max_window_bits: client_bits,
        });
    }
    agreed.ok_or_else(|| invalid("no permessage-deflate element".into()))
}

#[cfg(test)]
#[path = "negotiate_tests.rs"]
mod tests;
