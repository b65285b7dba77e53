//! `trustplane apps …`, `trustplane labels …` and `trustplane keys …`: protected applications
//! and their routes, information protection (sensitivity labels, authentication contexts) and
//! signing keys, on the configured database, audited like the API.

use crate::{CliError, pretty};
use clap::Subcommand;
use std::process::ExitCode;
use std::sync::Arc;
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_server::enforce::app_routes::{check_host, check_name, check_prefix, check_slug};
use trustplane_store::{
    Application, AuthenticationContext, Route, SensitivityLabel, Store, StoreError,
};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum AppsCmd {
    /// List applications with their routes and labels.
    List,
    /// Register an application.
    Create {
        /// Lowercase slug; conditional access policies name the application by it.
        id: String,
        #[arg(long)]
        name: String,
        /// A host name a sign-in may return to (repeatable).
        #[arg(long = "allowed-host")]
        allowed_hosts: Vec<String>,
        /// Sensitivity label of the whole application.
        #[arg(long)]
        label: Option<String>,
    },
    /// Delete an application and its routes.
    Delete { id: String },
    /// Add a route (host and path prefix) to an application.
    AddRoute {
        app: String,
        host: String,
        #[arg(default_value = "/")]
        path_prefix: String,
        /// Sensitivity label of what lives under the prefix.
        #[arg(long)]
        label: Option<String>,
        /// The prefix also covers other cases of the path (for upstreams that serve paths
        /// case-insensitively).
        #[arg(long)]
        case_insensitive: bool,
    },
    /// Remove a route.
    RemoveRoute { app: String, route_id: Uuid },
    /// Set (or with --clear remove) the label of an application or, with --route, a route.
    Label {
        app: String,
        label: Option<String>,
        #[arg(long)]
        route: Option<Uuid>,
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Subcommand)]
pub enum LabelsCmd {
    /// List labels (least sensitive first) and authentication contexts.
    List,
    /// Create or replace a label.
    Set {
        id: String,
        #[arg(long)]
        name: String,
        /// Higher is more sensitive; unique.
        #[arg(long)]
        rank: i32,
        /// The authentication context requests for labelled resources ask for.
        #[arg(long)]
        context: Option<String>,
    },
    /// Delete a label (refused while in use).
    Delete { id: String },
    /// Create or replace an authentication context (e.g. c1).
    SetContext {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete an authentication context (refused while in use).
    DeleteContext { id: String },
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Published signing keys (public halves), newest first.
    List,
    /// Create a new key; the old one stays published until what it signed has expired.
    Rotate {
        /// ES256 (default) or RS256.
        #[arg(long, default_value = "ES256")]
        alg: String,
    },
}

fn in_use(e: StoreError) -> CliError {
    match e {
        StoreError::InUse(m) => CliError::Other(m.to_string()),
        StoreError::NotFound(what) => CliError::Other(format!("{what} not found")),
        StoreError::Conflict(what) => CliError::Other(format!("{what} already exists")),
        other => other.into(),
    }
}

pub async fn apps(
    store: Arc<dyn Store>,
    actor: &Actor,
    cmd: AppsCmd,
) -> Result<ExitCode, CliError> {
    let store = store.as_ref();
    let now = OffsetDateTime::now_utc();
    match cmd {
        AppsCmd::List => list_apps(store).await?,
        AppsCmd::Create {
            id,
            name,
            allowed_hosts,
            label,
        } => {
            check_slug(&id)?;
            let name = check_name(&name)?;
            let mut hosts = Vec::new();
            for h in &allowed_hosts {
                hosts.push(check_host(h)?);
            }
            let app = Application {
                id,
                name,
                allowed_hosts: hosts,
                sensitivity_label: label,
                created_at: now,
            };
            create_app(store, actor, &app).await?;
        }
        AppsCmd::Delete { id } => delete_app(store, actor, &id).await?,
        AppsCmd::AddRoute {
            app,
            host,
            path_prefix,
            label,
            case_insensitive,
        } => {
            let host = check_host(&host)?;
            check_prefix(&path_prefix)?;
            let route = Route {
                id: Uuid::now_v7(),
                app_id: app,
                host,
                path_prefix,
                sensitivity_label: label,
                case_insensitive,
                created_at: now,
            };
            add_route(store, actor, &route).await?;
        }
        AppsCmd::RemoveRoute { app, route_id } => {
            remove_route(store, actor, &app, route_id).await?;
        }
        AppsCmd::Label {
            app,
            label,
            route,
            clear,
        } => {
            if clear == label.is_some() {
                return Err(CliError::Other("give a LABEL, or --clear".into()));
            }
            set_label(store, actor, &app, route, label).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list_apps(store: &dyn Store) -> Result<(), CliError> {
    let routes = store.list_routes(None).await?;
    let mut out = Vec::new();
    for a in store.list_applications().await? {
        let mine: Vec<&Route> = routes.iter().filter(|r| r.app_id == a.id).collect();
        out.push(serde_json::json!({ "application": a, "routes": mine }));
    }
    println!("{}", pretty(&out)?);
    Ok(())
}

async fn create_app(store: &dyn Store, actor: &Actor, app: &Application) -> Result<(), CliError> {
    let id = &app.id;
    let audit = AuditDraft::new(actor, "application.create", "application", Some(id.clone()))
        .after(
            &serde_json::json!({ "name": app.name, "allowed_hosts": app.allowed_hosts,
            "sensitivity_label": app.sensitivity_label }),
        );
    store.create_application(app, audit).await.map_err(in_use)?;
    println!("Created application {id}.");
    Ok(())
}

async fn delete_app(store: &dyn Store, actor: &Actor, id: &str) -> Result<(), CliError> {
    let audit = AuditDraft::new(
        actor,
        "application.delete",
        "application",
        Some(id.to_string()),
    );
    if !store.delete_application(id, audit).await? {
        return Err(CliError::Other(format!("no application {id}")));
    }
    println!("Deleted application {id} and its routes.");
    Ok(())
}

async fn add_route(store: &dyn Store, actor: &Actor, route: &Route) -> Result<(), CliError> {
    let app = Some(route.app_id.clone());
    let audit = AuditDraft::new(actor, "application.route.add", "application", app).after(
        &serde_json::json!({ "route_id": route.id, "host": route.host,
            "path_prefix": route.path_prefix, "sensitivity_label": route.sensitivity_label,
            "case_insensitive": route.case_insensitive }),
    );
    store.add_route(route, audit).await.map_err(in_use)?;
    println!(
        "Added route {} ({}{}).",
        route.id, route.host, route.path_prefix
    );
    Ok(())
}

async fn remove_route(
    store: &dyn Store,
    actor: &Actor,
    app: &str,
    route_id: Uuid,
) -> Result<(), CliError> {
    let audit = AuditDraft::new(
        actor,
        "application.route.remove",
        "application",
        Some(app.to_string()),
    )
    .before(&serde_json::json!({ "route_id": route_id }));
    if !store.remove_route(app, route_id, audit).await? {
        return Err(CliError::Other(format!(
            "application {app} has no route {route_id}"
        )));
    }
    println!("Removed route {route_id}.");
    Ok(())
}

/// Sets (or with `None` removes) the label of an application or one of its routes.
async fn set_label(
    store: &dyn Store,
    actor: &Actor,
    app: &str,
    route: Option<Uuid>,
    label: Option<String>,
) -> Result<(), CliError> {
    let audit = AuditDraft::new(
        actor,
        "application.sensitivity_label.set",
        "application",
        Some(app.to_string()),
    )
    .after(&serde_json::json!({ "route_id": route, "label": label }));
    if !store
        .set_sensitivity_label(app, route, label.as_deref(), audit)
        .await
        .map_err(in_use)?
    {
        return Err(CliError::Other(format!(
            "no such application or route: {app}"
        )));
    }
    println!("Label of {app} set.");
    Ok(())
}

pub async fn labels(
    store: Arc<dyn Store>,
    actor: &Actor,
    cmd: LabelsCmd,
) -> Result<ExitCode, CliError> {
    let store = store.as_ref();
    let now = OffsetDateTime::now_utc();
    match cmd {
        LabelsCmd::List => {
            let out = serde_json::json!({
                "sensitivity_labels": store.list_sensitivity_labels().await?,
                "authentication_contexts": store.list_authentication_contexts().await?,
            });
            println!("{}", pretty(&out)?);
        }
        LabelsCmd::Set {
            id,
            name,
            rank,
            context,
        } => {
            let l = SensitivityLabel {
                id: id.clone(),
                name,
                rank,
                authentication_context: context,
                created_at: now,
            };
            let audit = AuditDraft::new(
                actor,
                "sensitivity_label.put",
                "sensitivity_label",
                Some(id.clone()),
            )
            .after(&l);
            store
                .put_sensitivity_label(&l, audit)
                .await
                .map_err(in_use)?;
            println!("Saved label {id}.");
        }
        LabelsCmd::Delete { id } => {
            let audit = AuditDraft::new(
                actor,
                "sensitivity_label.delete",
                "sensitivity_label",
                Some(id.clone()),
            );
            if !store
                .delete_sensitivity_label(&id, audit)
                .await
                .map_err(in_use)?
            {
                return Err(CliError::Other(format!("no label {id}")));
            }
            println!("Deleted label {id}.");
        }
        LabelsCmd::SetContext {
            id,
            name,
            description,
        } => {
            let c = AuthenticationContext {
                id: id.clone(),
                name,
                description,
                created_at: now,
            };
            let audit = AuditDraft::new(
                actor,
                "authentication_context.put",
                "authentication_context",
                Some(id.clone()),
            )
            .after(&c);
            store.put_authentication_context(&c, audit).await?;
            println!("Saved authentication context {id}.");
        }
        LabelsCmd::DeleteContext { id } => {
            let audit = AuditDraft::new(
                actor,
                "authentication_context.delete",
                "authentication_context",
                Some(id.clone()),
            );
            if !store
                .delete_authentication_context(&id, audit)
                .await
                .map_err(in_use)?
            {
                return Err(CliError::Other(format!("no authentication context {id}")));
            }
            println!("Deleted authentication context {id}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn keys(
    store: Arc<dyn Store>,
    seal_key: &[u8; 32],
    actor: &Actor,
    cmd: KeysCmd,
) -> Result<ExitCode, CliError> {
    let store = store.as_ref();
    match cmd {
        KeysCmd::List => {
            let now = OffsetDateTime::now_utc();
            for k in store.published_signing_keys(now).await? {
                let until = k
                    .retired_at
                    .map_or_else(|| "-".to_string(), |t| t.to_string());
                println!(
                    "{}  {}  created {}  published until {}",
                    k.kid, k.alg, k.created_at, until
                );
            }
        }
        KeysCmd::Rotate { alg } => {
            let kid = trustplane_server::platform::keys::rotate(
                store,
                seal_key,
                &alg,
                actor,
                "manual",
                time::OffsetDateTime::now_utc(),
            )
            .await
            .map_err(|e| CliError::Other(e.to_string()))?;
            println!(
                "Created {alg} key {kid}; it signs from {} minutes from now.",
                trustplane_server::platform::keys::PUBLISH_AHEAD.whole_minutes()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
