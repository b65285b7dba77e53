//! Registered devices and the device certificate authority.

use crate::{DeviceAuthority, DeviceQuery, Result};
use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use uuid::Uuid;

/// Registered devices (see `src/devices.rs`).
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a device; `Conflict` when its certificate fingerprint is known,
    /// `NotFound("user")` when the owner does not exist.
    async fn create_device(
        &self,
        device: &trustplane_core::device::Device,
        audit: AuditDraft,
    ) -> Result<()>;
    async fn get_device(&self, id: Uuid) -> Result<Option<trustplane_core::device::Device>>;
    /// The device whose current certificate has this fingerprint (lowercase hex SHA-256).
    async fn device_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<trustplane_core::device::Device>>;
    async fn list_devices(&self, q: &DeviceQuery) -> Result<Vec<trustplane_core::device::Device>>;
    /// Enables or disables; false when it was already in that state or does not exist.
    async fn set_device_state(
        &self,
        id: Uuid,
        state: trustplane_core::device::DeviceState,
        audit: AuditDraft,
    ) -> Result<bool>;
    async fn delete_device(&self, id: Uuid, audit: AuditDraft) -> Result<bool>;
    /// Records that the device was seen (never moves backwards).
    async fn touch_device(&self, id: Uuid, at: OffsetDateTime) -> Result<()>;
    /// Replaces an enabled device's certificate (renewal); false when disabled or unknown.
    async fn renew_device_certificate(
        &self,
        id: Uuid,
        renewed: &trustplane_core::device::Device,
        audit: AuditDraft,
    ) -> Result<bool>;
    /// Marks an enabled device registered or managed (enrollment); false when unchanged.
    async fn set_device_trust(
        &self,
        id: Uuid,
        trust: trustplane_core::access::TrustType,
        audit: AuditDraft,
    ) -> Result<bool>;
    /// The installation's device CA, if created.
    async fn device_authority(&self) -> Result<Option<DeviceAuthority>>;
    /// Stores `ca` unless one exists (several instances may start at once) and returns the
    /// one that is stored.
    async fn init_device_authority(
        &self,
        ca: &DeviceAuthority,
        audit: AuditDraft,
    ) -> Result<DeviceAuthority>;
    /// Records the server's judgement of the device (with the report it judged, when one
    /// came: its time and the posture as JSON); announces a device change.
    async fn set_device_compliance(
        &self,
        id: Uuid,
        compliance: &trustplane_core::device::ComplianceState,
        machine_risk: trustplane_core::device::MachineRisk,
        report: Option<(OffsetDateTime, &str)>,
    ) -> Result<bool>;
    /// The latest posture report of a device as the server stored it (JSON).
    async fn device_posture(&self, id: Uuid) -> Result<Option<String>>;
}
