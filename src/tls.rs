//! Connecting: plain TCP, implicit TLS, and the TLS upgrade used by STLS/STARTTLS.
//!
//! Certificates are verified by default, against the system's roots plus any CA file
//! the user names. `insecure` turns verification off entirely; callers must say so
//! loudly. The protocol clients stay generic over the stream: STLS/STARTTLS hand the
//! raw stream back, [`upgrade`] wraps it, and a new client continues on top.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// How a connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Security {
    /// No TLS at all.
    #[default]
    Plain,
    /// TLS from the first byte (POP3S on 995, IMAPS on 993).
    Implicit,
    /// Plain first, then STLS (POP3) or STARTTLS (IMAP).
    StartTls,
}

/// Which certificates to trust.
#[derive(Clone, Default)]
pub struct Trust {
    /// Load the operating system's roots.
    pub system_roots: bool,
    /// PEM files with more CA certificates.
    pub ca_files: Vec<PathBuf>,
    /// More CA certificates, DER (tests pass the fake servers' CA here).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Accept any certificate. Never the default.
    pub insecure: bool,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("system_roots", &self.system_roots)
            .field("ca_files", &self.ca_files)
            .field("extra_roots", &self.extra_roots.len())
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl Trust {
    /// The system's roots: the default for real servers.
    pub fn system() -> Self {
        Trust {
            system_roots: true,
            ..Default::default()
        }
    }

    /// Only the given CA (DER), as tests use with the fake servers' CA.
    pub fn only(ca: CertificateDer<'static>) -> Self {
        Trust {
            extra_roots: vec![ca],
            ..Default::default()
        }
    }
}

/// Errors while setting up or performing TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading CA file {path}: {source}")]
    CaFile {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("CA file {0} holds no certificate")]
    EmptyCaFile(PathBuf),
    #[error("adding a CA certificate: {0}")]
    BadRoot(rustls::Error),
    #[error("no trusted CA certificates: none found in the system store and none given")]
    NoRoots,
    #[error("building the TLS client configuration: {0}")]
    Config(rustls::Error),
    #[error("'{0}' is not a valid TLS server name")]
    ServerName(String),
    #[error("TLS handshake with {server}: {source}")]
    Handshake { server: String, source: io::Error },
}

/// Builds a client configuration for the given trust.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let config = if trust.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if trust.system_roots {
            // Unreadable entries in the system store are skipped, as every TLS client
            // does; an empty store is caught below.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        for path in &trust.ca_files {
            add_ca_file(&mut roots, path)?;
        }
        for der in &trust.extra_roots {
            roots.add(der.clone()).map_err(TlsError::BadRoot)?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

fn add_ca_file(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), TlsError> {
    let mut n = 0;
    for cert in CertificateDer::pem_file_iter(path).map_err(|source| TlsError::CaFile {
        path: path.to_path_buf(),
        source,
    })? {
        let cert = cert.map_err(|source| TlsError::CaFile {
            path: path.to_path_buf(),
            source,
        })?;
        roots.add(cert).map_err(TlsError::BadRoot)?;
        n += 1;
    }
    if n == 0 {
        return Err(TlsError::EmptyCaFile(path.to_path_buf()));
    }
    Ok(())
}

/// Wraps an established stream in TLS, verifying `host` (a name or an IP address).
pub async fn upgrade<S>(
    stream: S,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| TlsError::ServerName(host.to_string()))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|source| TlsError::Handshake {
            server: host.to_string(),
            source,
        })
}

/// Opens a TCP connection within `timeout`.
pub async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(r) => {
            let s = r?;
            s.set_nodelay(true)?;
            Ok(s)
        }
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connecting to {host}:{port} timed out after {timeout:?}"),
        )),
    }
}

/// A TCP stream that may have been upgraded to TLS.
#[derive(Debug)]
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The verifier behind `--insecure`: accepts any certificate, still checks signatures
/// so the handshake itself is sound.
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
