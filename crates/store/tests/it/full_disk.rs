//! Storage faults on a real small file system (a tmpfs mounted for the test; as root). The
//! database fills the disk: every write the store confirmed must survive, every write it
//! refused must be absent, and once space returns the store must write again by itself
//! (no "database is locked", no connection stuck inside a failed transaction).
//!
//! SQLite's files go on the tmpfs directly; for PostgreSQL the test starts a server of its own
//! (the machine's initdb and pg_ctl, as the `postgres` OS user) with its data directory there.
//! Without permission to mount, the tests are skipped with a note.

use std::io::Write;
use std::path::{Path, PathBuf};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::identity::Group;
use trustplane_store::prelude::*;
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

/// A PostgreSQL server of its own whose data directory is on a small tmpfs (initdb and
/// pg_ctl of the machine's PostgreSQL, run as the `postgres` OS user); stopped on drop.
struct DiskBoundPostgres {
    fs: Tmpfs,
    bin: PathBuf,
    port: u16,
}

impl DiskBoundPostgres {
    fn start(size: &str) -> Option<DiskBoundPostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()?;
        let fs = Tmpfs::mount(size)?;
        let chown = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(fs.path())
            .status()
            .is_ok_and(|s| s.success());
        if !chown {
            eprintln!("note: no `postgres` OS user; skipping the PostgreSQL full-disk test");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = DiskBoundPostgres { fs, bin, port };
        pg.run(&format!(
            "{} -D {} -A trust -U postgres -E UTF8 --no-sync >/dev/null",
            pg.bin.join("initdb").display(),
            pg.data().display()
        ));
        pg.pg_ctl("start");
        Some(pg)
    }
    fn data(&self) -> PathBuf {
        self.fs.path().join("data")
    }
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
    fn run(&self, cmd: &str) {
        let ok = std::process::Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", cmd])
            .status()
            .unwrap()
            .success();
        assert!(ok, "`{cmd}` failed");
    }
    fn pg_ctl(&self, what: &str) {
        self.run(&format!(
            "{} -D {} -w -l {}/log -o '-p {} -c listen_addresses=127.0.0.1 -k {}' {what} >/dev/null",
            self.bin.join("pg_ctl").display(),
            self.data().display(),
            self.fs.path().display(),
            self.port,
            self.fs.path().display(),
        ));
    }
}

impl Drop for DiskBoundPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("su")
            .args([
                "postgres",
                "-s",
                "/bin/sh",
                "-c",
                &format!(
                    "{} -D {} -m immediate stop >/dev/null 2>&1",
                    self.bin.join("pg_ctl").display(),
                    self.data().display()
                ),
            ])
            .status();
    }
}

/// The same attack on PostgreSQL: its data directory fills up. Every write the store
/// confirmed survives a restart of the server; a write that failed is reported as the
/// database being unavailable (a failed COMMIT on PostgreSQL may still have committed when the
/// answer was lost, so a refused write may be present, never a confirmed one absent); and the
/// same store writes again by itself once space returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_confirmed_writes_survive_a_full_disk_and_writes_resume() {
    let Some(pg) = DiskBoundPostgres::start("160m") else {
        return;
    };
    let store = SqlStore::connect(&pg.url()).await.unwrap();
    store
        .create_group(&group("before"), draft(&group("before")))
        .await
        .unwrap();
    let fillers = pg.fs.fill();

    let (mut confirmed, mut refused) = (vec!["before".to_string()], Vec::new());
    for i in 0..200 {
        let g = group(&format!("full-{i:03}"));
        match store.create_group(&g, draft(&g)).await {
            Ok(()) => confirmed.push(g.name),
            Err(e) => {
                assert_eq!(e.code(), "database_unavailable", "{e}");
                refused.push(g.name);
            }
        }
    }
    eprintln!(
        "full disk: {} writes confirmed, {} refused",
        confirmed.len(),
        refused.len()
    );
    assert!(!refused.is_empty(), "the disk never filled up");
    assert!(
        store.probe_write().await.is_err(),
        "the write probe passed on a full disk"
    );

    for f in &fillers {
        std::fs::remove_file(f).unwrap();
    }
    // PostgreSQL may have stopped on a WAL write that failed (PANIC, then crash recovery
    // once space is back): poll, with a deadline, until the same store writes again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match store.probe_write().await {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store never wrote again after space returned: {e}"),
        }
    }
    for i in 0..20 {
        let g = group(&format!("after-{i:03}"));
        store
            .create_group(&g, draft(&g))
            .await
            .unwrap_or_else(|e| panic!("write {i} after space returned: {e}"));
        confirmed.push(g.name);
    }
    let before_restart = names(&store).await;
    for c in &confirmed {
        assert!(
            before_restart.contains(c),
            "{c} was confirmed but is missing"
        );
    }
    store.pool().close().await;

    // After a restart of PostgreSQL: everything confirmed is there, the chain is intact.
    pg.pg_ctl("restart");
    let store = SqlStore::connect(&pg.url()).await.unwrap();
    let stored = names(&store).await;
    for c in &confirmed {
        assert!(
            stored.contains(c),
            "{c} was confirmed but is lost after a restart"
        );
    }
    assert_eq!(stored, before_restart, "reads changed across a restart");
    assert!(store.verify_audit().await.unwrap().is_ok());
    store.pool().close().await;
}
