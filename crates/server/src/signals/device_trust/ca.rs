//! The installation's device certificate authority: an ECDSA P-256 CA created on first use,
//! its private key sealed with a key derived from the master key (like signing keys). It
//! issues 90-day client certificates from the CSRs devices send; a certificate says which
//! device it is (CN and a `urn:trustplane:device:` URI), nothing else. Whether it still works
//! is decided per request from the device record, never from the chain alone.

use crate::edge::error::AppError;
use crate::state::AppState;
use axum::http::StatusCode;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_store::DeviceAuthority;
use uuid::Uuid;

/// How long a device certificate lives (renewed by the agent before it runs out).
pub const CERT_LIFETIME: Duration = Duration::days(90);
/// How long the CA certificate lives.
const CA_LIFETIME: Duration = Duration::days(3650);
/// The key-derivation purpose of the CA key's seal.
pub const SEAL_PURPOSE: &str = "trustplane device CA key v1";
/// CSRs larger than this are refused before parsing.
const MAX_CSR_BYTES: usize = 8 * 1024;

/// A certificate issued to a device.
#[derive(Debug, Clone)]
pub struct Issued {
    pub pem: String,
    pub serial_hex: String,
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint: String,
    pub not_after: OffsetDateTime,
}

/// The CA, unsealed.
pub struct DeviceCa {
    pub certificate_pem: String,
    key: KeyPair,
}

fn bad_csr(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::BAD_REQUEST, "invalid_csr", message)
}

fn internal(what: &str) -> AppError {
    tracing::error!("device CA: {what}");
    AppError::internal()
}

/// The CA, created (and stored) on first use. Several instances starting at once agree on
/// one: the store keeps the first and every instance uses what it kept.
pub async fn load(state: &AppState) -> Result<DeviceCa, AppError> {
    let seal = state.device_ca_seal;
    let stored = match state.store.device_authority().await? {
        Some(a) => a,
        None => {
            let fresh = create(state.now(), &state.cfg.organisation, &seal)?;
            let audit = AuditDraft::new(
                &Actor::system(),
                "device.ca.create",
                "device_authority",
                None,
            )
            .after(&serde_json::json!({ "certificate": fresh.certificate_pem }));
            state.store.init_device_authority(&fresh, audit).await?
        }
    };
    let der = crate::platform::secrets::open(&seal, b"device-ca", &stored.sealed_key)
        .map_err(|_| internal("the CA key cannot be unsealed (wrong master key?)"))?;
    let key = KeyPair::try_from(der.as_slice()).map_err(|_| internal("the CA key is unusable"))?;
    Ok(DeviceCa {
        certificate_pem: stored.certificate_pem,
        key,
    })
}

fn create(
    now: OffsetDateTime,
    organisation: &str,
    seal: &[u8; 32],
) -> Result<DeviceAuthority, AppError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|_| internal("cannot generate the CA key"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{organisation} device CA"));
    dn.push(DnType::OrganizationName, organisation);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + CA_LIFETIME;
    params.serial_number = Some(random_serial());
    let cert = params
        .self_signed(&key)
        .map_err(|_| internal("cannot sign the CA certificate"))?;
    let sealed = crate::platform::secrets::seal(seal, b"device-ca", &key.serialize_der())
        .map_err(|_| internal("cannot seal the CA key"))?;
    Ok(DeviceAuthority {
        certificate_pem: cert.pem(),
        sealed_key: sealed,
        created_at: now,
        not_after: now + CA_LIFETIME,
    })
}

fn random_serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    // Positive, and never starting with a zero byte (DER integers stay 16 bytes).
    b[0] = (b[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&b)
}

impl DeviceCa {
    /// Issues a client certificate for `device_id` to the P-256 key of a PEM CSR whose
    /// signature verifies. Everything in the certificate but the key is set here; what the
    /// CSR asks for besides its key is ignored.
    pub fn issue(
        &self,
        csr_pem: &str,
        device_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Issued, AppError> {
        if csr_pem.len() > MAX_CSR_BYTES {
            return Err(bad_csr("The certificate request is too large."));
        }
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            bad_csr(format!(
                "The certificate request cannot be used ({e}): send a PEM PKCS#10 request \
                 signed by its own P-256 key, without extensions other than subject alternative \
                 names."
            ))
        })?;
        if csr.public_key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(bad_csr(
                "The certificate request must carry an ECDSA P-256 key.",
            ));
        }
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, device_id.to_string());
        csr.params = CertificateParams::default();
        csr.params.distinguished_name = dn;
        let uri = format!("urn:trustplane:device:{device_id}");
        csr.params.subject_alt_names = vec![SanType::URI(
            uri.try_into()
                .map_err(|_| internal("the device URI is not IA5"))?,
        )];
        csr.params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        csr.params.not_before = now - Duration::minutes(5);
        csr.params.not_after = now + CERT_LIFETIME;
        let serial = random_serial();
        let serial_hex = hex::encode(serial.as_ref());
        csr.params.serial_number = Some(serial);
        csr.params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_ca_cert_pem(&self.certificate_pem, &self.key)
            .map_err(|_| internal("the CA certificate cannot be read"))?;
        let cert = csr
            .signed_by(&issuer)
            .map_err(|_| internal("cannot sign a device certificate"))?;
        Ok(Issued {
            pem: cert.pem(),
            serial_hex,
            fingerprint: hex::encode(Sha256::digest(cert.der())),
            not_after: now + CERT_LIFETIME,
        })
    }
}

/// `GET /devices/ca.pem`: the device CA certificate, for `ssl_client_certificate` in nginx
/// and for `openssl verify`.
pub async fn ca_pem(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let ca = load(&state).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/x-pem-file; charset=utf-8",
        )],
        ca.certificate_pem,
    )
        .into_response())
}
