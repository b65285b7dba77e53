//! The browser and API edge: cookie names and scopes, CSRF tokens, redirect targets taken from
//! input, the JSON shape of every API rejection, and the response headers every answer carries.

pub mod api_input;
pub mod auth;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod headers;
pub mod middleware;
pub mod pages;
pub mod redirect;

/// Static assets and the return page shared by every stage.
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/static/app.css", get(pages::stylesheet))
        .route("/static/favicon.svg", get(pages::favicon))
        .route("/favicon.ico", get(pages::favicon))
        .route("/login/return", get(pages::return_page))
}
