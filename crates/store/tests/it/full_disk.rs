//! Storage faults on a real small file system (a tmpfs mounted for the test; as root). The
//! database fills the disk: every write the store confirmed must survive, every write it
//! refused must be absent, and once space returns the store must write again by itself
//! (no "database is locked", no connection stuck inside a failed transaction).
//!
//! SQLite only: PostgreSQL's files are on the server's disk, not under the test's control.
//! Without permission to mount, the tests are skipped with a note.

use std::io::Write;
use std::path::{Path, PathBuf};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::identity::Group;
use trustplane_store::{SqlStore, Store};

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("note: cannot mount a tmpfs here (not root?); skipping the full-disk test");
            return None;
        }
        Some(Tmpfs { dir })
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Fills the file system with `filler` files until it refuses to write.
    pub fn fill(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for (i, chunk) in [1 << 16, 4096, 512].into_iter().enumerate() {
            let p = self.path().join(format!("filler{i}"));
            let mut f = std::fs::File::create(&p).unwrap();
            let buf = vec![0x5au8; chunk];
            while f.write_all(&buf).is_ok() {}
            let _ = f.sync_all();
            files.push(p);
        }
        files
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn group(name: &str) -> Group {
    Group {
        id: uuid::Uuid::now_v7(),
        name: name.into(),
        description: "x".repeat(3000),
        created_at: time::OffsetDateTime::now_utc(),
    }
}

fn draft(g: &Group) -> AuditDraft {
    AuditDraft::new(
        &Actor::cli("test"),
        "group.create",
        "group",
        Some(g.id.to_string()),
    )
    .after(&serde_json::json!({ "name": g.name, "description": g.description }))
}

async fn names(s: &SqlStore) -> Vec<String> {
    let mut v: Vec<String> = s
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirmed_writes_survive_a_full_disk_and_writes_resume_when_space_returns() {
    let Some(fs) = Tmpfs::mount("6m") else { return };
    let url = format!("sqlite://{}", fs.path().join("t.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store
        .create_group(&group("before"), draft(&group("before")))
        .await
        .unwrap();
    let fillers = fs.fill();

    // Writes on a full disk: each either commits or fails; none is confirmed and then lost.
    let (mut confirmed, mut refused) = (vec!["before".to_string()], Vec::new());
    for i in 0..80 {
        let g = group(&format!("full-{i:03}"));
        match store.create_group(&g, draft(&g)).await {
            Ok(()) => confirmed.push(g.name),
            Err(e) => {
                assert_eq!(e.code(), "database_unavailable", "{e}");
                refused.push(g.name);
            }
        }
    }
    assert!(!refused.is_empty(), "the disk never filled up");
    assert!(
        store.probe_write().await.is_err(),
        "the write probe passed on a full disk"
    );

    // Space returns: the same store writes again at once, and reads agree with each other.
    for f in &fillers {
        std::fs::remove_file(f).unwrap();
    }
    for i in 0..20 {
        let g = group(&format!("after-{i:03}"));
        store
            .create_group(&g, draft(&g))
            .await
            .unwrap_or_else(|e| panic!("write {i} after space returned: {e}"));
        confirmed.push(g.name);
    }
    store.probe_write().await.unwrap();
    confirmed.sort();
    for _ in 0..10 {
        assert_eq!(names(&store).await, confirmed, "reads disagree");
    }
    store.pool().close().await;

    // After a restart: everything confirmed is there, nothing refused, the chain is intact.
    let store = SqlStore::connect(&url).await.unwrap();
    let stored = names(&store).await;
    assert_eq!(stored, confirmed);
    for r in &refused {
        assert!(!stored.contains(r), "{r} was refused but is stored");
    }
    assert!(store.verify_audit().await.unwrap().is_ok());
    store.pool().close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private_even_in_an_existing_open_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("custom.db");
    let store = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.probe_write().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(m) = std::fs::metadata(&p) {
            assert_eq!(
                m.permissions().mode() & 0o077,
                0,
                "{} is not private",
                p.display()
            );
        }
    }
    store.pool().close().await;
    // An existing world-readable database file is made private when opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0);
    store.pool().close().await;
}
