//! Files trustplane writes outside the database: the data directory, key files. Every one is
//! private to the service user (directories 0700, files 0600) and written atomically, so that
//! a crash or a full disk never leaves a half-written key behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically and without replacing an existing file: a temporary
/// file in the same directory (mode 0600) is written and fsynced, then hard-linked to `path`
/// (which fails if `path` already exists, so two processes starting together never overwrite
/// each other's key), then the directory is fsynced. On any failure nothing is left at
/// `path` and the temporary file is removed.
///
/// Returns `Ok(false)` when `path` already existed (nothing written).
pub fn write_new_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        crate::platform::secrets::random_token()
    ));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        let created = match std::fs::hard_link(&tmp, path) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(e),
        };
        sync_dir(&dir)?;
        Ok(created)
    })();
    // The temporary name is removed whatever happened (the link, if made, keeps the data).
    let _ = std::fs::remove_file(&tmp);
    result
}

/// fsync of a directory, so that a rename or link in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// How a key file's permissions look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileAccess {
    /// Only the owner can read or write it.
    Private,
    /// Group or others may read it (warned: e.g. a Kubernetes secret mounted with its default
    /// mode 0644; the key may already have been read).
    ReadableByOthers,
    /// Group or others may write it: someone else could replace the key. Refused.
    WritableByOthers,
}

pub fn key_file_access(path: &Path) -> std::io::Result<KeyFileAccess> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        Ok(if mode & 0o022 != 0 {
            KeyFileAccess::WritableByOthers
        } else if mode & 0o044 != 0 {
            KeyFileAccess::ReadableByOthers
        } else {
            KeyFileAccess::Private
        })
    }
    #[cfg(not(unix))]
    {
        let _ = std::fs::metadata(path)?;
        Ok(KeyFileAccess::Private)
    }
}

/// Makes `dir` private (0700): created so if missing, tightened (with a warning) if it exists
/// and group or others can enter it. A directory we cannot tighten (owned by someone else) is
/// left as it is, with a warning.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                Ok(()) => tracing::warn!(
                    dir = %dir.display(),
                    was = format!("{:o}", mode & 0o777),
                    "the data directory was accessible to other users; it is now 0700"
                ),
                Err(e) => tracing::warn!(
                    dir = %dir.display(),
                    mode = format!("{:o}", mode & 0o777),
                    error = %e,
                    "the data directory is accessible to other users and cannot be made private"
                ),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_never_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        assert!(write_new_atomic(&p, b"one").unwrap());
        assert!(!write_new_atomic(&p, b"two").unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn existing_open_data_directory_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&d).unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
