//! JWKS fetching and caching.
