//! `trustplane serve`: runs the server until a shutdown signal.

use std::process::ExitCode;
use trustplane_server::platform::config::Config;

pub async fn run(cfg: Config) -> ExitCode {
    let db_kind = if cfg.database_url().starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let data = cfg.data.display().to_string();
    let server = match trustplane_server::prepare(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr;
    // Handlers first: a signal right after the announcement below must shut down gracefully.
    let shutdown = trustplane_server::shutdown_signal();
    tracing::info!(%addr, database = db_kind, data = %data, "trustplane listening");
    println!("trustplane is listening on http://{addr} ({db_kind}, data in {data})");
    match &server.bootstrap_url {
        // Printed to the terminal, never to the log: the link is a one-time secret.
        Some(url) => println!(
            "\nNo administrator exists yet. Open this one-time link within 24 hours to create one:\n\n    {url}\n\nor run: trustplane admin user create LOGIN --role global_administrator --password-stdin\n"
        ),
        None => println!("Sign in at http://{addr}/login"),
    }
    match server.run(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
