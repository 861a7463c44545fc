//! Throw-away key material, made in memory with `rcgen` (aws-lc-rs backend,
//! the same crypto library reqwest and rustls use in this workspace: no
//! `ring`, no `openssl` process).
//!
//! - [`ServerPki`]: a fresh self-signed CA and a server certificate it signed
//!   for `127.0.0.1`, `::1`, `localhost` and the test names a
//!   [`crate::ConnectProxy`] resolves ([`TEST_HOST_NAMES`]) (subject alternative names: Go's
//!   TLS stack, which the registry uses, ignores the common name since Go
//!   1.15). ECDSA P-256 keys: generating them takes microseconds.
//! - [`TokenSigner`]: the RSA key and self-signed certificate a token server
//!   signs its RS256 JWTs with. The registry trusts the certificate through
//!   `auth.token.rootcertbundle` and finds it again in each token's `x5c`
//!   header. Generating an RSA-2048 key takes from tens of milliseconds to
//!   over a second, so one key serves the whole test process; every
//!   [`crate::TokenServer`] still gets its own certificate.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Names that resolve nowhere but in a [`crate::ConnectProxy`] (to 127.0.0.1): a client
/// that reaches a server by one of them went through the proxy. Every test server
/// certificate holds them, so TLS verifies through the proxy too.
pub const TEST_HOST_NAMES: [&str; 2] = ["kubernetes.tagwarden.test", "registry.tagwarden.test"];

/// PEM text of a CA and of a server certificate + key it signed.
pub struct ServerPki {
    /// The CA's certificate (PEM).
    pub ca_cert_pem: String,
    /// The server certificate (PEM), for 127.0.0.1, ::1, localhost and [`TEST_HOST_NAMES`].
    pub server_cert_pem: String,
    /// Its private key (PEM).
    pub server_key_pem: String,
}

impl ServerPki {
    /// A fresh CA and server certificate for the loopback names.
    pub fn generate() -> ServerPki {
        ServerPki::generate_for(&["localhost"])
    }

    /// A fresh CA and a server certificate for the DNS names `dns_names`
    /// (the first is also the common name) and the loopback addresses: e.g.
    /// `tagwarden.tagwarden.svc`, the name kube-apiserver verifies when it
    /// calls a webhook Service.
    pub fn generate_for(dns_names: &[&str]) -> ServerPki {
        let fail = |what: &str, e: rcgen::Error| -> ! {
            panic!("tagwarden-testbed: cannot make the test {what}: {e}")
        };
        let ca_key = KeyPair::generate().unwrap_or_else(|e| fail("CA key", e));
        let mut ca = CertificateParams::new(Vec::<String>::new())
            .unwrap_or_else(|e| fail("CA parameters", e));
        ca.distinguished_name
            .push(DnType::CommonName, "tagwarden-testbed test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca
            .self_signed(&ca_key)
            .unwrap_or_else(|e| fail("CA certificate", e));
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().unwrap_or_else(|e| fail("server key", e));
        let mut names: Vec<String> = dns_names.iter().map(|n| n.to_string()).collect();
        names.extend(TEST_HOST_NAMES.map(str::to_string));
        let mut server =
            CertificateParams::new(names).unwrap_or_else(|e| fail("server parameters", e));
        server.subject_alt_names.extend([
            SanType::IpAddress([127, 0, 0, 1].into()),
            SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
        ]);
        server.distinguished_name.push(
            DnType::CommonName,
            dns_names.first().copied().unwrap_or("localhost"),
        );
        server.is_ca = IsCa::ExplicitNoCa;
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.use_authority_key_identifier_extension = true;
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .unwrap_or_else(|e| fail("server certificate", e));
        ServerPki {
            ca_cert_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }
}

/// The RS256 signing key of a token server and its self-signed certificate.
pub(crate) struct TokenSigner {
    key: &'static KeyPair,
    /// PEM of the certificate: the registry's `rootcertbundle`.
    pub(crate) cert_pem: String,
    /// Standard (not URL-safe) base64 of the certificate's DER: the JWT `x5c` entry.
    pub(crate) x5c: String,
}

impl TokenSigner {
    pub(crate) fn generate(common_name: &str) -> TokenSigner {
        use base64::Engine as _;
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        let key = KEY.get_or_init(|| {
            KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap_or_else(|e| {
                panic!("tagwarden-testbed: cannot generate the token signing RSA key: {e}")
            })
        });
        let mut params =
            CertificateParams::new(Vec::<String>::new()).expect("empty SAN list is valid");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params.self_signed(key).unwrap_or_else(|e| {
            panic!("tagwarden-testbed: cannot make the token signer certificate: {e}")
        });
        TokenSigner {
            key,
            cert_pem: cert.pem(),
            x5c: base64::engine::general_purpose::STANDARD.encode(cert.der()),
        }
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `msg` (JWS `RS256`).
    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use rcgen::SigningKey as _;
        self.key
            .sign(msg)
            .unwrap_or_else(|e| panic!("tagwarden-testbed: RS256 signing failed: {e}"))
    }
}

/// The certificates in the PEM file at `path`.
///
/// # Panics
///
/// If the file cannot be read or holds no certificate.
pub(crate) fn read_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("cannot read CA file {}: {e}", path.display()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("CA file {} is not valid PEM: {e}", path.display()));
    assert!(
        !certs.is_empty(),
        "CA file {} holds no certificate",
        path.display()
    );
    certs
}

/// A rustls client configuration that trusts exactly the certificates in
/// `ca` (a PEM file), with the aws-lc-rs provider named explicitly (so the
/// process-wide default provider, which may be unset, does not matter).
pub(crate) fn client_config(ca: Option<&Path>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        for cert in read_certs(ca) {
            roots
                .add(cert)
                .unwrap_or_else(|e| panic!("CA file {}: unusable certificate: {e}", ca.display()));
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("aws-lc-rs supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}
