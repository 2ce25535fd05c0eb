//! TLS for the node: certificates per host name, chosen by SNI.
//!
//! `--certs DIR` holds PEM pairs `HOST.crt` + `HOST.key`; the certificate answers for SNI
//! `HOST`. A pair named `_wildcard.ZONE` answers for every `*.ZONE` name, and `default.crt` +
//! `default.key` for names nothing else matches. Without a directory the node generates a
//! self-signed certificate for the zone (`ZONE`, `*.ZONE`) at start.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("generating a self-signed certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Called with the server name of every ClientHello, before the handshake completes.
pub type SniHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Certificates by host name, exact names before wildcards before the default.
#[derive(Default)]
pub struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
    on_hello: Option<SniHook>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("exact", &self.exact.keys().collect::<Vec<_>>())
            .field("wildcard", &self.wildcard.keys().collect::<Vec<_>>())
            .field("default", &self.default.is_some())
            .finish()
    }
}

impl SniResolver {
    /// Loads every `HOST.crt` + `HOST.key` pair in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, TlsError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| TlsError::Io { path, source }
        };
        let mut resolver = Self::default();
        for entry in skiff_project::sorted_entries(dir).map_err(io(dir))? {
            let cert_path = entry.path();
            if cert_path.extension().is_none_or(|e| e != "crt") {
                continue;
            }
            let Some(host) = cert_path
                .file_stem()
                .map(|s| s.to_string_lossy().to_lowercase())
            else {
                continue;
            };
            let key_path = cert_path.with_extension("key");
            let cert_pem = std::fs::read(&cert_path).map_err(io(&cert_path))?;
            let key_pem = std::fs::read(&key_path).map_err(io(&key_path))?;
            let key = certified_key(&cert_pem, &key_pem).map_err(|message| TlsError::Invalid {
                path: cert_path.display().to_string(),
                message,
            })?;
            if host == "default" {
                resolver.default = Some(key);
            } else if let Some(zone) = host.strip_prefix("_wildcard.") {
                resolver.wildcard.insert(zone.to_string(), key);
            } else {
                resolver.exact.insert(host, key);
            }
        }
        Ok(resolver)
    }

    /// A self-signed certificate for `zone` and `*.zone`, used for every name.
    pub fn self_signed(zone: &str) -> Result<Self, TlsError> {
        let names = vec![zone.to_string(), format!("*.{zone}")];
        let generated = rcgen::generate_simple_self_signed(names)?;
        let key = certified_key(
            generated.cert.pem().as_bytes(),
            generated.key_pair.serialize_pem().as_bytes(),
        )
        .map_err(|message| TlsError::Invalid {
            path: "<generated>".into(),
            message,
        })?;
        Ok(Self {
            default: Some(key),
            ..Self::default()
        })
    }

    /// Calls `hook` with each ClientHello's server name (the node starts booting the tenant's
    /// isolate while the handshake finishes).
    pub fn with_hello_hook(mut self, hook: SniHook) -> Self {
        self.on_hello = Some(hook);
        self
    }

    fn find(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return Some(key.clone());
        }
        if let Some((_, parent)) = name.split_once('.')
            && let Some(key) = self.wildcard.get(parent)
        {
            return Some(key.clone());
        }
        self.default.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(name) => {
                if let Some(hook) = &self.on_hello {
                    hook(name);
                }
                self.find(name)
            }
            None => self.default.clone(),
        }
    }
}

fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in PEM".into());
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| format!("bad key PEM: {e}"))?
        .ok_or("no private key in PEM")?;
    let signing_key = any_supported_type(&key).map_err(|e| format!("unsupported key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(certs, signing_key)))
}

/// The server configuration: SNI-selected certificates, ALPN h2 then http/1.1.
pub fn server_config(resolver: SniResolver) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_exact_then_wildcard_then_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (file, names) in [
            ("a.example.test", vec!["a.example.test".to_string()]),
            ("_wildcard.example.test", vec!["*.example.test".to_string()]),
            ("default", vec!["fallback.test".to_string()]),
        ] {
            let generated = rcgen::generate_simple_self_signed(names).expect("cert");
            std::fs::write(dir.path().join(format!("{file}.crt")), generated.cert.pem())
                .expect("write");
            std::fs::write(
                dir.path().join(format!("{file}.key")),
                generated.key_pair.serialize_pem(),
            )
            .expect("write");
        }
        let resolver = SniResolver::from_dir(dir.path()).expect("loads");
        let exact = resolver.find("A.example.test").expect("exact");
        let wildcard = resolver.find("b.example.test").expect("wildcard");
        let default = resolver.find("other.test").expect("default");
        assert!(!Arc::ptr_eq(&exact, &wildcard));
        assert!(!Arc::ptr_eq(&wildcard, &default));
        assert!(Arc::ptr_eq(
            &default,
            resolver.default.as_ref().expect("set")
        ));
    }
}
