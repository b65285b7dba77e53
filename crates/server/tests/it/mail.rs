//! Outgoing email: the embedded outbox, and delivery to a real SMTP server (Python's
//! `aiosmtpd`, an implementation independent of ours; `.ci/run` installs it).

use crate::harness::*;
use crate::mfa::enrol;
use trustplane_server::platform::config::{EmailConfig, Secret, SmtpTls};

#[tokio::test]
async fn security_info_changes_are_notified_through_the_outbox() {
    let s = TestServer::start().await;
    s.user("mia", &[]).await;
    let c = signed_in(&s, "mia").await;
    enrol(&c, &s).await;
    let mail = s.outbox("mia@example.com", 1).await;
    assert_eq!(mail.len(), 1, "exactly one notification: {mail:?}");
    let m = &mail[0];
    assert!(
        m.contains("Subject: trustplane: An authenticator app was added to your account"),
        "{m}"
    );
    assert!(m.contains("From: trustplane <no-reply@localhost>"), "{m}");
    assert!(m.contains("Hello mia Example"), "{m}");
    // The notice names the address the change came from.
    assert!(m.contains("from 127.0.0.1"), "{m}");
    // Nobody else was written to.
    let all = std::fs::read_dir(s.data_dir().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(all, 1);
    s.stop().await;
}

/// A running `aiosmtpd`, stopped when dropped (also when the test fails).
pub(crate) struct Smtpd(std::process::Child);

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `python3 -m aiosmtpd` writing to a Maildir in `dir`; returns it and its port.
pub(crate) fn smtp_server(dir: &std::path::Path) -> (Smtpd, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
            dir.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Smtpd)
        .expect("python3 with aiosmtpd (pip install aiosmtpd; .ci/run installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("aiosmtpd did not start on port {port}");
}

#[tokio::test]
async fn notifications_are_delivered_over_smtp() {
    let maildir = tempfile::tempdir().unwrap();
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir(maildir.path().join(sub)).unwrap();
    }
    let (_smtpd, port) = smtp_server(maildir.path());
    let s = TestServer::with(Options {
        email: EmailConfig {
            transport: "smtp".into(),
            from: "Security <security@corp.example>".into(),
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: port,
            smtp_tls: SmtpTls::None,
            smtp_username: None,
            smtp_password: None::<Secret>,
            ..EmailConfig::default()
        },
        ..Options::default()
    })
    .await;
    // Direct delivery first: a failure here shows lettre's error.
    s.state
        .mailer()
        .unwrap()
        .send("probe@example.com", "probe", "hello")
        .await
        .unwrap();
    s.user("sam", &[]).await;
    let c = signed_in(&s, "sam").await;
    enrol(&c, &s).await;
    // aiosmtpd's Mailbox handler writes a Maildir: new messages land in `new/`.
    let mail = read_mail_dir(&maildir.path().join("new"), "sam@example.com", 1).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].contains("From: Security <security@corp.example>"),
        "{}",
        mail[0]
    );
    assert!(mail[0].contains("An authenticator app was added to your account"));
    // Nothing went to the outbox when SMTP is configured.
    assert!(!s.data_dir().join("outbox").exists());
    s.stop().await;
}

#[tokio::test]
async fn a_bad_email_configuration_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    for (email, needle) in [
        (
            EmailConfig {
                transport: "pigeon".into(),
                ..EmailConfig::default()
            },
            "\"outbox\" or \"smtp\"",
        ),
        (
            EmailConfig {
                transport: "smtp".into(),
                ..EmailConfig::default()
            },
            "smtp_host",
        ),
        (
            EmailConfig {
                from: "not an address".into(),
                ..EmailConfig::default()
            },
            "`from`",
        ),
    ] {
        let cfg = trustplane_server::platform::config::Config {
            data: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            password_hash: fast_hash(),
            email,
            ..Default::default()
        };
        let err = match trustplane_server::prepare(cfg).await {
            Ok(_) => panic!("started with a bad email configuration"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn the_smtp_password_never_shows_in_debug_output() {
    let cfg = EmailConfig {
        smtp_password: Some(serde_json::from_str::<Secret>("\"hunter2-very-secret\"").unwrap()),
        ..EmailConfig::default()
    };
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("***"));
}
