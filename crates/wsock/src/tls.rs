//! TLS for `wss://` on both sides, with rustls (feature `tls`, on by default).
//!
//! A [`Client`](crate::Client) connects to `wss://` URLs out of the box, checking the
//! server's certificate against the Mozilla roots that ship with `webpki-roots`, and
//! sending the URL's host as SNI. [`ClientTls`] changes whom it trusts: the operating
//! system's store (feature `native-roots`), one private CA, or any rustls config.
//!
//! ```no_run
//! # async fn run() -> wsock::Result<()> {
//! use wsock::tls::ClientTls;
//! // Public server: nothing to configure.
//! let ws = wsock::Client::new("wss://echo.example.com/").connect().await?;
//! // Private CA, as in a test or an internal network.
//! let pem = std::fs::read("ca.pem")?;
//! let ws = wsock::Client::new("wss://internal.example:8443/feed")
//!     .tls(ClientTls::with_ca_pem(&pem)?)
//!     .connect()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! A [`Server`](crate::Server) serves `wss://` once given a certificate chain and key
//! ([`ServerTls`]); `wsock echo --tls-cert cert.pem --tls-key key.pem` does the same.
//! The TLS handshake counts against the handshake timeout
//! ([`AcceptOptions::handshake_timeout`](crate::AcceptOptions::handshake_timeout)) and
//! runs on the connection's own task, so a client that stalls or fails it never holds
//! up anyone else.
//!
//! ```no_run
//! # async fn run() -> wsock::Result<()> {
//! use wsock::tls::ServerTls;
//! wsock::Server::bind("0.0.0.0:443").await?
//!     .tls(ServerTls::from_pem_files("cert.pem", "key.pem")?)
//!     .route("/echo", |mut ws| async move {
//!         while let Some(msg) = ws.recv().await? {
//!             ws.send(msg).await?;
//!         }
//!         Ok(())
//!     })
//!     .serve()
//!     .await
//! # }
//! ```
//!
//! A certificate that fails verification ends [`Client::connect`](crate::Client::connect)
//! with [`Error::TlsHandshake`], whose message gives rustls's reason (an unknown issuer,
//! a name the certificate is not valid for, an expired certificate).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::{Error, Result};

/// Whom a client trusts for `wss://`. Default: the webpki (Mozilla) roots.
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl Default for ClientTls {
    fn default() -> Self {
        Self::webpki_roots()
    }
}

impl ClientTls {
    /// Trusts the Mozilla root certificates compiled in from `webpki-roots`.
    pub fn webpki_roots() -> Self {
        static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
        let config = CONFIG.get_or_init(|| {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            Arc::new(client_config(roots))
        });
        Self {
            config: config.clone(),
        }
    }

    /// Trusts the operating system's certificate store (feature `native-roots`).
    /// Fails if the store holds no usable certificate.
    #[cfg(feature = "native-roots")]
    pub fn native_roots() -> Result<Self> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(Error::TlsConfig(format!(
                "no usable certificate in the system's store ({} errors while loading)",
                found.errors.len()
            )));
        }
        Ok(Self::with_roots(roots))
    }

    /// Trusts only the CA certificates in `pem` (one or more `CERTIFICATE` blocks).
    pub fn with_ca_pem(pem: &[u8]) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in read_certificates(pem, "the CA PEM")? {
            roots
                .add(cert)
                .map_err(|e| Error::TlsConfig(format!("the CA certificate is unusable: {e}")))?;
        }
        Ok(Self::with_roots(roots))
    }

    /// Trusts only the CA certificates in the PEM file at `path`.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::with_ca_pem(&read_file(path.as_ref())?)
    }

    /// Uses a rustls configuration as it is (client certificates, pinned keys, ...).
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }

    /// The rustls configuration.
    pub(crate) fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// This configuration offering HTTP/2 (`h2`) before HTTP/1.1 in ALPN, unless it
    /// names ALPN protocols of its own.
    #[cfg(feature = "http2")]
    pub(crate) fn with_alpn(self) -> Self {
        if !self.config.alpn_protocols.is_empty() {
            return self;
        }
        let mut config = ClientConfig::clone(&self.config);
        config.alpn_protocols = HTTP2_THEN_HTTP1.iter().map(|p| p.to_vec()).collect();
        Self::from_rustls(Arc::new(config))
    }

    fn with_roots(roots: RootCertStore) -> Self {
        Self {
            config: Arc::new(client_config(roots)),
        }
    }
}

/// `host` as the name a TLS client sends (SNI) and checks the certificate against.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).map_err(|_| Error::Url {
        url: host.to_owned(),
        reason: "the host is not a valid TLS server name".into(),
    })
}

/// The certificate and key a server presents for `wss://`.
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// A certificate chain (leaf first) and its private key, both PEM.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self> {
        let certs = read_certificates(cert_chain, "the certificate PEM")?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
            Error::TlsConfig(format!(
                "no private key found in the key PEM ({e}); expected a PKCS#8, PKCS#1 or SEC1 key"
            ))
        })?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsConfig(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                Error::TlsConfig(format!("the certificate and key do not go together: {e}"))
            })?;
        // rustls sends two TLS 1.3 session tickets right after the handshake. A client
        // that reads and writes from two threads (Python's ssl under websockets' sync
        // client) can lose the write it makes while they arrive: its upgrade request
        // then never reaches us. WebSocket connections live long, so resumption saves
        // little; none are sent.
        config.send_tls13_tickets = 0;
        Ok(Self::from_rustls(Arc::new(config)))
    }

    /// Reads the certificate chain and key from PEM files.
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self> {
        Self::from_pem(&read_file(cert_chain.as_ref())?, &read_file(key.as_ref())?)
    }

    /// Uses a rustls configuration as it is (client authentication, several
    /// certificates chosen by SNI, ...).
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self { config }
    }

    /// The rustls configuration.
    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// With `http2`, this configuration offering HTTP/2 (`h2`) before HTTP/1.1 in
    /// ALPN. Without, or when the configuration names its own ALPN protocols, it stays
    /// as it is (without ALPN, every client gets HTTP/1.1).
    pub(crate) fn with_alpn(self, http2: bool) -> Self {
        #[cfg(not(feature = "http2"))]
        let _ = http2;
        #[cfg(feature = "http2")]
        if http2 && self.config.alpn_protocols.is_empty() {
            let mut config = ServerConfig::clone(&self.config);
            config.alpn_protocols = HTTP2_THEN_HTTP1.iter().map(|p| p.to_vec()).collect();
            return Self::from_rustls(Arc::new(config));
        }
        self
    }
}

/// ALPN protocols for a peer that speaks both HTTP versions, most preferred first.
#[cfg(feature = "http2")]
pub(crate) const HTTP2_THEN_HTTP1: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The crypto provider: ring, which builds with a C compiler alone.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(roots: RootCertStore) -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn read_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::TlsConfig(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::TlsConfig(format!(
            "{what} holds no CERTIFICATE block"
        )));
    }
    Ok(certs)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::TlsConfig(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_sends_no_session_tickets() {
        // With tickets, Python's websockets sync client lost its upgrade request about
        // one connection in five (tests/interop, test_websockets_client_against_wsock_echo_over_wss).
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let tls =
            ServerTls::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
        assert_eq!(tls.config().send_tls13_tickets, 0);
    }
}
