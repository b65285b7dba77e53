//! The admin console (`/admin`): server-rendered pages per resource.

pub mod api_tokens;
pub mod applications;
pub mod chrome;
pub mod devices;
pub mod groups;
pub mod home;
pub mod logs;
pub mod oidc_clients;
pub mod policies;
pub mod protection;
pub mod sessions;
pub mod user_methods;
pub mod users;

/// The routes of the admin console.
pub fn router() -> axum::Router<crate::state::AppState> {
    axum::Router::new()
        .merge(oidc_clients::routes())
        .merge(home::routes())
        .merge(users::routes())
        .merge(user_methods::routes())
        .merge(groups::routes())
        .merge(sessions::routes())
        .merge(devices::routes())
        .merge(logs::routes())
        .merge(policies::routes())
        .merge(protection::routes())
        .merge(applications::routes())
        .merge(api_tokens::routes())
}
