//! The self-contained demo (`hoop demo`) and its demo-only OIDC issuer.
pub mod issuer;
