//! Demo-only OIDC issuer.
