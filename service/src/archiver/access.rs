//! Who may read the archive through the API ([`ArchiveAccess`]): the auditors of
//! `[[archive.auditors]]`, by token hash, and the store they read.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::AuditorConfig;
use crate::bearer::{self, TokenHash};
use crate::worm::WormStore;

/// One auditor, with the SHA-256 of their token.
#[derive(Clone, Debug)]
pub struct Auditor {
    pub name: String,
    token_sha256: TokenHash,
}

/// The archive store as the API serves it, and its auditors.
#[derive(Debug)]
pub struct ArchiveAccess {
    store: Arc<dyn WormStore>,
    /// Replaced by a reload.
    auditors: ArcSwap<Vec<Auditor>>,
}

impl ArchiveAccess {
    /// From validated configuration ([`super::ArchiveConfig::validate`] checked the hashes).
    pub fn new(store: Arc<dyn WormStore>, auditors: &[AuditorConfig]) -> Self {
        ArchiveAccess {
            store,
            auditors: ArcSwap::from_pointee(auditors_of(auditors)),
        }
    }

    /// Puts a new list of auditors in force for the requests that come from now on.
    pub fn replace_auditors(&self, auditors: &[AuditorConfig]) {
        self.auditors.store(Arc::new(auditors_of(auditors)));
    }

    pub fn store(&self) -> &Arc<dyn WormStore> {
        &self.store
    }

    /// The auditor whose token this is (constant-time over every configured hash).
    pub fn authenticate(&self, token: &str) -> Option<Auditor> {
        bearer::find(&self.auditors.load(), token, |a| &a.token_sha256).cloned()
    }
}

fn auditors_of(config: &[AuditorConfig]) -> Vec<Auditor> {
    config
        .iter()
        .filter_map(|a| {
            TokenHash::parse(&a.token_sha256).map(|token_sha256| Auditor {
                name: a.name.clone(),
                token_sha256,
            })
        })
        .collect()
}
