//! TLS for the Postgres gateway: a [`tokio_rustls::TlsAcceptor`] from the operator's PEM files,
//! or from a certificate generated at start, plus what clients need to trust it: the CA the
//! token exchange hands out ([`GatewayTls::ca_pem`]) and the leaf's SHA-256 fingerprint.
//!
//! A generated certificate is signed by a CA whose key is derived from `server.secret_key`
//! ([`GatewayTls::generated`]): every replica, and every restart, derives the same CA key and
//! subject, so the CA one replica hands out verifies the certificate any replica presents.
//!
//! Architecture Invariant: the crypto provider (aws-lc-rs) is chosen here, on the config builder;
//! nothing depends on a process-wide default provider being installed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The ALPN protocol id Postgres registered. libpq 17+ sends it and, with direct SSL
/// (`sslnegotiation=direct`), a server must have negotiated it; the gateway checks
/// `alpn_protocol()` after the handshake for such connections.
pub const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// How long a self-signed certificate is valid; it is regenerated at each start anyway.
const SELF_SIGNED_VALIDITY: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// The gateway's TLS acceptor and what a client needs to trust it.
#[derive(Clone)]
pub struct GatewayTls {
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the leaf certificate's DER, upper-case hex with colons, as
    /// `openssl x509 -noout -fingerprint -sha256` prints it, so operators can compare the two.
    pub fingerprint_sha256: String,
    /// The certificate chain (leaf first) as PEM.
    pub certificate_pem: String,
    /// The CA certificate(s) a client puts in `sslrootcert` for `sslmode=verify-full`: the
    /// derived CA of a generated certificate, or the operator's `gateway.tls_ca`. `None` when
    /// the operator's certificate chains to a CA clients are expected to trust already.
    pub ca_pem: Option<String>,
}

impl fmt::Debug for GatewayTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayTls")
            .field("fingerprint_sha256", &self.fingerprint_sha256)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "cannot read the TLS {what} file {}: {source}; check the path in the configuration and \
         that hoop may read the file",
        path.display()
    )]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the TLS {what} file {} is not valid PEM: {source}", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        source: pem::Error,
    },
    #[error(
        "no certificate found in {}: expected PEM blocks `-----BEGIN CERTIFICATE-----`, the \
         gateway's certificate first, then its intermediates",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "no private key found in {}: expected an unencrypted PEM key, PKCS#8 (`BEGIN PRIVATE \
         KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`); decrypt an \
         encrypted key with `openssl pkey -in KEY -out KEY.pem`",
        path.display()
    )]
    NoPrivateKey { path: PathBuf },
    #[error(
        "the TLS certificate {} and private key {} cannot be used together: {source}; check \
         that the key belongs to the certificate and is ECDSA, Ed25519 or RSA",
        cert.display(),
        key.display()
    )]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("a self-signed certificate needs at least one host name or IP address")]
    NoHostnames,
    #[error(
        "`{name}` cannot be put in the self-signed certificate ({source}); give DNS names or IP \
         addresses"
    )]
    Hostname { name: String, source: rcgen::Error },
    #[error("generating the self-signed TLS certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("building the TLS configuration for the self-signed certificate failed: {0}")]
    SelfSigned(rustls::Error),
    #[error("deriving the gateway's CA key from server.secret_key failed")]
    DeriveCa,
    #[error(
        "gateway.tls_ca {} does not verify gateway.tls_cert {} for {host}: {reason}; give the \
         CA (and only CAs) that issued the certificate, and a certificate that names {host}",
        ca.display(),
        cert.display()
    )]
    CaMismatch {
        ca: PathBuf,
        cert: PathBuf,
        host: String,
        reason: String,
    },
}

impl GatewayTls {
    /// From PEM files: `cert` holds the chain (leaf first), `key` the private key as PKCS#8,
    /// PKCS#1 or SEC1, `ca` (optional) the CA certificates clients are given, which must verify
    /// the chain for `host`. Reads the files synchronously: this runs once, at startup.
    pub fn from_files(
        cert: &Path,
        key: &Path,
        ca: Option<&Path>,
        host: &str,
    ) -> Result<GatewayTls, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.to_owned(),
                source,
            })
        };
        let cert_pem = read("certificate", cert)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Pem {
                what: "certificate",
                path: cert.to_owned(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert.to_owned(),
            });
        }

        let key_pem = read("private key", key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| match source {
            pem::Error::NoItemsFound => TlsError::NoPrivateKey {
                path: key.to_owned(),
            },
            source => TlsError::Pem {
                what: "private key",
                path: key.to_owned(),
                source,
            },
        })?;

        let ca_pem = match ca {
            Some(ca) => Some(read_ca(ca, cert, &chain, host)?),
            None => None,
        };
        Self::build(chain, key_der, ca_pem).map_err(|source| TlsError::Rejected {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        })
    }

    /// A certificate for `hostnames` signed by the CA derived from `seed` (32 bytes of
    /// `server.secret_key`'s derivation): ECDSA P-256, valid for a year from the start of today
    /// (UTC). The leaf's key is new at every start; the CA's key and subject are the same for
    /// every replica and restart that shares the seed, so the CA any of them hands out verifies
    /// the certificate every one presents.
    pub fn generated(seed: &[u8; 32], hostnames: &[String]) -> Result<GatewayTls, TlsError> {
        let (ca_key, ca_params) = derived_ca(seed, hostnames)?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let (mut params, key_pair) = leaf_params(hostnames, "hoop gateway")?;
        params.use_authority_key_identifier_extension = true;
        let leaf = params.signed_by(&key_pair, &issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
        // The leaf only: a client finds the CA in its own trust store (sslrootcert).
        Self::build(
            vec![leaf.der().clone()],
            key_der,
            Some(pem_encode("CERTIFICATE", ca_cert.der())),
        )
        .map_err(TlsError::SelfSigned)
    }

    /// The PEM of the CA [`GatewayTls::generated`] signs with, for `seed` and `hostnames`,
    /// without a certificate of its own: what the exchange hands to jobs.
    pub fn derived_ca_pem(seed: &[u8; 32], hostnames: &[String]) -> Result<String, TlsError> {
        let (ca_key, ca_params) = derived_ca(seed, hostnames)?;
        Ok(pem_encode(
            "CERTIFICATE",
            ca_params.self_signed(&ca_key)?.der(),
        ))
    }

    /// A self-signed certificate for the embedded defaults: ECDSA P-256, the subject alternative
    /// names are `hostnames` (DNS names or IP addresses; clients verify against these with
    /// `sslmode=verify-full`), valid for a year from the start of today (UTC), which also
    /// tolerates a client clock that is a little behind.
    pub fn self_signed(hostnames: &[String]) -> Result<GatewayTls, TlsError> {
        let (params, key_pair) = leaf_params(hostnames, "hoop gateway")?;
        let cert = params.self_signed(&key_pair)?;
        let key_der = PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
        Self::build(vec![cert.der().clone()], key_der, None).map_err(TlsError::SelfSigned)
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        ca_pem: Option<String>,
    ) -> Result<GatewayTls, rustls::Error> {
        let fingerprint_sha256 = fingerprint(&chain[0]);
        let certificate_pem = chain.iter().map(|c| pem_encode("CERTIFICATE", c)).collect();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // TLS 1.2 and 1.3: libpq supports both, and older clients only have 1.2.
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            // Also checks that the key matches the leaf certificate.
            .with_single_cert(chain, key)?;
        // rustls accepts a client that sends no ALPN (libpq before 17, or with the SSLRequest
        // negotiation) and refuses one that offers only other protocols, as Postgres does.
        config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];

        Ok(GatewayTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            fingerprint_sha256,
            certificate_pem,
            ca_pem,
        })
    }
}

/// Server certificate parameters for `hostnames` (checked one by one, so an error names the
/// entry at fault) and a new P-256 key: server auth, valid for a year from the start of today
/// (UTC), which also tolerates a client clock that is a little behind.
fn leaf_params(
    hostnames: &[String],
    common_name: &str,
) -> Result<(rcgen::CertificateParams, rcgen::KeyPair), TlsError> {
    if hostnames.is_empty() {
        return Err(TlsError::NoHostnames);
    }
    for name in hostnames {
        rcgen::CertificateParams::new(vec![name.clone()]).map_err(|source| TlsError::Hostname {
            name: name.clone(),
            source,
        })?;
    }
    let mut params = rcgen::CertificateParams::new(hostnames.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    valid_from_today(&mut params, SELF_SIGNED_VALIDITY);
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    Ok((params, key_pair))
}

/// Makes `params` valid for `validity` from 00:00 UTC today, which also tolerates a client
/// clock that is a little behind.
fn valid_from_today(params: &mut rcgen::CertificateParams, validity: std::time::Duration) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    // chrono's month and day are in range, so rcgen's constructor cannot panic.
    params.not_before = rcgen::date_time_ymd(today.year(), today.month() as u8, today.day() as u8);
    params.not_after = params.not_before + validity;
}

/// The gateway CA of `seed`: a P-256 key whose scalar is derived from the seed (the rare
/// derivation that is not a valid scalar is retried with a counter), so the key and subject are
/// the same wherever the seed is. The subject names the key's fingerprint, so two hoops' CAs
/// never share a name in one trust store. It signs no other CA (path length 0) and, by critical
/// name constraints, no certificate for another name than `hostnames`: a job that trusts it for
/// the gateway trusts it for nothing else, even if the key were derived by someone holding the
/// secret key. Valid from the start of today for two years, beyond the leaf it signs.
fn derived_ca(
    seed: &[u8; 32],
    hostnames: &[String],
) -> Result<(rcgen::KeyPair, rcgen::CertificateParams), TlsError> {
    use aws_lc_rs::{agreement, hmac, signature};
    let key = hmac::Key::new(hmac::HMAC_SHA256, seed);
    let pkcs8 = (0u8..16)
        .find_map(|counter| {
            let scalar = hmac::sign(
                &key,
                &[b"hoop gateway ca p256\0".as_slice(), &[counter]].concat(),
            );
            let private =
                agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, scalar.as_ref())
                    .ok()?;
            let public = private.compute_public_key().ok()?;
            let pair = signature::EcdsaKeyPair::from_private_key_and_public_key(
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                scalar.as_ref(),
                public.as_ref(),
            )
            .ok()?;
            pair.to_pkcs8v1().ok()
        })
        .ok_or(TlsError::DeriveCa)?;
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_ref()),
        &rcgen::PKCS_ECDSA_P256_SHA256,
    )?;
    let id = crate::base::hash::sha256(key_pair.public_key_raw());
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!(
            "hoop gateway CA {:02X}{:02X}{:02X}{:02X}",
            id[0], id[1], id[2], id[3]
        ),
    );
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    valid_from_today(&mut params, 2 * SELF_SIGNED_VALIDITY);
    params.name_constraints = Some(name_constraints(hostnames));
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&id[..16]));
    params.use_authority_key_identifier_extension = false;
    Ok((key_pair, params))
}

/// Only `hostnames`: DNS names (and their subdomains, as name constraints read) and single IP
/// addresses; every IP address is excluded when none is named (an unconstrained type would
/// otherwise be allowed).
fn name_constraints(hostnames: &[String]) -> rcgen::NameConstraints {
    let mut permitted = Vec::new();
    for name in hostnames {
        match name.parse::<std::net::IpAddr>() {
            Ok(ip) => permitted.push(rcgen::GeneralSubtree::IpAddress(
                rcgen::CidrSubnet::from_addr_prefix(ip, if ip.is_ipv4() { 32 } else { 128 }),
            )),
            Err(_) => permitted.push(rcgen::GeneralSubtree::DnsName(name.clone())),
        }
    }
    let mut excluded = Vec::new();
    if !permitted
        .iter()
        .any(|s| matches!(s, rcgen::GeneralSubtree::IpAddress(_)))
    {
        excluded.push(rcgen::GeneralSubtree::IpAddress(
            rcgen::CidrSubnet::from_v4_prefix([0; 4], 0),
        ));
        excluded.push(rcgen::GeneralSubtree::IpAddress(
            rcgen::CidrSubnet::from_v6_prefix([0; 16], 0),
        ));
    }
    rcgen::NameConstraints {
        permitted_subtrees: permitted,
        excluded_subtrees: excluded,
    }
}

/// Reads the CA file given to clients and checks that it verifies `chain` for `host`, as a
/// client with `sslmode=verify-full` would.
fn read_ca(
    ca: &Path,
    cert: &Path,
    chain: &[CertificateDer<'static>],
    host: &str,
) -> Result<String, TlsError> {
    let text = std::fs::read_to_string(ca).map_err(|source| TlsError::Read {
        what: "CA",
        path: ca.to_owned(),
        source,
    })?;
    let cas = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what: "CA",
            path: ca.to_owned(),
            source,
        })?;
    if cas.is_empty() {
        return Err(TlsError::NoCertificate {
            path: ca.to_owned(),
        });
    }
    let mismatch = |reason: String| TlsError::CaMismatch {
        ca: ca.to_owned(),
        cert: cert.to_owned(),
        host: host.to_owned(),
        reason,
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| mismatch(e.to_string()))?;
    // Each certificate alone must verify the chain: every one handed to jobs is trusted for the
    // gateway, so one that does not issue its certificate (a whole system bundle) must not be.
    for (i, c) in cas.iter().enumerate() {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(c.clone()).map_err(|e| mismatch(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| mismatch(e.to_string()))?;
        rustls::client::danger::ServerCertVerifier::verify_server_cert(
            verifier.as_ref(),
            &chain[0],
            &chain[1..],
            &name,
            &[],
            rustls::pki_types::UnixTime::now(),
        )
        .map_err(|e| {
            mismatch(if cas.len() == 1 {
                e.to_string()
            } else {
                format!("certificate {} of {} in the file: {e}", i + 1, cas.len())
            })
        })?;
    }
    Ok(cas.iter().map(|c| pem_encode("CERTIFICATE", c)).collect())
}

fn fingerprint(der: &[u8]) -> String {
    crate::base::hash::sha256(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// RFC 7468 text encoding: base64 in 64-character lines.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 output is ASCII, so every 64-byte chunk is valid UTF-8.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, RootCertStore};
    use sha2::{Digest, Sha256};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::TlsConnector;

    use super::*;

    fn hosts() -> Vec<String> {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    }

    fn client_config(
        trusted_pem: &str,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(trusted_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    /// Handshakes over an in-memory pipe, echoes one message; returns the negotiated version
    /// and ALPN protocol, or the client's error.
    async fn handshake(
        server: &GatewayTls,
        client: ClientConfig,
        server_name: &str,
    ) -> Result<(rustls::ProtocolVersion, Option<Vec<u8>>), io::Error> {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let acceptor = server.acceptor.clone();
        let server_task = tokio::spawn(async move {
            let mut tls = acceptor.accept(server_io).await?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await?;
            tls.write_all(&buf).await?;
            tls.shutdown().await?;
            Ok::<_, io::Error>(())
        });
        let connector = TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from(server_name.to_owned()).unwrap();
        let result = async {
            let mut tls = connector.connect(name, client_io).await?;
            tls.write_all(b"hello").await?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"hello");
            let (_, conn) = tls.get_ref();
            Ok((
                conn.protocol_version().unwrap(),
                conn.alpn_protocol().map(<[u8]>::to_vec),
            ))
        }
        .await;
        if result.is_ok() {
            server_task.await.unwrap().unwrap();
        }
        result
    }

    #[tokio::test]
    async fn self_signed_handshakes_with_a_client_that_trusts_it() {
        let tls = GatewayTls::self_signed(&hosts()).unwrap();
        for name in ["localhost", "127.0.0.1", "::1"] {
            let client = client_config(&tls.certificate_pem, rustls::ALL_VERSIONS, &[]);
            let (version, alpn) = handshake(&tls, client, name).await.unwrap();
            assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
            assert_eq!(alpn, None, "ALPN is offered, not required");
        }
        let client = client_config(&tls.certificate_pem, &[&rustls::version::TLS12], &[]);
        let (version, _) = handshake(&tls, client, "localhost").await.unwrap();
        assert_eq!(version, rustls::ProtocolVersion::TLSv1_2);

        let client = client_config(&tls.certificate_pem, rustls::ALL_VERSIONS, &[b"postgresql"]);
        let (_, alpn) = handshake(&tls, client, "localhost").await.unwrap();
        assert_eq!(alpn.as_deref(), Some(ALPN_POSTGRESQL));
    }

    #[tokio::test]
    async fn clients_that_do_not_trust_it_or_speak_another_protocol_fail() {
        let tls = GatewayTls::self_signed(&hosts()).unwrap();
        // Another hoop's certificate has the same subject, so it fails at the signature;
        // a certificate with another subject fails at the issuer.
        let other_hoop = GatewayTls::self_signed(&hosts()).unwrap().certificate_pem;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let other_subject = rcgen_cert(&key).pem();
        for (root, reason) in [
            (other_hoop, "BadSignature"),
            (other_subject, "UnknownIssuer"),
        ] {
            let client = client_config(&root, rustls::ALL_VERSIONS, &[]);
            let err = handshake(&tls, client, "localhost").await.unwrap_err();
            assert!(err.to_string().contains(reason), "{err}");
        }

        // A name that is not in the certificate.
        let client = client_config(&tls.certificate_pem, rustls::ALL_VERSIONS, &[]);
        let err = handshake(&tls, client, "db.example.com").await.unwrap_err();
        assert!(err.to_string().contains("not valid for name"), "{err}");

        // A client that offers ALPN but not "postgresql" is refused, as Postgres does.
        let client = client_config(&tls.certificate_pem, rustls::ALL_VERSIONS, &[b"h2"]);
        let err = handshake(&tls, client, "localhost").await.unwrap_err();
        assert!(err.to_string().contains("NoApplicationProtocol"), "{err}");
    }

    #[tokio::test]
    async fn every_certificate_generated_from_one_seed_verifies_with_the_ca_of_any() {
        let hosts = vec!["db.example.com".to_owned(), "localhost".to_owned()];
        let (one, two) = (
            GatewayTls::generated(&[1u8; 32], &hosts).unwrap(),
            GatewayTls::generated(&[1u8; 32], &hosts).unwrap(),
        );
        assert_ne!(
            one.fingerprint_sha256, two.fingerprint_sha256,
            "a new leaf key each time"
        );
        let ca = one.ca_pem.clone().unwrap();
        for server in [&one, &two] {
            let client = client_config(&ca, rustls::ALL_VERSIONS, &[]);
            handshake(server, client, "db.example.com").await.unwrap();
        }
        // Another seed is another CA: its subject differs, so the issuer is unknown.
        let other = GatewayTls::generated(&[2u8; 32], &hosts).unwrap();
        let client = client_config(other.ca_pem.as_ref().unwrap(), rustls::ALL_VERSIONS, &[]);
        let err = handshake(&one, client, "db.example.com").await.unwrap_err();
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        // The leaf is no CA: trusting it alone verifies nothing.
        let client = client_config(&one.certificate_pem, rustls::ALL_VERSIONS, &[]);
        assert!(handshake(&one, client, "db.example.com").await.is_err());
    }

    #[tokio::test]
    async fn the_derived_ca_is_constrained_to_the_gateways_names() {
        let seed = [3u8; 32];
        let hosts = vec!["db.example.com".to_owned(), "localhost".to_owned()];
        let tls = GatewayTls::generated(&seed, &hosts).unwrap();
        // Whoever derives the CA's key can sign a leaf for another name: clients refuse it.
        let (ca_key, ca_params) = derived_ca(&seed, &hosts).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        for name in ["bank.example", "db.example.com.evil", "10.0.0.1"] {
            let (mut params, key) = leaf_params(&[name.to_owned()], "forged").unwrap();
            params.use_authority_key_identifier_extension = true;
            let forged = params.signed_by(&key, &issuer).unwrap();
            let server = GatewayTls::build(
                vec![forged.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
                None,
            )
            .unwrap();
            let client = client_config(tls.ca_pem.as_ref().unwrap(), rustls::ALL_VERSIONS, &[]);
            let err = handshake(&server, client, name).await.unwrap_err();
            assert!(
                err.to_string().contains("NameConstraint") || err.to_string().contains("Name"),
                "{name}: {err}"
            );
        }
        // A subdomain of a permitted name is within the constraints, as RFC 5280 reads them.
        let (mut params, key) = leaf_params(&["a.db.example.com".to_owned()], "sub").unwrap();
        params.use_authority_key_identifier_extension = true;
        let sub = params.signed_by(&key, &issuer).unwrap();
        let server = GatewayTls::build(
            vec![sub.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            None,
        )
        .unwrap();
        let client = client_config(tls.ca_pem.as_ref().unwrap(), rustls::ALL_VERSIONS, &[]);
        handshake(&server, client, "a.db.example.com")
            .await
            .unwrap();
    }

    #[test]
    fn fingerprint_is_sha256_of_the_der_like_openssl_prints_it() {
        let tls = GatewayTls::self_signed(&hosts()).unwrap();
        let der = CertificateDer::from_pem_slice(tls.certificate_pem.as_bytes()).unwrap();
        let expected: Vec<String> = Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(tls.fingerprint_sha256, expected.join(":"));
        assert_eq!(tls.fingerprint_sha256.len(), 32 * 3 - 1);
    }

    #[test]
    fn self_signed_needs_valid_hostnames() {
        assert!(matches!(
            GatewayTls::self_signed(&[]),
            Err(TlsError::NoHostnames)
        ));
        let err = GatewayTls::self_signed(&["localhost".into(), "dé.example".into()]).unwrap_err();
        assert!(err.to_string().contains("dé.example"), "{err}");
    }

    /// A scratch directory under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("hoop-tls-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rcgen_cert(key: &rcgen::KeyPair) -> rcgen::Certificate {
        rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(key)
            .unwrap()
    }

    #[tokio::test]
    async fn from_files_round_trips_rcgen_pem() {
        let dir = Scratch::new();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen_cert(&key);
        let cert_path = dir.write("cert.pem", cert.pem());
        let key_path = dir.write("key.pem", key.serialize_pem());

        let tls = GatewayTls::from_files(&cert_path, &key_path, None, "localhost").unwrap();
        // Our encoder agrees with rcgen's (the `pem` crate's).
        assert_eq!(tls.certificate_pem, cert.pem());
        assert_eq!(tls.fingerprint_sha256, fingerprint(cert.der()));
        let client = client_config(&cert.pem(), rustls::ALL_VERSIONS, &[]);
        handshake(&tls, client, "localhost").await.unwrap();
    }

    #[tokio::test]
    async fn from_files_reads_sec1_and_pkcs1_keys() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
        let dir = Scratch::new();

        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let cert =
            rcgen_cert(&rcgen::KeyPair::try_from(ec.to_pkcs8v1().unwrap().as_ref()).unwrap());
        let sec1 = ec.private_key().as_der().unwrap();
        let cert_path = dir.write("ec.pem", cert.pem());
        let key_path = dir.write("ec.key", pem_encode("EC PRIVATE KEY", sec1.as_ref()));
        let tls = GatewayTls::from_files(&cert_path, &key_path, None, "localhost").unwrap();
        let client = client_config(&cert.pem(), rustls::ALL_VERSIONS, &[]);
        handshake(&tls, client, "localhost").await.unwrap();

        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).unwrap();
        let cert = rcgen_cert(&rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap());
        let cert_path = dir.write("rsa.pem", cert.pem());
        let key_path = dir.write(
            "rsa.key",
            pem_encode("RSA PRIVATE KEY", pkcs1_from_pkcs8(pkcs8.as_ref())),
        );
        let tls = GatewayTls::from_files(&cert_path, &key_path, None, "localhost").unwrap();
        let client = client_config(&cert.pem(), rustls::ALL_VERSIONS, &[]);
        handshake(&tls, client, "localhost").await.unwrap();
    }

    /// PKCS#8 `PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING }`;
    /// for RSA the octet string is the PKCS#1 `RSAPrivateKey`.
    fn pkcs1_from_pkcs8(der: &[u8]) -> &[u8] {
        fn tlv(buf: &[u8]) -> (u8, &[u8], &[u8]) {
            let (tag, first) = (buf[0], buf[1] as usize);
            let (len, header) = if first < 0x80 {
                (first, 2)
            } else {
                let n = first & 0x7f;
                let len = buf[2..2 + n]
                    .iter()
                    .fold(0, |acc, b| acc << 8 | *b as usize);
                (len, 2 + n)
            };
            (tag, &buf[header..header + len], &buf[header + len..])
        }
        let (_, info, _) = tlv(der);
        let (_, _, rest) = tlv(info); // version
        let (_, _, rest) = tlv(rest); // algorithm
        let (tag, key, _) = tlv(rest);
        assert_eq!(tag, 0x04);
        key
    }

    #[test]
    fn file_errors_name_the_file_and_what_to_do() {
        let dir = Scratch::new();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen_cert(&key);
        let good_cert = dir.write("cert.pem", cert.pem());
        let good_key = dir.write("key.pem", key.serialize_pem());
        let missing = dir.0.join("missing.pem");
        let garbage = dir.write("garbage.pem", b"\x00\xffnot pem at all");
        let truncated = dir.write(
            "truncated.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n".as_bytes(),
        );
        let encrypted = dir.write(
            "encrypted.pem",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let other_key = dir.write(
            "other.key",
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .unwrap()
                .serialize_pem(),
        );

        let err = |cert: &Path, key: &Path| {
            GatewayTls::from_files(cert, key, None, "localhost").unwrap_err()
        };
        let cases = [
            (err(&missing, &good_key), &missing, "cannot read"),
            (err(&good_cert, &missing), &missing, "cannot read"),
            (err(&garbage, &good_key), &garbage, "no certificate"),
            (err(&good_cert, &garbage), &garbage, "no private key"),
            (err(&truncated, &good_key), &truncated, "not valid PEM"),
            (err(&good_cert, &encrypted), &encrypted, "decrypt"),
            // The key file given as the certificate and the other way round.
            (err(&good_key, &good_cert), &good_key, "no certificate"),
            (err(&good_cert, &good_cert), &good_cert, "no private key"),
            (
                err(&good_cert, &other_key),
                &other_key,
                "cannot be used together",
            ),
        ];
        for (error, path, hint) in cases {
            let message = error.to_string();
            assert!(
                message.contains(&path.display().to_string()) && message.contains(hint),
                "{message}"
            );
        }
    }
}
