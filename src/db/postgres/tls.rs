//! TLS to PostgreSQL, chosen by `sslmode` (and `sslrootcert`) in `database.url` as libpq reads
//! them, for workers and servers that reach the database over a network:
//!
//! - `require`: encrypted; the server's certificate is not checked (as libpq, unless
//!   `sslrootcert` is given, which makes it `verify-ca`);
//! - `verify-ca`: encrypted, the certificate must chain to `sslrootcert` (or, without it, to
//!   the system's trusted roots);
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to;
//! - `disable`, `allow`, `prefer` or none: unencrypted (unlike libpq, `prefer` does not try
//!   TLS first: a connection is encrypted only when the URL asks for it).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Off,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A database URL taken apart: what tokio-postgres parses (without `sslmode` and
/// `sslrootcert`, some of whose values it does not know) and the TLS it asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub url: String,
    pub mode: Mode,
    pub root_cert: Option<PathBuf>,
}

fn mode_of(value: &str) -> Result<Mode, String> {
    match value {
        "disable" | "allow" | "prefer" => Ok(Mode::Off),
        "require" => Ok(Mode::Require),
        "verify-ca" => Ok(Mode::VerifyCa),
        "verify-full" => Ok(Mode::VerifyFull),
        other => Err(format!("sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full")),
    }
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query or a `key=value`
/// connection string.
pub(crate) fn split(url: &str) -> Result<Target, String> {
    let (mut mode, mut root_cert) = (None, None);
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => mode = Some(mode_of(value)?),
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let mut kept = Vec::new();
                for param in query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = param.split_once('=').unwrap_or((param, ""));
                    let value = urlencoding::decode(value).map_err(|e| format!("{key} is not valid percent-encoding: {e}"))?;
                    if !take(key, &value)? {
                        kept.push(param);
                    }
                }
                if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) }
            }
            None => url.to_string(),
        }
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            if !take(key, value.trim_matches('\''))? {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    let mode = match (mode.unwrap_or(Mode::Off), &root_cert) {
        (Mode::Require, Some(_)) => Mode::VerifyCa,
        (m, _) => m,
    };
    Ok(Target { url: rest, mode, root_cert })
}

/// The connector for `target` and the `SslMode` to set on the connection config.
pub(crate) fn connector(target: &Target) -> Result<(MakeRustlsConnect, SslMode), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match target.mode {
        Mode::Off | Mode::Require => Arc::new(Lenient { provider: provider.clone(), chain: None }),
        Mode::VerifyCa | Mode::VerifyFull => {
            let roots = roots(target.root_cert.as_ref())?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("TLS set-up failed: {e}"))?;
            match target.mode {
                Mode::VerifyCa => Arc::new(Lenient { provider: provider.clone(), chain: Some(webpki) }),
                _ => webpki,
            }
        }
    };
    let config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    let ssl_mode = if target.mode == Mode::Off { SslMode::Disable } else { SslMode::Require };
    Ok((MakeRustlsConnect::new(config), ssl_mode))
}

fn roots(file: Option<&PathBuf>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {}: cannot read its certificates ({e})", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("sslrootcert {} holds no usable certificate", path.display()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("no trusted root certificates on this system; give sslrootcert=FILE in database.url".into());
            }
        }
    }
    Ok(roots)
}

/// What `require` and `verify-ca` check (`verify-full` is rustls's own verifier): with no
/// `chain`, any certificate; with one, the chain must verify but the name in the certificate is
/// not compared. The handshake's signatures are checked either way, so the connection is
/// encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let t = split("postgres://u:p@db.example:5432/dm?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem").unwrap();
        assert_eq!(t.url, "postgres://u:p@db.example:5432/dm?application_name=x");
        assert_eq!(t.mode, Mode::VerifyFull);
        assert_eq!(t.root_cert, Some(PathBuf::from("/etc/ca.pem")));

        let t = split("postgres://u@h/dm?sslmode=require").unwrap();
        assert_eq!((t.url.as_str(), t.mode, t.root_cert), ("postgres://u@h/dm", Mode::Require, None));
        // A root certificate makes `require` check the chain, as libpq does.
        assert_eq!(split("postgres://u@h/dm?sslmode=require&sslrootcert=ca.pem").unwrap().mode, Mode::VerifyCa);
        for url in ["postgres://u@h/dm", "postgres://u@h/dm?sslmode=prefer", "postgres://u@h/dm?sslmode=disable"] {
            assert_eq!(split(url).unwrap().mode, Mode::Off, "{url}");
        }

        let t = split("host=db user=u sslmode=verify-ca sslrootcert=/ca.pem dbname=dm").unwrap();
        assert_eq!((t.url.as_str(), t.mode), ("host=db user=u dbname=dm", Mode::VerifyCa));
        assert_eq!(t.root_cert, Some(PathBuf::from("/ca.pem")));

        let err = split("postgres://u@h/dm?sslmode=verify").unwrap_err();
        assert!(err.contains("sslmode=verify is not one of"), "{err}");
    }

    #[test]
    fn a_root_certificate_file_that_holds_none_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let target = Target { url: String::new(), mode: Mode::VerifyFull, root_cert: Some(path) };
        let err = connector(&target).err().expect("refused");
        assert!(err.contains("holds no usable certificate"), "{err}");
        let missing = Target { url: String::new(), mode: Mode::VerifyCa, root_cert: Some(dir.path().join("none.pem")) };
        assert!(connector(&missing).err().expect("refused").contains("cannot read"));
    }
}
