//! OpenID Connect provider persistence: clients, pending authorization requests,
//! authorization codes, device codes and issued tokens. The [`OidcStore`](crate::OidcStore)
//! methods delegate to one file per responsibility: `clients.rs`, `requests.rs`, `codes.rs`,
//! `tokens.rs` and `device_codes.rs`.
//!
//! Secrets are never stored: codes, tokens and client secrets are kept as SHA-256 hex
//! digests computed by the caller. Single use is enforced with conditional `UPDATE`s, so two
//! instances racing for one code or refresh token cannot both win.

mod clients;
mod codes;
mod device_codes;
mod requests;
mod tokens;

pub use clients::OidcClient;
pub use codes::{CodeTake, OidcCode};
pub use device_codes::{DeviceCode, DeviceDecision};
pub use requests::OidcRequest;
pub use tokens::OidcToken;

use crate::Result;
use crate::rows::uuid;
use crate::sql::SqlStore;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use uuid::Uuid;

fn opt_uuid(v: Option<String>) -> Result<Option<Uuid>> {
    v.as_deref().map(uuid).transpose()
}

#[async_trait::async_trait]
impl crate::OidcStore for SqlStore {
    async fn create_oidc_client(&self, c: &OidcClient, audit: AuditDraft) -> Result<()> {
        clients::create(self, c, audit).await
    }

    async fn update_oidc_client(&self, c: &OidcClient, audit: AuditDraft) -> Result<()> {
        clients::update(self, c, audit).await
    }

    async fn get_oidc_client(&self, id: &str) -> Result<Option<OidcClient>> {
        clients::get(self, id).await
    }

    async fn list_oidc_clients(&self) -> Result<Vec<OidcClient>> {
        clients::list_all(self).await
    }

    async fn delete_oidc_client(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        clients::delete(self, id, audit).await
    }

    async fn save_oidc_request(&self, r: &OidcRequest) -> Result<()> {
        requests::save(self, r).await
    }

    async fn load_oidc_request(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OidcRequest>> {
        requests::load(self, id, now).await
    }

    async fn delete_oidc_request(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        requests::delete(self, id, now).await
    }

    async fn create_oidc_code(&self, c: &OidcCode) -> Result<()> {
        codes::create(self, c).await
    }

    async fn take_oidc_code(&self, hash: &str, now: OffsetDateTime) -> Result<CodeTake> {
        codes::take(self, hash, now).await
    }

    async fn create_oidc_token(&self, t: &OidcToken) -> Result<()> {
        tokens::create(self, t).await
    }

    async fn create_oidc_tokens(&self, ts: &[OidcToken]) -> Result<()> {
        tokens::create_many(self, ts).await
    }

    async fn oidc_token(&self, hash: &str) -> Result<Option<OidcToken>> {
        tokens::get(self, hash).await
    }

    async fn use_refresh_token(&self, hash: &str, now: OffsetDateTime) -> Result<bool> {
        tokens::use_refresh(self, hash, now).await
    }

    async fn revoke_oidc_token(&self, hash: &str, now: OffsetDateTime) -> Result<bool> {
        tokens::revoke(self, hash, now).await
    }

    async fn revoke_oidc_grant(&self, grant_id: Uuid, now: OffsetDateTime) -> Result<u64> {
        tokens::revoke_grant(self, grant_id, now).await
    }

    async fn create_device_code(&self, d: &DeviceCode) -> Result<()> {
        device_codes::create(self, d).await
    }

    async fn device_by_user_code(&self, user_code: &str) -> Result<Option<DeviceCode>> {
        device_codes::by_user_code(self, user_code).await
    }

    async fn decide_device_code(
        &self,
        hash: &str,
        decision: DeviceDecision,
        now: OffsetDateTime,
    ) -> Result<bool> {
        device_codes::decide(self, hash, decision, now).await
    }

    async fn poll_device_code(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        device_codes::poll(self, hash, now).await
    }

    async fn use_device_code(&self, hash: &str) -> Result<bool> {
        device_codes::spend(self, hash).await
    }

    async fn device_code(&self, hash: &str) -> Result<Option<DeviceCode>> {
        self.device_by_hash_impl(hash).await
    }
}
