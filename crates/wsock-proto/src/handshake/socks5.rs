//! The client's side of a SOCKS5 tunnel (RFC 1928), with user name and password
//! authentication (RFC 1929), as bytes in and bytes out.
//!
//! The dialogue is strictly in turn: the greeting, the proxy's choice of method, the
//! credentials if it chose them, then `CONNECT` and its reply. Every answer has a
//! length known from its first bytes, so [`Socks5Handshake::receive`] takes exactly
//! one answer at a time from the front of the bytes received so far.
//!
//! ```
//! use bytes::BytesMut;
//! use wsock_proto::handshake::socks5::{Socks5Handshake, Socks5Step, Socks5Target};
//! let target = Socks5Target::Domain("example.com".into(), 443);
//! let (mut handshake, greeting) = Socks5Handshake::new(target, None).unwrap();
//! assert_eq!(greeting, [5, 1, 0]); // version 5, one method: no authentication
//!
//! let mut received = BytesMut::from(&[5u8, 0][..]); // the proxy chooses no authentication
//! let Socks5Step::Send(connect) = handshake.receive(&mut received).unwrap() else {
//!     panic!()
//! };
//! assert_eq!(&connect[..5], [5, 1, 0, 3, 11]); // CONNECT to an 11-byte domain name
//!
//! let mut received = BytesMut::from(&[5u8, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90][..]); // succeeded
//! assert_eq!(handshake.receive(&mut received).unwrap(), Socks5Step::Open);
//! ```

use std::net::{IpAddr, SocketAddr};

use bytes::BytesMut;

const VERSION: u8 = 5;
const AUTH_VERSION: u8 = 1;
const NO_AUTHENTICATION: u8 = 0;
const USER_PASSWORD: u8 = 2;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const CONNECT: u8 = 1;
const ADDRESS_IPV4: u8 = 1;
const ADDRESS_DOMAIN: u8 = 3;
const ADDRESS_IPV6: u8 = 4;

/// Where the proxy should connect: a name it resolves itself (`socks5h://`) or an
/// address resolved by the client (`socks5://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Socks5Target {
    /// A host name and port, resolved by the proxy.
    Domain(String, u16),
    /// An address and port.
    Address(SocketAddr),
}

/// What the caller does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Socks5Step {
    /// More bytes from the proxy are needed.
    Receive,
    /// Write these bytes to the proxy, then receive its answer.
    Send(Vec<u8>),
    /// The tunnel is open: from now on the connection carries the server's bytes.
    Open,
}

/// Why a SOCKS5 tunnel could not be opened; the text says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Socks5Error {
    /// The proxy accepts none of the methods offered.
    #[error("it accepts none of the authentication methods offered ({offered}); {advice}")]
    NoAcceptableMethod {
        /// The methods offered, in words.
        offered: &'static str,
        /// What to change.
        advice: &'static str,
    },
    /// The proxy refused the user name and password.
    #[error("it refused the user name and password; check them in the proxy URL")]
    CredentialsRefused,
    /// The proxy could not or would not connect to the server.
    #[error("it could not open the tunnel: {0}")]
    ConnectFailed(&'static str),
    /// A user name, password or host name SOCKS5 cannot carry.
    #[error("the {field} {problem}")]
    Field {
        /// Which one.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The proxy broke the protocol.
    #[error("it does not speak SOCKS5 as expected: {0}")]
    Protocol(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitMethod,
    AwaitAuthentication,
    AwaitReply,
    Open,
}

/// The client's SOCKS5 dialogue with a proxy, from greeting to open tunnel.
#[derive(Debug)]
pub struct Socks5Handshake {
    state: State,
    target: Socks5Target,
    credentials: Option<(String, String)>,
}

impl Socks5Handshake {
    /// Starts the dialogue; returns it and the greeting to send first. `credentials`
    /// (user name, password) are offered alongside "no authentication".
    pub fn new(
        target: Socks5Target,
        credentials: Option<(String, String)>,
    ) -> Result<(Self, Vec<u8>), Socks5Error> {
        if let Some((user, password)) = &credentials {
            if user.is_empty() {
                return Err(field(
                    "user name",
                    "is empty; SOCKS5 needs one to authenticate",
                ));
            }
            if user.len() > 255 {
                return Err(field("user name", TOO_LONG));
            }
            if password.len() > 255 {
                return Err(field("password", TOO_LONG));
            }
        }
        if let Socks5Target::Domain(host, _) = &target {
            if host.is_empty() || host.len() > 255 {
                return Err(field("host name", "must be 1 to 255 bytes long for SOCKS5"));
            }
        }
        let greeting = match credentials {
            Some(_) => vec![VERSION, 2, NO_AUTHENTICATION, USER_PASSWORD],
            None => vec![VERSION, 1, NO_AUTHENTICATION],
        };
        let handshake = Self {
            state: State::AwaitMethod,
            target,
            credentials,
        };
        Ok((handshake, greeting))
    }

    /// Takes the proxy's next answer from the front of `received` (removing it) once
    /// it is all there. Bytes left after the final reply would be the server speaking
    /// before the client, which a WebSocket server never does, so they are refused.
    pub fn receive(&mut self, received: &mut BytesMut) -> Result<Socks5Step, Socks5Error> {
        let Some(length) = self.answer_length(received)? else {
            return Ok(Socks5Step::Receive);
        };
        let answer = received.split_to(length);
        let step = match self.state {
            State::AwaitMethod => self.on_method(answer[1])?,
            State::AwaitAuthentication => self.on_authentication(answer[1])?,
            State::AwaitReply => self.on_reply(answer[1])?,
            State::Open => return Err(protocol("it sent more after the tunnel opened")),
        };
        if step == Socks5Step::Open && !received.is_empty() {
            return Err(protocol("it sent data before the server could"));
        }
        Ok(step)
    }

    /// The length of the answer at the front of `received`, once it is known.
    fn answer_length(&self, received: &[u8]) -> Result<Option<usize>, Socks5Error> {
        let expected_version = match self.state {
            State::AwaitAuthentication => AUTH_VERSION,
            _ => VERSION,
        };
        match received.first() {
            None => return Ok(None),
            Some(&version) if version != expected_version => {
                return Err(protocol(&format!(
                    "its answer starts with version {version}, not {expected_version}"
                )))
            }
            Some(_) => {}
        }
        if self.state != State::AwaitReply {
            return Ok((received.len() >= 2).then_some(2));
        }
        // VER REP RSV ATYP BND.ADDR BND.PORT
        let address_length = match received.get(3) {
            None => return Ok(None),
            Some(&ADDRESS_IPV4) => 4,
            Some(&ADDRESS_IPV6) => 16,
            Some(&ADDRESS_DOMAIN) => match received.get(4) {
                None => return Ok(None),
                Some(&length) => 1 + usize::from(length),
            },
            Some(other) => return Err(protocol(&format!("unknown address type {other}"))),
        };
        let length = 4 + address_length + 2;
        Ok((received.len() >= length).then_some(length))
    }

    fn on_method(&mut self, method: u8) -> Result<Socks5Step, Socks5Error> {
        match (method, &self.credentials) {
            (NO_AUTHENTICATION, _) => Ok(self.connect()),
            (USER_PASSWORD, Some((user, password))) => {
                self.state = State::AwaitAuthentication;
                let mut request = vec![AUTH_VERSION, user.len() as u8];
                request.extend_from_slice(user.as_bytes());
                request.push(password.len() as u8);
                request.extend_from_slice(password.as_bytes());
                Ok(Socks5Step::Send(request))
            }
            (NO_ACCEPTABLE_METHOD, None) => Err(Socks5Error::NoAcceptableMethod {
                offered: "no authentication",
                advice: "put user:password@ in the proxy URL",
            }),
            (NO_ACCEPTABLE_METHOD, Some(_)) => Err(Socks5Error::NoAcceptableMethod {
                offered: "none, or a user name and password",
                advice: "the proxy wants a method wsock does not have (GSSAPI?)",
            }),
            (other, _) => Err(protocol(&format!(
                "it chose authentication method {other}, which was not offered"
            ))),
        }
    }

    fn on_authentication(&mut self, status: u8) -> Result<Socks5Step, Socks5Error> {
        match status {
            0 => Ok(self.connect()),
            _ => Err(Socks5Error::CredentialsRefused),
        }
    }

    fn on_reply(&mut self, reply: u8) -> Result<Socks5Step, Socks5Error> {
        // RFC 1928 section 6.
        let why = match reply {
            0 => {
                self.state = State::Open;
                return Ok(Socks5Step::Open);
            }
            1 => "general SOCKS server failure",
            2 => "connection not allowed by the proxy's rules",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused by the server",
            6 => "TTL expired",
            7 => "CONNECT not supported",
            8 => "address type not supported; try socks5:// (resolve here) or socks5h://",
            _ => "unknown reply code",
        };
        Err(Socks5Error::ConnectFailed(why))
    }

    /// The CONNECT request: VER CMD RSV ATYP DST.ADDR DST.PORT.
    fn connect(&mut self) -> Socks5Step {
        self.state = State::AwaitReply;
        let mut request = vec![VERSION, CONNECT, 0];
        let port = match &self.target {
            Socks5Target::Domain(host, port) => {
                request.push(ADDRESS_DOMAIN);
                request.push(host.len() as u8);
                request.extend_from_slice(host.as_bytes());
                *port
            }
            Socks5Target::Address(address) => {
                match address.ip() {
                    IpAddr::V4(ip) => {
                        request.push(ADDRESS_IPV4);
                        request.extend_from_slice(&ip.octets());
                    }
                    IpAddr::V6(ip) => {
                        request.push(ADDRESS_IPV6);
                        request.extend_from_slice(&ip.octets());
                    }
                }
                address.port()
            }
        };
        request.extend_from_slice(&port.to_be_bytes());
        Socks5Step::Send(request)
    }
}

const TOO_LONG: &str = "is longer than the 255 bytes SOCKS5 allows";

fn field(field: &'static str, problem: &'static str) -> Socks5Error {
    Socks5Error::Field { field, problem }
}

fn protocol(what: &str) -> Socks5Error {
    Socks5Error::Protocol(what.to_owned())
}

#[cfg(test)]
#[path = "socks5_tests.rs"]
mod tests;
