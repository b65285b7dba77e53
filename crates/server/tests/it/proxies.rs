//! Real proxies for the forward-auth tests: nginx and Caddy run the documented configuration
//! files of `docs/proxy/` (only the addresses are replaced), in front of an upstream that
//! reports the method, path and headers it received. Each proxy is stopped (by its process id)
//! when the test ends, also on failure.

use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const NGINX: &str = "/usr/sbin/nginx";
pub const CADDY: &str = "/usr/bin/caddy";

/// The host name the documented configurations protect.
pub const SITE_HOST: &str = "wiki.example.com";

pub fn docs_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/proxy")
        .join(name)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A proxy process, killed (by its id) when dropped.
pub struct Proxy {
    child: Child,
    dir: tempfile::TempDir,
    log: &'static str,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(self.log)).unwrap_or_default()
    }
}

fn available(bin: &str, what: &str) -> bool {
    if Path::new(bin).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{bin} is missing, but CI=true: the {what} forward-auth tests must run in CI");
    }
    eprintln!("note: {bin} is not installed; skipping the {what} forward-auth test");
    false
}

async fn wait_for(port: u16, p: Proxy) -> Proxy {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the proxy did not start: {}", p.log());
}

/// `docs/proxy/nginx.conf` with test addresses: trustplane at `tp` (`http://host:port`), the
/// application at `upstream`, listening on `port`; the protected host stays `wiki.example.com`
/// unless `host` names another.
pub fn nginx_site(port: u16, tp: &str, upstream: &str, host: &str) -> String {
    let text = std::fs::read_to_string(docs_file("nginx.conf")).unwrap();
    text.replace("127.0.0.1:8420", tp.trim_start_matches("http://"))
        .replace("127.0.0.1:9000", upstream.trim_start_matches("http://"))
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace(SITE_HOST, host)
}

pub async fn start_nginx(port: u16, tp: &str, upstream: &str, host: &str) -> Option<Proxy> {
    run_nginx(port, nginx_site(port, tp, upstream, host), &[]).await
}

/// A real nginx serving `site` (a server block) on `port`, with `files` (name, content)
/// written next to it first: the site names them as `{dir}/<name>`.
pub async fn run_nginx(port: u16, site: String, files: &[(&str, &str)]) -> Option<Proxy> {
    if !available(NGINX, "nginx") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    std::fs::write(
        dir.path().join("site.conf"),
        site.replace("{dir}", &d.to_string()),
    )
    .unwrap();
    // One process: a master killed by the test would leave its worker running.
    let main = format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/site.conf;
}}
"#
    );
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(
        wait_for(
            port,
            Proxy {
                child,
                dir,
                log: "error.log",
            },
        )
        .await,
    )
}

/// `docs/proxy/Caddyfile` with test addresses: the site is `http://<host>:<port>` (Caddy
/// matches the Host header without its port), admin endpoint and automatic https off.
pub fn caddyfile(port: u16, tp: &str, upstream: &str, host: &str) -> String {
    let text = std::fs::read_to_string(docs_file("Caddyfile")).unwrap();
    let site = text
        .replace("127.0.0.1:8420", tp.trim_start_matches("http://"))
        .replace("127.0.0.1:9000", upstream.trim_start_matches("http://"))
        .replace(
            &format!("{SITE_HOST} {{"),
            &format!("http://{host}:{port} {{"),
        );
    format!("{{\n\tadmin off\n\tauto_https off\n}}\n{site}")
}

pub async fn start_caddy(port: u16, tp: &str, upstream: &str, host: &str) -> Option<Proxy> {
    if !available(CADDY, "Caddy") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Caddyfile");
    std::fs::write(&conf, caddyfile(port, tp, upstream, host)).unwrap();
    let log = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
    let child = Command::new(CADDY)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Some(
        wait_for(
            port,
            Proxy {
                child,
                dir,
                log: "caddy.log",
            },
        )
        .await,
    )
}

/// An upstream that answers with what it received, as JSON: `method`, `path` (path and query
/// exactly as requested) and every `x-trustplane-*` header (repeated headers joined with `|`).
pub async fn echo_upstream() -> String {
    let app =
        axum::Router::new().fallback(|method: Method, uri: Uri, headers: HeaderMap| async move {
            let mut m = serde_json::Map::new();
            for k in headers.keys() {
                if k.as_str().starts_with("x-trustplane-") {
                    let all: Vec<&str> = headers
                        .get_all(k)
                        .iter()
                        .map(|v| v.to_str().unwrap_or_default())
                        .collect();
                    m.insert(k.as_str().to_string(), Value::String(all.join("|")));
                }
            }
            m.insert("method".into(), Value::String(method.to_string()));
            m.insert(
                "path".into(),
                Value::String(
                    uri.path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                ),
            );
            axum::Json(Value::Object(m))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}
