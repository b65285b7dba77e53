//! The agent's state directory: the device key (PKCS#8 PEM, created mode 0600 and refused
//! when others may read it), the certificate, the CA, and `state.json` (server and device id).
//! Files are replaced atomically (write, fsync, rename).

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registration {
    pub server: String,
    pub device_id: String,
    /// Unix seconds.
    pub not_after: i64,
    /// Hash of the last posture report sent (reports are also sent when it changes).
    #[serde(default)]
    pub last_report_hash: Option<String>,
}

pub struct StateDir(pub PathBuf);

impl StateDir {
    pub fn key(&self) -> PathBuf {
        self.0.join("device.key")
    }
    pub fn cert(&self) -> PathBuf {
        self.0.join("device.pem")
    }
    pub fn ca(&self) -> PathBuf {
        self.0.join("ca.pem")
    }
    fn registration_file(&self) -> PathBuf {
        self.0.join("state.json")
    }

    /// Creates the directory (mode 0700).
    pub fn create(&self) -> Result<(), String> {
        std::fs::create_dir_all(&self.0).map_err(|e| {
            format!(
                "cannot create the state directory {}: {e}",
                self.0.display()
            )
        })?;
        set_mode(&self.0, 0o700)
    }

    pub fn registration(&self) -> Result<Option<Registration>, String> {
        match std::fs::read(self.registration_file()) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("{} is unreadable: {e}", self.registration_file().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!(
                "cannot read {}: {e}",
                self.registration_file().display()
            )),
        }
    }

    pub fn save_registration(&self, r: &Registration) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(r).map_err(|e| e.to_string())?;
        write_atomic(&self.registration_file(), &json, 0o600)
    }

    /// The device key; refused when group or others may read or write it.
    pub fn load_key(&self) -> Result<String, String> {
        let path = self.key();
        let meta = std::fs::metadata(&path)
            .map_err(|e| format!("cannot read the device key {}: {e}", path.display()))?;
        let mode = file_mode(&meta);
        if mode & 0o077 != 0 {
            return Err(format!(
                "the device key {} is accessible to others (mode {:o}); it must be 0600: \
                 chmod 600 it, or unregister and register again if it may have been copied",
                path.display(),
                mode & 0o777
            ));
        }
        std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the device key {}: {e}", path.display()))
    }

    /// Writes a new key file (mode 0600 from its creation).
    pub fn save_key(&self, pem: &str) -> Result<(), String> {
        write_atomic(&self.key(), pem.as_bytes(), 0o600)
    }

    pub fn remove_all(&self) -> Result<(), String> {
        for p in [
            self.key(),
            self.cert(),
            self.ca(),
            self.registration_file(),
            self.0.join("profiles.json"),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove {}: {e}", p.display())),
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode()
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> u32 {
    0o600
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), String> {
    Ok(())
}

/// Writes `bytes` to a temporary file created with `mode`, fsyncs it, renames it over `path`
/// and fsyncs the directory: a crash leaves the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    let _ = mode;
    let mut f = o
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_private_and_a_readable_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir(dir.path().join("state"));
        s.create().unwrap();
        s.save_key("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
            .unwrap();
        assert_eq!(
            file_mode(&std::fs::metadata(s.key()).unwrap()) & 0o777,
            0o600
        );
        assert!(s.load_key().unwrap().contains("PRIVATE KEY"));
        set_mode(&s.key(), 0o644).unwrap();
        let e = s.load_key().unwrap_err();
        assert!(e.contains("accessible to others (mode 644)"), "{e}");
    }

    #[test]
    fn registration_round_trips_and_is_absent_before_registering() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir(dir.path().to_path_buf());
        assert_eq!(s.registration().unwrap(), None);
        let r = Registration {
            server: "https://tp.example".into(),
            device_id: "0192".into(),
            not_after: 1,
            last_report_hash: None,
        };
        s.save_registration(&r).unwrap();
        assert_eq!(s.registration().unwrap(), Some(r));
        s.remove_all().unwrap();
        assert_eq!(s.registration().unwrap(), None);
    }
}
