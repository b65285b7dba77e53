//! A [`Store`] that applies a continuous-access event to this instance's caches after every
//! change that affects forward-auth decisions (after the change committed: the inner call has
//! returned). Audited changes reach other instances through the notification the store
//! sends in the same transaction (PostgreSQL); changes without an audit entry (sign-out,
//! a risk detection recorded during sign-in) are published by [`Cae::publish`].
//! The event is applied even when the call fails: an extra invalidation is harmless, a
//! missed one is not.

use super::{Cae, Event, from_audit};
use async_trait::async_trait;
use std::sync::Arc;
use time::OffsetDateTime;
use trustplane_core::audit::{AuditDraft, AuditEntry, ChainError};
use trustplane_core::identity::{Group, Role, User};
use trustplane_core::mfa::MfaMethod;
use trustplane_core::mfa::tap::TemporaryAccessPass;
use trustplane_core::mfa::webauthn::WebauthnCredential;
use trustplane_core::risk::{DetectionState, RiskDetection};
use trustplane_core::session::{ApiToken, Session};
use trustplane_core::signin::SignInEvent;
use trustplane_store::*;
use uuid::Uuid;

pub struct EventingStore {
    pub inner: Arc<dyn Store>,
    pub cae: Arc<Cae>,
}

impl EventingStore {
    /// Applies the event of a change once the inner call returned (also on failure: an
    /// extra invalidation is harmless), passing the result through.
    fn applied<T>(&self, ev: Option<Event>, r: T) -> T {
        if let Some(e) = ev {
            self.cae.apply(&e);
        }
        r
    }
}

fn event_of(a: &AuditDraft) -> Option<Event> {
    from_audit(&a.action, &a.target_type, a.target_id.as_deref())
}

#[async_trait]
impl Store for EventingStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    fn limits(&self) -> &dyn trustplane_store::LimitStore {
        self.inner.limits()
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn probe_write(&self) -> Result<()> {
        self.inner.probe_write().await
    }

    async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        roles: &[Role],
        audit: AuditDraft,
    ) -> Result<()> {
        let ev = event_of(&audit);
        let r = self
            .inner
            .create_user(user, password_hash, roles, audit)
            .await;
        self.applied(ev, r)
    }

    async fn get_user(&self, id: Uuid) -> Result<Option<User>> {
        self.inner.get_user(id).await
    }

    async fn find_user(&self, username: &str) -> Result<Option<User>> {
        self.inner.find_user(username).await
    }

    async fn login_record(&self, username: &str) -> Result<Option<LoginRecord>> {
        self.inner.login_record(username).await
    }

    async fn list_users(&self, q: &UserQuery) -> Result<Vec<User>> {
        self.inner.list_users(q).await
    }

    async fn count_users(&self) -> Result<i64> {
        self.inner.count_users().await
    }

    async fn update_user(&self, user: &User, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.update_user(user, audit).await;
        self.applied(ev, r)
    }

    async fn delete_user(&self, id: Uuid, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.delete_user(id, audit).await;
        self.applied(ev, r)
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        hash: &str,
        must_change: bool,
        revoke_sessions_at: Option<OffsetDateTime>,
        audit: Option<AuditDraft>,
    ) -> Result<()> {
        let ev = audit.as_ref().and_then(event_of);
        let audited = audit.is_some();
        let r = self
            .inner
            .set_password_hash(user_id, hash, must_change, revoke_sessions_at, audit)
            .await;
        if let Some(e) = ev {
            self.cae.apply(&e);
        }
        if revoke_sessions_at.is_some() || audited {
            self.cae.publish(&Event::User(user_id));
        }
        r
    }

    async fn create_group(&self, group: &Group, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.create_group(group, audit).await;
        self.applied(ev, r)
    }

    async fn get_group(&self, id: Uuid) -> Result<Option<Group>> {
        self.inner.get_group(id).await
    }

    async fn find_group(&self, name: &str) -> Result<Option<Group>> {
        self.inner.find_group(name).await
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        self.inner.list_groups().await
    }

    async fn delete_group(&self, id: Uuid, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.delete_group(id, audit).await;
        self.applied(ev, r)
    }

    async fn add_member(&self, group_id: Uuid, user_id: Uuid, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.add_member(group_id, user_id, audit).await;
        if let Some(e) = ev {
            self.cae.apply(&e);
        }
        self.cae.apply(&Event::User(user_id));
        r
    }

    async fn remove_member(
        &self,
        group_id: Uuid,
        user_id: Uuid,
        audit: AuditDraft,
    ) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.remove_member(group_id, user_id, audit).await;
        if let Some(e) = ev {
            self.cae.apply(&e);
        }
        self.cae.apply(&Event::User(user_id));
        r
    }

    async fn group_members(&self, group_id: Uuid) -> Result<Vec<User>> {
        self.inner.group_members(group_id).await
    }

    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<Group>> {
        self.inner.groups_of(user_id).await
    }

    async fn assign_role(&self, user_id: Uuid, role: Role, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.assign_role(user_id, role, audit).await;
        self.applied(ev, r)
    }

    async fn unassign_role(&self, user_id: Uuid, role: Role, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.unassign_role(user_id, role, audit).await;
        self.applied(ev, r)
    }

    async fn roles_of(&self, user_id: Uuid) -> Result<Vec<Role>> {
        self.inner.roles_of(user_id).await
    }

    async fn role_holders(&self, role: Role) -> Result<Vec<User>> {
        self.inner.role_holders(role).await
    }

    async fn create_session(&self, session: &Session, secret_hash: &str) -> Result<()> {
        self.inner.create_session(session, secret_hash).await
    }

    async fn session_by_secret(&self, secret_hash: &str) -> Result<Option<SessionWithUser>> {
        self.inner.session_by_secret(secret_hash).await
    }

    async fn get_session(&self, id: Uuid) -> Result<Option<Session>> {
        self.inner.get_session(id).await
    }

    async fn touch_session(
        &self,
        id: Uuid,
        last_seen: OffsetDateTime,
        idle_expires: OffsetDateTime,
    ) -> Result<()> {
        self.inner.touch_session(id, last_seen, idle_expires).await
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: Option<AuditDraft>,
    ) -> Result<bool> {
        let ev = audit.as_ref().and_then(event_of);
        let r = self.inner.revoke_session(id, at, audit).await;
        if let Some(e) = ev {
            self.cae.apply(&e);
        }
        self.cae.publish(&Event::Session(id));
        r
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
        audit: Option<AuditDraft>,
    ) -> Result<u64> {
        let ev = audit.as_ref().and_then(event_of);
        let r = self.inner.revoke_user_sessions(user_id, at, audit).await;
        if let Some(e) = ev {
            self.cae.apply(&e);
        }
        self.cae.publish(&Event::User(user_id));
        r
    }

    async fn list_sessions(
        &self,
        user_id: Option<Uuid>,
        active_at: Option<OffsetDateTime>,
        limit: i64,
    ) -> Result<Vec<Session>> {
        self.inner.list_sessions(user_id, active_at, limit).await
    }

    async fn create_api_token(
        &self,
        token: &ApiToken,
        secret_hash: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.create_api_token(token, secret_hash, audit).await;
        self.applied(ev, r)
    }

    async fn api_token_by_secret(&self, secret_hash: &str) -> Result<Option<ApiToken>> {
        self.inner.api_token_by_secret(secret_hash).await
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        self.inner.list_api_tokens().await
    }

    async fn revoke_api_token(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.revoke_api_token(id, at, audit).await;
        self.applied(ev, r)
    }

    async fn touch_api_token(&self, id: Uuid, at: OffsetDateTime) -> Result<()> {
        self.inner.touch_api_token(id, at).await
    }

    async fn record_sign_in(&self, event: &SignInEvent) -> Result<()> {
        self.inner.record_sign_in(event).await
    }

    async fn purge_expired(
        &self,
        what: Expired,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64> {
        self.inner.purge_expired(what, before, limit).await
    }

    async fn list_sign_ins(&self, q: &SignInQuery) -> Result<Vec<SignInEvent>> {
        self.inner.list_sign_ins(q).await
    }

    async fn get_sign_in(&self, id: Uuid) -> Result<Option<SignInEvent>> {
        self.inner.get_sign_in(id).await
    }

    async fn append_audit(&self, draft: AuditDraft) -> Result<AuditEntry> {
        self.inner.append_audit(draft).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        self.inner.list_audit(q).await
    }

    async fn verify_audit(&self) -> Result<std::result::Result<u64, ChainError>> {
        self.inner.verify_audit().await
    }

    async fn list_banned_terms(&self) -> Result<Vec<BannedTerm>> {
        self.inner.list_banned_terms().await
    }

    async fn add_banned_terms(
        &self,
        terms: &[(String, String)],
        added_by: &str,
        audit: AuditDraft,
    ) -> Result<u64> {
        let ev = event_of(&audit);
        let r = self.inner.add_banned_terms(terms, added_by, audit).await;
        self.applied(ev, r)
    }

    async fn remove_banned_term(&self, term: &str, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.remove_banned_term(term, audit).await;
        self.applied(ev, r)
    }

    async fn set_bootstrap_token(
        &self,
        secret_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.inner
            .set_bootstrap_token(secret_hash, expires_at)
            .await
    }

    async fn bootstrap_token_valid(&self, secret_hash: &str, now: OffsetDateTime) -> Result<bool> {
        self.inner.bootstrap_token_valid(secret_hash, now).await
    }

    async fn bootstrap_admin(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
        user: &User,
        password_hash: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let ev = event_of(&audit);
        let r = self
            .inner
            .bootstrap_admin(secret_hash, now, user, password_hash, audit)
            .await;
        self.applied(ev, r)
    }

    async fn banned_terms_revision(&self) -> Result<i64> {
        self.inner.banned_terms_revision().await
    }

    async fn save_login_flow(
        &self,
        id_hash: &str,
        user_id: Option<Uuid>,
        data: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.inner
            .save_login_flow(id_hash, user_id, data, now, expires_at)
            .await
    }

    async fn load_login_flow(&self, id_hash: &str, now: OffsetDateTime) -> Result<Option<String>> {
        self.inner.load_login_flow(id_hash, now).await
    }

    async fn delete_login_flow(&self, id_hash: &str) -> Result<bool> {
        self.inner.delete_login_flow(id_hash).await
    }

    async fn add_mfa_method(
        &self,
        m: &MfaMethod,
        secret_sealed: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.add_mfa_method(m, secret_sealed, audit).await;
        self.applied(ev, r)
    }

    async fn list_mfa_methods(&self, user_id: Uuid) -> Result<Vec<MfaMethod>> {
        self.inner.list_mfa_methods(user_id).await
    }

    async fn mfa_secret(&self, id: Uuid) -> Result<Option<(MfaMethod, String)>> {
        self.inner.mfa_secret(id).await
    }

    async fn use_totp_step(&self, id: Uuid, step: u64, at: OffsetDateTime) -> Result<bool> {
        self.inner.use_totp_step(id, step, at).await
    }

    async fn remove_mfa_method(&self, id: Uuid, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.remove_mfa_method(id, audit).await;
        self.applied(ev, r)
    }

    async fn rename_mfa_method(
        &self,
        id: Uuid,
        user_id: Uuid,
        label: &str,
        audit: AuditDraft,
    ) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self
            .inner
            .rename_mfa_method(id, user_id, label, audit)
            .await;
        self.applied(ev, r)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: &[String],
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<()> {
        let ev = event_of(&audit);
        let r = self
            .inner
            .replace_recovery_codes(user_id, hashes, at, audit)
            .await;
        self.applied(ev, r)
    }

    async fn unused_recovery_codes(&self, user_id: Uuid) -> Result<i64> {
        self.inner.unused_recovery_codes(user_id).await
    }

    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &str,
        at: OffsetDateTime,
    ) -> Result<bool> {
        self.inner.use_recovery_code(user_id, code_hash, at).await
    }

    async fn add_webauthn_credential(
        &self,
        c: &WebauthnCredential,
        passkey: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.add_webauthn_credential(c, passkey, audit).await;
        self.applied(ev, r)
    }

    async fn list_webauthn_credentials(&self, user_id: Uuid) -> Result<Vec<WebauthnCredential>> {
        self.inner.list_webauthn_credentials(user_id).await
    }

    async fn webauthn_keys(&self, user_id: Uuid) -> Result<Vec<(WebauthnCredential, String)>> {
        self.inner.webauthn_keys(user_id).await
    }

    async fn webauthn_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<(WebauthnCredential, String)>> {
        self.inner.webauthn_by_credential_id(credential_id).await
    }

    async fn record_webauthn_use(
        &self,
        id: Uuid,
        expected_count: u32,
        new_count: u32,
        backup_state: bool,
        passkey: &str,
        at: OffsetDateTime,
    ) -> Result<bool> {
        self.inner
            .record_webauthn_use(id, expected_count, new_count, backup_state, passkey, at)
            .await
    }

    async fn rename_webauthn_credential(
        &self,
        id: Uuid,
        user_id: Uuid,
        label: &str,
        audit: AuditDraft,
    ) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self
            .inner
            .rename_webauthn_credential(id, user_id, label, audit)
            .await;
        self.applied(ev, r)
    }

    async fn save_webauthn_ceremony(
        &self,
        id_hash: &str,
        purpose: &str,
        binding: &str,
        user_id: Option<Uuid>,
        state: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.inner
            .save_webauthn_ceremony(id_hash, purpose, binding, user_id, state, now, expires_at)
            .await
    }

    async fn take_webauthn_ceremony(
        &self,
        id_hash: &str,
        purpose: &str,
        binding: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Option<Uuid>, String)>> {
        self.inner
            .take_webauthn_ceremony(id_hash, purpose, binding, now)
            .await
    }

    async fn issue_tap(
        &self,
        tap: &TemporaryAccessPass,
        pass_hash: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.issue_tap(tap, pass_hash, audit).await;
        self.applied(ev, r)
    }

    async fn tap_of(&self, user_id: Uuid) -> Result<Option<TemporaryAccessPass>> {
        self.inner.tap_of(user_id).await
    }

    async fn use_tap(&self, user_id: Uuid, pass_hash: &str, now: OffsetDateTime) -> Result<bool> {
        self.inner.use_tap(user_id, pass_hash, now).await
    }

    async fn revoke_tap(&self, user_id: Uuid, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.revoke_tap(user_id, audit).await;
        self.applied(ev, r)
    }

    async fn current_policy_version(&self) -> Result<Option<PolicyVersion>> {
        self.inner.current_policy_version().await
    }

    async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>> {
        self.inner.policy_version(version).await
    }

    async fn list_policy_versions(&self, limit: i64) -> Result<Vec<PolicyVersion>> {
        self.inner.list_policy_versions(limit).await
    }

    async fn save_policy_version(
        &self,
        based_on: i64,
        document: &str,
        created_by: &str,
        comment: &str,
        now: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<PolicyVersion> {
        let ev = event_of(&audit);
        let r = self
            .inner
            .save_policy_version(based_on, document, created_by, comment, now, audit)
            .await;
        self.applied(ev, r)
    }

    async fn create_terms(&self, t: &TermsOfUse, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.create_terms(t, audit).await;
        self.applied(ev, r)
    }

    async fn list_terms(&self) -> Result<Vec<TermsOfUse>> {
        self.inner.list_terms().await
    }

    async fn get_terms(&self, id: &str) -> Result<Option<TermsOfUse>> {
        self.inner.get_terms(id).await
    }

    async fn delete_terms(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.delete_terms(id, audit).await;
        self.applied(ev, r)
    }

    async fn accept_terms(&self, user_id: Uuid, terms_id: &str, at: OffsetDateTime) -> Result<()> {
        self.inner.accept_terms(user_id, terms_id, at).await
    }

    async fn accepted_terms(&self, user_id: Uuid) -> Result<Vec<String>> {
        self.inner.accepted_terms(user_id).await
    }

    async fn get_setting(&self, name: &str) -> Result<Option<String>> {
        self.inner.get_setting(name).await
    }

    async fn put_setting(&self, name: &str, value: &str, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.put_setting(name, value, audit).await;
        self.applied(ev, r)
    }

    async fn registration_prompted(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<OffsetDateTime> {
        self.inner.registration_prompted(user_id, at).await
    }

    async fn create_code(&self, code: &NewCode) -> Result<()> {
        self.inner.create_code(code).await
    }

    async fn codes_sent_since(&self, user_id: Uuid, since: OffsetDateTime) -> Result<u32> {
        self.inner.codes_sent_since(user_id, since).await
    }

    async fn live_code(
        &self,
        bound_to: &str,
        purpose: trustplane_core::mfa::email::CodePurpose,
        now: OffsetDateTime,
    ) -> Result<Option<LiveCode>> {
        self.inner.live_code(bound_to, purpose, now).await
    }

    async fn use_code(&self, id: Uuid, now: OffsetDateTime) -> Result<bool> {
        self.inner.use_code(id, now).await
    }

    async fn fail_code(&self, id: Uuid, max_attempts: u32, now: OffsetDateTime) -> Result<u32> {
        self.inner.fail_code(id, max_attempts, now).await
    }

    async fn require_reregistration(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<u64> {
        let ev = event_of(&audit);
        let r = self.inner.require_reregistration(user_id, now, audit).await;
        self.applied(ev, r)
    }

    async fn reregistration_required(&self, user_id: Uuid) -> Result<bool> {
        self.inner.reregistration_required(user_id).await
    }

    async fn record_risk_detection(&self, d: &RiskDetection) -> Result<()> {
        let r = self.inner.record_risk_detection(d).await;
        self.cae.publish(&Event::User(d.user_id));
        r
    }

    async fn list_risk_detections(
        &self,
        user_id: Option<Uuid>,
        state: Option<DetectionState>,
        limit: i64,
    ) -> Result<Vec<RiskDetection>> {
        self.inner.list_risk_detections(user_id, state, limit).await
    }

    async fn get_risk_detection(&self, id: Uuid) -> Result<Option<RiskDetection>> {
        self.inner.get_risk_detection(id).await
    }

    async fn close_risk_detection(
        &self,
        id: Uuid,
        to: DetectionState,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.close_risk_detection(id, to, at, audit).await;
        self.applied(ev, r)
    }

    async fn create_application(&self, app: &Application, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.create_application(app, audit).await;
        self.applied(ev, r)
    }

    async fn get_application(&self, id: &str) -> Result<Option<Application>> {
        self.inner.get_application(id).await
    }

    async fn list_applications(&self) -> Result<Vec<Application>> {
        self.inner.list_applications().await
    }

    async fn delete_application(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.delete_application(id, audit).await;
        crate::oidc::client_cache::invalidate();
        self.applied(ev, r)
    }

    async fn add_route(&self, route: &Route, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.add_route(route, audit).await;
        self.applied(ev, r)
    }

    async fn remove_route(&self, app_id: &str, route_id: Uuid, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.remove_route(app_id, route_id, audit).await;
        self.applied(ev, r)
    }

    async fn list_routes(&self, app_id: Option<&str>) -> Result<Vec<Route>> {
        self.inner.list_routes(app_id).await
    }

    async fn find_route(&self, host: &str, path: &str) -> Result<Option<Route>> {
        self.inner.find_route(host, path).await
    }

    async fn add_signing_key(&self, key: &SigningKey, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.add_signing_key(key, audit).await;
        self.applied(ev, r)
    }

    async fn active_signing_keys(&self) -> Result<Vec<SigningKey>> {
        self.inner.active_signing_keys().await
    }

    async fn step_up_session(
        &self,
        id: Uuid,
        methods: &[trustplane_core::authn::MethodUse],
        audit: AuditDraft,
    ) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.step_up_session(id, methods, audit).await;
        self.applied(ev, r)
    }

    async fn put_authentication_context(
        &self,
        c: &AuthenticationContext,
        audit: AuditDraft,
    ) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.put_authentication_context(c, audit).await;
        self.applied(ev, r)
    }

    async fn list_authentication_contexts(&self) -> Result<Vec<AuthenticationContext>> {
        self.inner.list_authentication_contexts().await
    }

    async fn delete_authentication_context(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.delete_authentication_context(id, audit).await;
        self.applied(ev, r)
    }

    async fn put_sensitivity_label(&self, l: &SensitivityLabel, audit: AuditDraft) -> Result<()> {
        let ev = event_of(&audit);
        let r = self.inner.put_sensitivity_label(l, audit).await;
        self.applied(ev, r)
    }

    async fn list_sensitivity_labels(&self) -> Result<Vec<SensitivityLabel>> {
        self.inner.list_sensitivity_labels().await
    }

    async fn delete_sensitivity_label(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.delete_sensitivity_label(id, audit).await;
        self.applied(ev, r)
    }

    async fn set_sensitivity_label(
        &self,
        app_id: &str,
        route: Option<Uuid>,
        label: Option<&str>,
        audit: AuditDraft,
    ) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self
            .inner
            .set_sensitivity_label(app_id, route, label, audit)
            .await;
        self.applied(ev, r)
    }

    async fn published_signing_keys(&self, now: OffsetDateTime) -> Result<Vec<SigningKey>> {
        self.inner.published_signing_keys(now).await
    }

    // OIDC provider state does not feed forward-auth decisions: plain delegation. (A
    // session revoked by RP-initiated logout goes through `revoke_session` above.)
    async fn create_oidc_client(&self, c: &OidcClient, audit: AuditDraft) -> Result<()> {
        let r = self.inner.create_oidc_client(c, audit).await;
        crate::oidc::client_cache::invalidate();
        r
    }
    async fn update_oidc_client(&self, c: &OidcClient, audit: AuditDraft) -> Result<()> {
        let r = self.inner.update_oidc_client(c, audit).await;
        crate::oidc::client_cache::invalidate();
        r
    }
    async fn get_oidc_client(&self, id: &str) -> Result<Option<OidcClient>> {
        self.inner.get_oidc_client(id).await
    }
    async fn list_oidc_clients(&self) -> Result<Vec<OidcClient>> {
        self.inner.list_oidc_clients().await
    }
    async fn delete_oidc_client(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let r = self.inner.delete_oidc_client(id, audit).await;
        crate::oidc::client_cache::invalidate();
        r
    }
    async fn save_oidc_request(&self, r: &OidcRequest) -> Result<()> {
        self.inner.save_oidc_request(r).await
    }
    async fn load_oidc_request(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OidcRequest>> {
        self.inner.load_oidc_request(id, now).await
    }
    async fn delete_oidc_request(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        self.inner.delete_oidc_request(id, now).await
    }
    async fn create_oidc_code(&self, c: &OidcCode) -> Result<()> {
        self.inner.create_oidc_code(c).await
    }
    async fn take_oidc_code(&self, hash: &str, now: OffsetDateTime) -> Result<CodeTake> {
        self.inner.take_oidc_code(hash, now).await
    }
    async fn create_oidc_token(&self, t: &OidcToken) -> Result<()> {
        self.inner.create_oidc_token(t).await
    }
    async fn create_oidc_tokens(&self, ts: &[OidcToken]) -> Result<()> {
        self.inner.create_oidc_tokens(ts).await
    }
    async fn oidc_token(&self, hash: &str) -> Result<Option<OidcToken>> {
        self.inner.oidc_token(hash).await
    }
    async fn use_refresh_token(&self, hash: &str, now: OffsetDateTime) -> Result<bool> {
        self.inner.use_refresh_token(hash, now).await
    }
    async fn revoke_oidc_token(&self, hash: &str, now: OffsetDateTime) -> Result<bool> {
        self.inner.revoke_oidc_token(hash, now).await
    }
    async fn revoke_oidc_grant(&self, grant_id: Uuid, now: OffsetDateTime) -> Result<u64> {
        self.inner.revoke_oidc_grant(grant_id, now).await
    }
    async fn create_device_code(&self, d: &DeviceCode) -> Result<()> {
        self.inner.create_device_code(d).await
    }
    async fn device_code(&self, hash: &str) -> Result<Option<DeviceCode>> {
        self.inner.device_code(hash).await
    }
    async fn device_by_user_code(&self, user_code: &str) -> Result<Option<DeviceCode>> {
        self.inner.device_by_user_code(user_code).await
    }
    async fn decide_device_code(
        &self,
        hash: &str,
        decision: DeviceDecision,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.inner.decide_device_code(hash, decision, now).await
    }
    async fn poll_device_code(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        self.inner.poll_device_code(hash, now).await
    }
    async fn use_device_code(&self, hash: &str) -> Result<bool> {
        self.inner.use_device_code(hash).await
    }

    async fn retire_signing_key(
        &self,
        kid: &str,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool> {
        let ev = event_of(&audit);
        let r = self.inner.retire_signing_key(kid, at, audit).await;
        self.applied(ev, r)
    }
}
