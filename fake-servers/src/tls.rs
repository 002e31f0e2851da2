//! A throw-away certificate authority for the fake servers, made by rcgen at start-up.
//!
//! Clients under test are told to trust [`TestCa::ca_pem`]; nothing here is ever meant
//! to protect real mail. The server certificate names `localhost`, `127.0.0.1` and
//! `::1`, so a client that verifies host names succeeds on loopback.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Errors while making the test CA.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("making the test certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("building the TLS server configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A test CA and a server configuration whose certificate it signed.
#[derive(Clone)]
pub struct TestCa {
    /// The CA certificate, PEM: what clients must trust.
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: CertificateDer<'static>,
    /// Ready for `tokio_rustls::TlsAcceptor::from`.
    pub server_config: Arc<ServerConfig>,
    /// The server certificate followed by the CA certificate, PEM: for servers that
    /// read files, such as a real Dovecot (`ssl_cert = <file`).
    pub server_chain_pem: String,
    /// The server certificate's private key, PKCS#8 PEM (`ssl_key = <file`).
    pub server_key_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// Makes a fresh CA and a server certificate for loopback names.
    pub fn generate() -> Result<Self, TlsError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "uidlmap fake-servers test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut leaf_params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf_key = KeyPair::generate()?;
        let leaf = leaf_params.signed_by(&leaf_key, &ca)?;

        let server_chain_pem = format!("{}{}", leaf.pem(), ca.pem());
        let server_key_pem = leaf_key.serialize_pem();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)?;
        Ok(TestCa {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server_config: Arc::new(server_config),
            server_chain_pem,
            server_key_pem,
        })
    }

    /// A TLS acceptor for this CA's server certificate.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server_config.clone())
    }
}
