//! The browser and API edge: cookie names and scopes, CSRF tokens, redirect targets taken from
//! input, the JSON shape of every API rejection, and the response headers every answer carries.

pub mod api_input;
pub mod cookies;
pub mod csrf;
pub mod headers;
pub mod redirect;
