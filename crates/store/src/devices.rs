//! Registered devices (issue 15): the device record, looked up by id or by the fingerprint of
//! the certificate a proxy verified, listed with keyset paging for large fleets.

use crate::changes::Change;
use crate::rows::{from_ms, ms, uuid};
use crate::sql::audited_change;
use crate::sql::{
    SqlStore, append_in, commit_if_changed, conflict, db, has_nul, like_pattern, safe,
};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::access::{DevicePlatform, TrustType};
use trustplane_core::audit::AuditDraft;
use trustplane_core::device::{ComplianceState, Device, DeviceState, MachineRisk};
use uuid::Uuid;

/// Filters and a page of the device list (newest first; `before` is the last id of the
/// previous page).
#[derive(Debug, Clone, Default)]
pub struct DeviceQuery {
    pub owner_id: Option<Uuid>,
    pub state: Option<DeviceState>,
    pub platform: Option<DevicePlatform>,
    /// `compliant`, `in_grace` or `non_compliant`.
    pub compliance: Option<String>,
    /// Case-insensitive substring of the display name or host name.
    pub search: Option<String>,
    /// Not seen since (stale devices).
    pub last_seen_before: Option<OffsetDateTime>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// The installation's device certificate authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthority {
    pub certificate_pem: String,
    /// The private key (PKCS#8 DER), sealed with a key derived from the master key.
    pub sealed_key: String,
    pub created_at: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

const COLS: &str = "id, owner_id, display_name, platform, os_version, hostname, manufacturer, \
    model, trust_type, state, cert_serial, cert_fingerprint, cert_not_after, certificate_pem, \
    first_seen, last_seen, last_report_at, compliance_json, machine_risk";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    owner_id: String,
    display_name: String,
    platform: String,
    os_version: Option<String>,
    hostname: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    trust_type: String,
    state: String,
    cert_serial: String,
    cert_fingerprint: String,
    cert_not_after: i64,
    certificate_pem: String,
    first_seen: i64,
    last_seen: i64,
    last_report_at: Option<i64>,
    compliance_json: String,
    machine_risk: String,
}

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Corrupt(format!("device {what} `{v}`"))
}

impl TryFrom<Row> for Device {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Device> {
        let platform = DevicePlatform::ALL
            .into_iter()
            .find(|p| p.as_str() == r.platform)
            .ok_or_else(|| corrupt("platform", &r.platform))?;
        let trust_type = match r.trust_type.as_str() {
            "registered" => TrustType::Registered,
            "managed" => TrustType::Managed,
            other => return Err(corrupt("trust type", other)),
        };
        Ok(Device {
            id: uuid(&r.id)?,
            owner_id: uuid(&r.owner_id)?,
            display_name: r.display_name,
            platform,
            os_version: r.os_version,
            hostname: r.hostname,
            manufacturer: r.manufacturer,
            model: r.model,
            trust_type,
            state: DeviceState::parse(&r.state).ok_or_else(|| corrupt("state", &r.state))?,
            cert_serial: r.cert_serial,
            cert_fingerprint: r.cert_fingerprint,
            cert_not_after: from_ms(r.cert_not_after)?,
            certificate_pem: r.certificate_pem,
            first_seen: from_ms(r.first_seen)?,
            last_seen: from_ms(r.last_seen)?,
            last_report_at: r.last_report_at.map(from_ms).transpose()?,
            compliance: serde_json::from_str(&r.compliance_json)
                .map_err(|_| corrupt("compliance", &r.compliance_json))?,
            machine_risk: MachineRisk::parse(&r.machine_risk)
                .ok_or_else(|| corrupt("machine risk", &r.machine_risk))?,
        })
    }
}

/// A compliance state name from a filter; anything else is refused.
fn compliance_name(c: &str) -> Result<&str> {
    match c {
        "compliant" | "in_grace" | "non_compliant" => Ok(c),
        _ => Err(StoreError::Database(format!(
            "unknown compliance state `{c}` (compliant, in_grace or non_compliant)"
        ))),
    }
}

fn compliance_json(c: &ComplianceState) -> Result<String> {
    serde_json::to_string(c).map_err(|e| StoreError::Database(e.to_string()))
}

impl SqlStore {
    async fn one_device(&self, column: &str, value: &str) -> Result<Option<Device>> {
        if has_nul(value) {
            return Ok(None);
        }
        let row: Option<Row> = sqlx::query_as(safe(format!(
            "SELECT {COLS} FROM devices WHERE {column} = $1"
        )))
        .bind(value)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(Device::try_from).transpose()
    }
}

#[async_trait::async_trait]
impl crate::DeviceStore for SqlStore {
    async fn create_device(&self, d: &Device, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(safe(format!(
            "INSERT INTO devices ({COLS}) VALUES \
             ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)"
        )))
        .bind(d.id.to_string())
        .bind(d.owner_id.to_string())
        .bind(&d.display_name)
        .bind(d.platform.as_str())
        .bind(d.os_version.as_deref())
        .bind(d.hostname.as_deref())
        .bind(d.manufacturer.as_deref())
        .bind(d.model.as_deref())
        .bind(d.trust_type.as_str())
        .bind(d.state.as_str())
        .bind(&d.cert_serial)
        .bind(&d.cert_fingerprint)
        .bind(ms(d.cert_not_after))
        .bind(&d.certificate_pem)
        .bind(ms(d.first_seen))
        .bind(ms(d.last_seen))
        .bind(d.last_report_at.map(ms))
        .bind(compliance_json(&d.compliance)?)
        .bind(d.machine_risk.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                StoreError::NotFound("user")
            }
            _ => conflict("a device with this certificate")(e),
        })?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn get_device(&self, id: Uuid) -> Result<Option<Device>> {
        self.one_device("id", &id.to_string()).await
    }

    async fn device_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Device>> {
        self.one_device("cert_fingerprint", fingerprint).await
    }

    async fn list_devices(&self, q: &DeviceQuery) -> Result<Vec<Device>> {
        let mut sql = format!("SELECT {COLS} FROM devices WHERE 1=1");
        let mut binds: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        let mut push = |sql: &mut String, cond: &str, v: String| {
            binds.push(v);
            sql.push_str(&cond.replace('?', &format!("${}", binds.len())));
        };
        if let Some(o) = q.owner_id {
            push(&mut sql, " AND owner_id = ?", o.to_string());
        }
        if let Some(s) = q.state {
            push(&mut sql, " AND state = ?", s.as_str().to_string());
        }
        if let Some(p) = q.platform {
            push(&mut sql, " AND platform = ?", p.as_str().to_string());
        }
        if let Some(c) = &q.compliance {
            // The state is the JSON's first field: `{"state":"compliant"…`.
            push(
                &mut sql,
                " AND compliance_json LIKE ? ESCAPE '\\'",
                format!(
                    "{{\"state\":\"{}\"%",
                    compliance_name(c)?.replace('_', "\\_")
                ),
            );
        }
        if let Some(s) = &q.search {
            let pat = like_pattern(&s.to_lowercase());
            push(
                &mut sql,
                " AND (lower(display_name) LIKE ? ESCAPE '\\'",
                pat.clone(),
            );
            push(&mut sql, " OR lower(hostname) LIKE ? ESCAPE '\\')", pat);
        }
        if let Some(b) = q.before {
            push(&mut sql, " AND id < ?", b.to_string());
        }
        let n = binds.len();
        if let Some(t) = q.last_seen_before {
            ints.push(ms(t));
            sql.push_str(&format!(" AND last_seen < ${}", n + 1));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            q.limit.clamp(1, 1000)
        ));
        let mut query = sqlx::query_as::<_, Row>(safe(sql));
        for b in &binds {
            query = query.bind(b);
        }
        for i in &ints {
            query = query.bind(*i);
        }
        let rows = query.fetch_all(self.pool()).await.map_err(db)?;
        rows.into_iter().map(Device::try_from).collect()
    }

    async fn set_device_state(
        &self,
        id: Uuid,
        state: DeviceState,
        audit: AuditDraft,
    ) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query("UPDATE devices SET state = $1 WHERE id = $2 AND state <> $1")
                .bind(state.as_str())
                .bind(id.to_string())
        )
    }

    async fn delete_device(&self, id: Uuid, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM devices WHERE id = $1").bind(id.to_string())
        )
    }

    async fn touch_device(&self, id: Uuid, at: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE devices SET last_seen = $1 WHERE id = $2 AND last_seen < $1")
            .bind(ms(at))
            .bind(id.to_string())
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn renew_device_certificate(
        &self,
        id: Uuid,
        renewed: &Device,
        audit: AuditDraft,
    ) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query(
                "UPDATE devices SET cert_serial = $1, cert_fingerprint = $2, cert_not_after = $3, \
                 certificate_pem = $4 WHERE id = $5 AND state = 'enabled'"
            )
            .bind(&renewed.cert_serial)
            .bind(&renewed.cert_fingerprint)
            .bind(ms(renewed.cert_not_after))
            .bind(&renewed.certificate_pem)
            .bind(id.to_string())
        )
    }

    async fn set_device_trust(
        &self,
        id: Uuid,
        trust: TrustType,
        audit: AuditDraft,
    ) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query(
                "UPDATE devices SET trust_type = $1 WHERE id = $2 AND trust_type <> $1 \
                 AND state = 'enabled'"
            )
            .bind(trust.as_str())
            .bind(id.to_string())
        )
    }

    async fn device_posture(&self, id: Uuid) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT posture_json FROM devices WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(self.pool())
                .await
                .map_err(db)?;
        Ok(row.and_then(|(p,)| p))
    }

    async fn device_authority(&self) -> Result<Option<DeviceAuthority>> {
        let row: Option<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT certificate_pem, sealed_key, created_at, not_after FROM device_authorities \
             WHERE id = 'current'",
        )
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|(certificate_pem, sealed_key, c, n)| {
            Ok(DeviceAuthority {
                certificate_pem,
                sealed_key,
                created_at: from_ms(c)?,
                not_after: from_ms(n)?,
            })
        })
        .transpose()
    }

    async fn init_device_authority(
        &self,
        ca: &DeviceAuthority,
        audit: AuditDraft,
    ) -> Result<DeviceAuthority> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "INSERT INTO device_authorities (id, certificate_pem, sealed_key, created_at, \
             not_after) VALUES ('current', $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ca.certificate_pem)
        .bind(&ca.sealed_key)
        .bind(ms(ca.created_at))
        .bind(ms(ca.not_after))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        commit_if_changed(self.audit_keying(), tx, n, &audit).await?;
        self.device_authority()
            .await?
            .ok_or(StoreError::NotFound("device authority"))
    }

    async fn set_device_compliance(
        &self,
        id: Uuid,
        compliance: &ComplianceState,
        machine_risk: MachineRisk,
        report: Option<(OffsetDateTime, &str)>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE devices SET compliance_json = $1, machine_risk = $2, \
             last_report_at = COALESCE($3, last_report_at), \
             posture_json = COALESCE($4, posture_json) WHERE id = $5",
        )
        .bind(compliance_json(compliance)?)
        .bind(machine_risk.as_str())
        .bind(report.map(|(at, _)| ms(at)))
        .bind(report.map(|(_, p)| p))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // Decisions that read this device are re-evaluated everywhere.
        tx.announce(Change::Device(id)).await?;
        tx.commit().await?;
        Ok(true)
    }
}
