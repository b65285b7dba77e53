//! Password protection (P2): banned passwords and their variants, organisation terms,
//! breached-password filter. Pure logic only.
