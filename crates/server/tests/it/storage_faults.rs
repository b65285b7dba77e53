//! A full disk under the running server (the database on a small tmpfs; as root): the API
//! never confirms a write that did not commit, `/readyz` reports the database unwritable while
//! the disk is full, and service resumes by itself when space returns. Skipped with a note
//! where a tmpfs cannot be mounted.

use crate::harness::*;
use serde_json::{Value, json};
use std::io::Write;
use std::time::{Duration, Instant};
use trustplane_core::identity::Role;
use trustplane_store::prelude::*;

struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
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
        Some(Tmpfs(dir))
    }
    fn fill(&self) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for (i, chunk) in [1usize << 16, 4096, 512].into_iter().enumerate() {
            let p = self.0.path().join(format!("filler{i}"));
            let mut f = std::fs::File::create(&p).unwrap();
            let buf = vec![0x5au8; chunk];
            while f.write_all(&buf).is_ok() {}
            files.push(p);
        }
        files
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// Polls `/readyz` until it answers `status` (deadline 15 s).
async fn readyz_becomes(s: &TestServer, status: u16) -> Value {
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = c.get(s.url("/readyz")).send().await.unwrap();
        let got = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if got == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_never_loses_a_confirmed_write_and_readiness_tells() {
    let Some(fs) = Tmpfs::mount("6m") else { return };
    let url = format!("sqlite://{}", fs.0.path().join("t.db").display());
    let s = TestServer::with(Options {
        database_url: Some(url.clone()),
        ..Options::default()
    })
    .await;
    let api = admin_api(&s, Role::GlobalAdministrator).await;
    readyz_becomes(&s, 200).await;
    let fillers = fs.fill();

    let (mut created, mut refused) = (Vec::new(), 0);
    for i in 0..60 {
        let name = format!("full-{i:03}");
        let group = json!({"name": name, "description": "d".repeat(900)});
        let r = api.post("/api/v1/groups", &group).await;
        match r.status().as_u16() {
            201 => created.push(name),
            503 => {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["error"], "database_unavailable", "{v}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.text().await.unwrap()),
        }
    }
    assert!(refused > 0, "the disk never filled up");
    let body = readyz_becomes(&s, 503).await;
    assert_eq!(body["error"], "database_unwritable", "{body}");

    for f in &fillers {
        std::fs::remove_file(f).unwrap();
    }
    readyz_becomes(&s, 200).await;
    for i in 0..10 {
        let name = format!("after-{i:03}");
        let group = json!({"name": name, "description": ""});
        let r = api.post("/api/v1/groups", &group).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        created.push(name);
    }
    let listed = |v: Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    created.sort();
    for _ in 0..5 {
        let v = api.value("/api/v1/groups").await;
        assert_eq!(
            listed(v),
            created,
            "a confirmed group is missing, or reads disagree"
        );
    }
    s.stop().await;
    // After a restart, every confirmed group is still there.
    let store = trustplane_store::open(&url).await.unwrap();
    let mut stored: Vec<String> = store
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    stored.sort();
    assert_eq!(stored, created);
    store.pool().close().await;
}
