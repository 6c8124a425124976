//! Statement policy: what a SQL text does, and (built on it) whether a run may do it.
//!
//! - [`classify`]: Postgres's own parser (libpg_query) turns a Query or Parse message's text
//!   into typed facts: statement kinds, relations read and written, functions called, columns,
//!   COPY direction. Pure; the gateway asks it once per text and never re-parses SQL.
//! - [`card_data`]: which columns hold card data and which uses of them (from each statement's
//!   column lineage) may reveal it; pure, over a snapshot of the upstream catalog.
//! - [`rules`]: `[[rules]]` and the default rule pack over a classification ▶ a typed
//!   [`rules::Decision`]. Pure; the gateway acts on the decision (`gateway/policy.rs`).
//!
//! Architecture Invariant: the classifier only describes; it never decides. A text it cannot
//! describe comes back as a [`classify::ClassifyError`], never as an empty, harmless-looking
//! classification.

pub mod card_data;
pub mod classify;
pub mod rules;
