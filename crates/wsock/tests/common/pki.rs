//! Certificates made for one test run: a CA and a leaf for `localhost` it signed.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

pub struct TestPki {
    /// The CA certificate, PEM: what clients trust.
    pub ca_pem: String,
    /// The server's certificate, PEM, valid for `localhost` only.
    pub cert_pem: String,
    /// The server's private key, PEM.
    pub key_pem: String,
}

impl TestPki {
    pub fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("wsock test CA {}", unique()));
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn server_tls(&self) -> wsock::tls::ServerTls {
        wsock::tls::ServerTls::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }

    /// A wss:// echo server at /echo on a free port, with `options`.
    pub async fn echo_server(&self, options: wsock::AcceptOptions) -> std::net::SocketAddr {
        let server = wsock::Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .tls(self.server_tls())
            .options(options)
            .route("/echo", super::echo);
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve());
        addr
    }

    pub fn client_tls(&self) -> wsock::tls::ClientTls {
        wsock::tls::ClientTls::with_ca_pem(self.ca_pem.as_bytes()).unwrap()
    }
}

/// Tells CAs apart: two with one name would be taken for each other.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
