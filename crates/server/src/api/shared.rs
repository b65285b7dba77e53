//! What the admin API handlers share: the operations handle and role parsing.

use crate::edge::error::AppError;
use crate::ops::Ops;
use crate::state::AppState;
use trustplane_core::identity::Role;

pub(super) fn ops(state: &AppState) -> Ops {
    state.ops()
}

pub(super) fn parse_role(s: &str) -> Result<Role, AppError> {
    s.parse::<Role>().map_err(AppError::from)
}
