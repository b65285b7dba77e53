//! Device trust (issue 15): what a registered device is, and how its compliance is judged.
//! Pure: the server stores devices and passes `now`; nothing here reads a clock or does I/O.

pub mod compliance;
pub mod profile;
pub mod record;

pub use compliance::{
    ComplianceInput, ComplianceOutcome, CompliancePolicy, ComplianceReason, ComplianceState,
    NoPolicyDefault, Posture,
};
pub use profile::{
    ConfigurationProfile, DesiredSetting, Observed, SettingKind, SettingResult, SettingStatus,
    evaluate_setting,
};
pub use record::{Device, DeviceState, MachineRisk, fingerprint_of, normalise_fingerprint};
