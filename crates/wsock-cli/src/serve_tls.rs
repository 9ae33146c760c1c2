//! The TLS flags of the serving commands (`echo`, `broadcast`): with them a server
//! speaks wss:// and https://, over HTTP/1.1 and HTTP/2 (ALPN `h2`, RFC 8441).

use std::path::PathBuf;

use wsock::Server;

/// `--tls-cert` and `--tls-key`.
#[derive(clap::Args)]
pub struct ServeTls {
    /// Serve wss:// (and https://) with this certificate chain (PEM, leaf first);
    /// HTTP/1.1 and HTTP/2 clients are both served.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl ServeTls {
    /// `server` with TLS if the flags ask for it, and the scheme its pages have.
    pub fn apply(&self, server: Server) -> wsock::Result<(Server, &'static str)> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let tls = wsock::tls::ServerTls::from_pem_files(cert, key)?;
                Ok((server.tls(tls), "https"))
            }
            _ => Ok((server, "http")),
        }
    }
}
