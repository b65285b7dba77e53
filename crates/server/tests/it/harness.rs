//! Starts a real trustplane server on a random port for each test.

use reqwest::Client;

use std::path::PathBuf;
use tempfile::TempDir;
use tokio::sync::oneshot;
use trustplane_core::audit::Actor;
use trustplane_core::credential::HashParams;
use trustplane_core::identity::{Role, User};
use trustplane_server::ops::{NewUser, Ops};
use trustplane_server::platform::config::Config;
use trustplane_server::state::AppState;

pub const PASSWORD: &str = "correct horse battery staple";

/// Cheapest Argon2id parameters our floor accepts, so tests stay fast.
pub fn fast_hash() -> HashParams {
    HashParams {
        memory_kib: 8192,
        iterations: 5,
        parallelism: 1,
    }
}

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub bootstrap_url: Option<String>,
    _dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

pub struct Options {
    pub database_url: Option<String>,
    pub failures_per_account: u32,
    pub per_ip: u32,
    /// Seconds between looks for a new breached-password filter (0: no watcher).
    pub breach_reload_seconds: u64,
    pub password_checks_per_minute: u32,
    /// Outgoing email (default: the outbox under the data directory).
    pub email: trustplane_server::platform::config::EmailConfig,
    /// Any further configuration.
    pub configure: Option<fn(&mut Config)>,
    /// A manual clock the test drives (default: the system clock).
    pub clock: Option<std::sync::Arc<trustplane_server::platform::clock::ManualClock>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            database_url: None,
            failures_per_account: 1000,
            per_ip: 10_000,
            breach_reload_seconds: 0,
            password_checks_per_minute: 1000,
            email: Default::default(),
            configure: None,
            clock: None,
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with(Options::default()).await
    }

    pub async fn with(o: Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            data: PathBuf::from(dir.path()),
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: o.database_url,
            password_hash: fast_hash(),
            ..Config::default()
        };
        cfg.rate_limit.failures_per_account = o.failures_per_account;
        cfg.rate_limit.sign_in_per_ip_per_minute = o.per_ip;
        cfg.rate_limit.password_checks_per_minute = o.password_checks_per_minute;
        cfg.breached_filter_reload_seconds = o.breach_reload_seconds;
        cfg.email = o.email;
        // The test client and the proxies the tests start all reach trustplane over loopback:
        // they may ask /forward-auth (tests of the refusal clear this in `configure`).
        cfg.forward_auth.trusted_proxies =
            vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()];
        if let Some(f) = o.configure {
            f(&mut cfg);
        }
        let clock: std::sync::Arc<dyn trustplane_server::platform::clock::Clock> = match o.clock {
            Some(c) => c,
            None => std::sync::Arc::new(trustplane_server::platform::clock::SystemClock),
        };
        let server = trustplane_server::prepare_with_clock(cfg, clock)
            .await
            .unwrap();
        let addr = server.local_addr;
        let state = server.state.clone();
        let bootstrap_url = server.bootstrap_url.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        TestServer {
            base: format!("http://{addr}"),
            state,
            bootstrap_url,
            _dir: dir,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The data directory of this server.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The messages in the outbox sent to `to`, oldest first (waits up to 5 s for at least
    /// `at_least` of them: notifications are sent in the background).
    pub async fn outbox(&self, to: &str, at_least: usize) -> Vec<String> {
        read_mail_dir(&self.data_dir().join("outbox"), to, at_least).await
    }

    pub fn ops(&self) -> Ops {
        self.state.ops()
    }

    pub async fn user(&self, name: &str, roles: &[Role]) -> User {
        self.ops()
            .create_user(
                &Actor::system(),
                NewUser {
                    username: name.into(),
                    display_name: Some(format!("{name} Example")),
                    email: Some(format!("{name}@example.com")),
                    password: Some(PASSWORD.into()),
                    roles: roles.to_vec(),
                },
            )
            .await
            .unwrap()
    }

    /// A new group `name` with the users `members`.
    pub async fn group(
        &self,
        name: &str,
        members: &[uuid::Uuid],
    ) -> trustplane_core::identity::Group {
        let g = self
            .ops()
            .create_group(&Actor::system(), name, "")
            .await
            .unwrap();
        for m in members {
            self.ops()
                .add_member(&Actor::system(), g.id, *m)
                .await
                .unwrap();
        }
        g
    }

    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops the server and hands back its data directory, so that the test can still read
    /// the database (dropping the directory deletes it).
    pub async fn stop_keeping_data(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self._dir, dir)
    }
}

pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Extracts the CSRF token from a page's form.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

pub async fn csrf(c: &Client, s: &TestServer, path: &str) -> String {
    let html = c
        .get(s.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csrf_of(&html)
}

/// Signs in through the login form; returns the response (303 on success).
pub async fn login(c: &Client, s: &TestServer, user: &str, pw: &str) -> reqwest::Response {
    login_request(c, s, user, pw).await.send().await.unwrap()
}

/// The login form's POST for `user` and `pw` (with a fresh CSRF token), to be sent.
pub async fn login_request(
    c: &Client,
    s: &TestServer,
    user: &str,
    pw: &str,
) -> reqwest::RequestBuilder {
    let token = csrf(c, s, "/login").await;
    c.post(s.url("/login")).form(&[
        ("csrf_token", token.as_str()),
        ("username", user),
        ("password", pw),
    ])
}

pub async fn signed_in(s: &TestServer, user: &str) -> Client {
    signed_in_as(s, user, PASSWORD).await
}

pub async fn signed_in_as(s: &TestServer, user: &str, pw: &str) -> Client {
    let c = client();
    let r = login(&c, s, user, pw).await;
    assert_eq!(r.status(), 303, "sign-in of {user} failed");
    c
}

/// Writes a breached-password filter holding these passwords (HIBP `HASH:COUNT` lines, sorted)
/// to `path`, the way `trustplane password import-breached` does.
pub fn write_breach_filter(path: &std::path::Path, passwords: &[&str]) {
    use sha1::Digest;
    let mut lines: Vec<String> = passwords
        .iter()
        .map(|p| format!("{}:3", hex::encode_upper(sha1::Sha1::digest(p.as_bytes()))))
        .collect();
    lines.sort();
    let text = lines.join("\r\n");
    trustplane_breach::import(text.as_bytes(), path, 1, |_| {}).unwrap();
}

/// Reads a JSON response body.
pub async fn json(r: reqwest::Response) -> serde_json::Value {
    r.json().await.unwrap()
}

/// The `.eml` files in `dir` addressed to `to`, oldest first, waiting up to 5 s for at least
/// `at_least` of them.
pub async fn read_mail_dir(dir: &std::path::Path, to: &str, at_least: usize) -> Vec<String> {
    let needle = format!("To: {to}");
    for _ in 0..50 {
        let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let Ok(text) = std::fs::read_to_string(e.path()) else {
                    continue;
                };
                // Undo quoted-printable soft line breaks so that tests can search the body.
                let text = text.replace("=\r\n", "").replace("=\n", "");
                if text.lines().any(|l| l.trim_end() == needle) {
                    let t = e.metadata().and_then(|m| m.modified()).unwrap();
                    found.push((t, text));
                }
            }
        }
        if found.len() >= at_least {
            found.sort_by_key(|(t, _)| *t);
            return found.into_iter().map(|(_, t)| t).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "fewer than {at_least} messages to {to} in {}",
        dir.display()
    );
}

/// Where a sign-in form's `303` finally sends the browser: a same-site path as is, or, for an
/// application on another host, the URL that `/login/return` moves on to (the page is fetched
/// and its refresh target read).
pub async fn return_target(c: &Client, s: &TestServer, r: &reqwest::Response) -> String {
    let location = r.headers()["location"].to_str().unwrap().to_string();
    if !location.starts_with("/login/return?") {
        return location;
    }
    let page = c.get(s.url(&location)).send().await.unwrap();
    assert_eq!(page.status(), 200, "{location}");
    let html = page.text().await.unwrap();
    let start = html.find("content=\"0;url=").expect("a refresh") + "content=\"0;url=".len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#61;", "=")
        .replace("&#43;", "+")
}

// ---- Requests as a browser makes them ----

/// The `location` header of a redirect.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The `Set-Cookie` value of a response for the cookie `name`.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&prefix))
        .map(String::from)
}

/// GETs `path` with the browser `c`.
pub async fn get(c: &Client, s: &TestServer, path: &str) -> reqwest::Response {
    c.get(s.url(path)).send().await.unwrap()
}

/// The HTML of `path` as the browser `c` sees it.
pub async fn page(c: &Client, s: &TestServer, path: &str) -> String {
    get(c, s, path).await.text().await.unwrap()
}

/// Posts a form to `path` with the CSRF token `token` in front of `form`.
pub async fn post_csrf(
    c: &Client,
    s: &TestServer,
    path: &str,
    token: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut f: Vec<(&str, &str)> = vec![("csrf_token", token)];
    f.extend_from_slice(form);
    c.post(s.url(path)).form(&f).send().await.unwrap()
}

/// Fetches `page` for its CSRF token, then posts `form` to `path` with it.
pub async fn post_form(
    c: &Client,
    s: &TestServer,
    page: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let token = csrf(c, s, page).await;
    post_csrf(c, s, path, &token, form).await
}

/// Signs in through the login form carrying `next`; returns the response.
pub async fn login_next(c: &Client, s: &TestServer, user: &str, next: &str) -> reqwest::Response {
    let token = csrf(c, s, "/login").await;
    c.post(s.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", user),
            ("password", PASSWORD),
            ("next", next),
        ])
        .send()
        .await
        .unwrap()
}

/// Who the browser `c` is signed in as (`/api/v1/me`).
pub async fn me(c: &Client, s: &TestServer) -> serde_json::Value {
    json(get(c, s, "/api/v1/me").await).await
}

/// Waits (up to 5 s) until the server's decision cache follows change events, so that
/// forward-auth decisions are cached from then on.
pub async fn wait_until_cae_is_live(s: &TestServer) {
    for _ in 0..100 {
        if s.state.cae.is_live() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(s.state.cae.is_live(), "the decision cache is in play");
}

// ---- The admin API with a bearer token ----

/// A fresh admin API token with `role`.
pub async fn admin_token(s: &TestServer, role: Role) -> String {
    s.ops()
        .create_token(&Actor::system(), "t", role, time::Duration::days(1))
        .await
        .unwrap()
        .1
}

/// Calls to the admin API with a bearer token.
#[derive(Clone)]
pub struct Api {
    base: String,
    token: String,
}

impl Api {
    pub fn new(s: &TestServer, token: &str) -> Api {
        Api {
            base: s.base.clone(),
            token: token.to_string(),
        }
    }

    /// A request to `path` with the token, to be finished and sent.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        client()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends a request without a body.
    pub async fn send(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.request(method, path).send().await.unwrap()
    }

    /// Sends `body` as JSON.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.request(method, path).json(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path).await
    }

    /// GETs `path` and reads the JSON answer.
    pub async fn value(&self, path: &str) -> serde_json::Value {
        json(self.get(path).await).await
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::DELETE, path).await
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.send_json(reqwest::Method::PATCH, path, body).await
    }
}

/// The admin API with a fresh token of `role`.
pub async fn admin_api(s: &TestServer, role: Role) -> Api {
    Api::new(s, &admin_token(s, role).await)
}

// ---- What the server recorded ----

/// The newest audit entries with `action`, newest first.
pub async fn audit(s: &TestServer, action: &str) -> Vec<trustplane_core::audit::AuditEntry> {
    s.state
        .store
        .list_audit(&trustplane_store::AuditQuery {
            action: Some(action.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// The actions of the newest 200 audit entries, newest first.
pub async fn audit_actions(s: &TestServer) -> Vec<String> {
    s.state
        .store
        .list_audit(&trustplane_store::AuditQuery {
            limit: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// The newest sign-ins of `user`, newest first.
pub async fn sign_ins_of(
    s: &TestServer,
    user: uuid::Uuid,
) -> Vec<trustplane_core::signin::SignInEvent> {
    s.state
        .store
        .list_sign_ins(&trustplane_store::SignInQuery {
            user_id: Some(user),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// The failure reasons of the newest failed sign-ins of `user`.
pub async fn failure_reasons(s: &TestServer, user: uuid::Uuid) -> Vec<String> {
    s.state
        .store
        .list_sign_ins(&trustplane_store::SignInQuery {
            user_id: Some(user),
            result: Some(trustplane_core::signin::SignInResult::Failure),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.failure_reason)
        .collect()
}
