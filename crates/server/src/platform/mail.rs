//! Outgoing email. The embedded default needs no mail server: messages are written as `.eml`
//! files to an outbox folder in the data directory (and the log says where). A real SMTP server
//! is configured with host, port, TLS mode and credentials. Sending is done with `lettre`.

use crate::platform::config::{EmailConfig, SmtpTls};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("email configuration: {0}")]
    Config(String),
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("cannot deliver the message: {0}")]
    Send(String),
}

enum Transport {
    Outbox {
        dir: PathBuf,
        t: AsyncFileTransport<Tokio1Executor>,
    },
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    /// Builds the mailer; the outbox folder is created (mode 0700) when it is used.
    pub fn new(cfg: &EmailConfig, data_dir: &std::path::Path) -> Result<Mailer, MailError> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("`from` = {:?}: {e}", cfg.from)))?;
        let transport = match cfg.transport.as_str() {
            "outbox" => {
                let dir = cfg
                    .outbox_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("outbox"));
                crate::platform::secrets::ensure_private_dir(&dir)
                    .map_err(|e| MailError::Config(format!("outbox {}: {e}", dir.display())))?;
                Transport::Outbox {
                    t: AsyncFileTransport::new(&dir),
                    dir,
                }
            }
            "smtp" => {
                let host = cfg
                    .smtp_host
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| MailError::Config("`smtp_host` is required for smtp".into()))?;
                let builder = match cfg.smtp_tls {
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
                    SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
                    SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                        host,
                    )),
                }
                .map_err(|e| MailError::Config(format!("smtp_host {host:?}: {e}")))?;
                let mut builder = builder
                    .port(cfg.smtp_port)
                    .timeout(Some(std::time::Duration::from_secs(15)));
                if let Some(user) = &cfg.smtp_username {
                    let pass = cfg
                        .smtp_password
                        .as_ref()
                        .map(|p| p.expose().to_string())
                        .unwrap_or_default();
                    builder = builder.credentials(Credentials::new(user.clone(), pass));
                }
                Transport::Smtp(builder.build())
            }
            other => {
                return Err(MailError::Config(format!(
                    "`transport` is \"outbox\" or \"smtp\", not {other:?}"
                )));
            }
        };
        Ok(Mailer { from, transport })
    }

    /// Sends a plain-text message. Never logs the body (it may carry a code).
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Message(format!("recipient: {e}")))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| MailError::Message(e.to_string()))?;
        match &self.transport {
            Transport::Outbox { dir, t } => {
                let id = t
                    .send(msg)
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))?;
                tracing::info!(file = %dir.join(format!("{id}.eml")).display(), subject,
                    "email written to the outbox (no mail server configured)");
            }
            Transport::Smtp(t) => {
                t.send(msg)
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))?;
                tracing::info!(subject, "email sent");
            }
        }
        Ok(())
    }

    /// Best-effort notification: a failure is logged, never returned (the change it reports
    /// has already happened).
    pub async fn notify(&self, to: Option<&str>, subject: &str, body: &str) {
        let Some(to) = to.filter(|t| !t.is_empty()) else {
            return;
        };
        if let Err(e) = self.send(to, subject, body).await {
            tracing::warn!(error = %e, subject, "a notification email could not be sent");
        }
    }
}

/// Subject and body of a security notification ("your security info changed").
pub fn security_notice(
    organisation: &str,
    display_name: &str,
    what: &str,
    ip: Option<std::net::IpAddr>,
    at: time::OffsetDateTime,
) -> (String, String) {
    let when = at
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    let from = ip.map(|i| format!(" from {i}")).unwrap_or_default();
    (
        format!("{organisation}: {what}"),
        format!(
            "Hello {display_name},\n\n{what} on {when}{from}.\n\nIf this was you, there is nothing to do. \
             If it was not, contact your administrator at once: someone may be using your account.\n\n\
             — {organisation}\n"
        ),
    )
}
