//! `trustplane oidc clients …`: OpenID Connect clients on the configured database (the same
//! validation and audit as the API and the console).

use crate::CliError;
use clap::Subcommand;
use std::process::ExitCode;
use std::sync::Arc;
use trustplane_core::audit::Actor;
use trustplane_server::api::oidc_clients::view;
use trustplane_server::enforce::oidc::clients::{self, NewClient};
use trustplane_store::Store;

#[derive(Subcommand)]
pub enum OidcCmd {
    /// OpenID Connect clients.
    #[command(subcommand)]
    Clients(ClientsCmd),
}

#[derive(Subcommand)]
pub enum ClientsCmd {
    /// List the clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Register a client; prints its secret once (confidential clients).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// The application the client belongs to.
        #[arg(long)]
        app: String,
        /// The client id (generated when absent).
        #[arg(long)]
        client_id: Option<String>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// A redirect URI (repeat for several); matched exactly.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Allowed scopes (repeat; default openid profile email offline_access).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Allowed grant types (repeat; default authorization_code refresh_token).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// client_secret_basic (default) or client_secret_post.
        #[arg(long)]
        auth_method: Option<String>,
        /// Include the groups claim.
        #[arg(long)]
        groups_claim: bool,
    },
    /// Show one client (JSON).
    Show { client_id: String },
    /// Delete a client and everything issued to it.
    Delete { client_id: String },
    /// Replace a confidential client's secret; prints the new one once.
    RotateSecret { client_id: String },
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(v).map_err(|e| CliError::Other(e.to_string()))?;
    println!("{s}");
    Ok(())
}

pub async fn run(store: Arc<dyn Store>, actor: &Actor, cmd: OidcCmd) -> Result<ExitCode, CliError> {
    let store = store.as_ref();
    let OidcCmd::Clients(cmd) = cmd;
    match cmd {
        ClientsCmd::List { json } => {
            let list = store.list_oidc_clients().await?;
            if json {
                let views: Vec<_> = list.into_iter().map(|c| view(c, None)).collect();
                print_json(&views)?;
            } else {
                for c in list {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        c.id,
                        c.name,
                        c.app_id,
                        if c.is_public() {
                            "public"
                        } else {
                            "confidential"
                        },
                        c.redirect_uris.join(" ")
                    );
                }
            }
        }
        ClientsCmd::Create {
            name,
            app,
            client_id,
            public,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            grant_types,
            auth_method,
            groups_claim,
        } => {
            let n = NewClient {
                client_id,
                name,
                app_id: app,
                public,
                redirect_uris,
                post_logout_redirect_uris,
                scopes: (!scopes.is_empty()).then_some(scopes),
                grant_types: (!grant_types.is_empty()).then_some(grant_types),
                token_endpoint_auth_method: auth_method,
                id_token_signed_response_alg: None,
                groups_claim,
            };
            let (c, secret) =
                clients::create(store, actor, n, time::OffsetDateTime::now_utc()).await?;
            println!("client_id: {}", c.id);
            if let Some(s) = secret {
                println!("client_secret: {s}");
                eprintln!("Copy the secret now; it is not shown again.");
            }
        }
        ClientsCmd::Show { client_id } => {
            print_json(&view(clients::get(store, &client_id).await?, None))?;
        }
        ClientsCmd::Delete { client_id } => {
            clients::delete(store, actor, &client_id).await?;
            println!("deleted {client_id}");
        }
        ClientsCmd::RotateSecret { client_id } => {
            let (_, secret) =
                clients::rotate_secret(store, actor, &client_id, time::OffsetDateTime::now_utc())
                    .await?;
            println!("client_secret: {secret}");
            eprintln!("Copy the secret now; it is not shown again.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
