//! The folder store: each object a file created exclusively, then made read-only (0444) and
//! synced with its folders, so an object that `put` reported stored survives a crash. Nothing
//! here deletes or rewrites a file. A folder has no retention to report: [`WormStore::has_locks`]
//! is false, and the WORM property is the host's (a read-only mount, a backup) beyond this.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path as FsPath, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use super::url::file_text;
use super::{HiddenObject, Listed, Lock, ObjectInfo, StoreError, WormStore, error_chain};
use crate::archive::ObjectKey;

/// Mode of every stored object: nobody writes it again (root aside, which the host answers for).
const OBJECT_MODE: u32 = 0o444;
/// Mode of a root that `check` creates: archives are for hoop and its auditors only.
const ROOT_MODE: u32 = 0o700;

/// A folder holding the archive root, laid out like the bucket (`sessions/…`, `digests/…`).
#[derive(Debug)]
pub struct FileStore {
    root: PathBuf,
    describe: String,
}

impl FileStore {
    /// A store at `root`; nothing is touched until [`WormStore::check`] (which creates it).
    pub fn new(root: impl Into<PathBuf>) -> FileStore {
        let root = root.into();
        FileStore {
            describe: file_text(&root),
            root,
        }
    }

    pub fn root(&self) -> &FsPath {
        &self.root
    }

    /// object_store's view of the root. It needs the folder to exist, so it is made per call
    /// rather than when the store is built (before `check` may have created it).
    fn fs(&self) -> Result<LocalFileSystem, StoreError> {
        LocalFileSystem::new_with_prefix(&self.root)
            .map_err(|e| self.unusable(format!("the folder cannot be opened: {}", error_chain(&e))))
    }

    fn unusable(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Unusable {
            store: self.describe.clone(),
            reason: reason.into(),
        }
    }

    fn error(&self, operation: &'static str, key: &str, e: object_store::Error) -> StoreError {
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                store: self.describe.clone(),
                key: key.to_owned(),
            },
            object_store::Error::AlreadyExists { .. } => StoreError::Exists {
                store: self.describe.clone(),
                key: key.to_owned(),
            },
            e => StoreError::Refused {
                store: self.describe.clone(),
                operation,
                key: key.to_owned(),
                reason: error_chain(&e),
            },
        }
    }

    fn io_error(&self, operation: &'static str, key: &str, e: io::Error) -> StoreError {
        StoreError::Refused {
            store: self.describe.clone(),
            operation,
            key: key.to_owned(),
            reason: e.to_string(),
        }
    }
}

#[async_trait]
impl WormStore for FileStore {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn has_locks(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        let result = tokio::task::spawn_blocking(move || probe(&root))
            .await
            .map_err(|e| self.unusable(format!("the check did not finish: {e}")))?;
        result.map_err(|e| {
            self.unusable(format!(
                "{e}: hoop needs a folder it can create files in (or create it itself)"
            ))
        })
    }

    async fn put(&self, key: &ObjectKey, bytes: Bytes, _lock: Lock) -> Result<(), StoreError> {
        let fs = self.fs()?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        fs.put_opts(&Path::from(key.as_str()), PutPayload::from(bytes), options)
            .await
            .map_err(|e| self.error("put", key.as_str(), e))?;
        let path = key.to_path(&self.root);
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || seal(&root, &path))
            .await
            .map_err(|e| self.io_error("put", key.as_str(), io::Error::other(e)))?
            .map_err(|e| self.io_error("put", key.as_str(), e))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError> {
        match self.fs()?.head(&Path::from(key.as_str())).await {
            Ok(meta) => Ok(Some(ObjectInfo {
                size: meta.size,
                sha256: None,
                lock: None,
                version_id: None,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("head", key.as_str(), e)),
        }
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let fs = self.fs()?;
        let result = fs
            .get(&Path::from(key.as_str()))
            .await
            .map_err(|e| self.error("get", key.as_str(), e))?;
        result
            .bytes()
            .await
            .map_err(|e| self.error("get", key.as_str(), e))
    }

    async fn get_from(&self, key: &ObjectKey, offset: u64) -> Result<Bytes, StoreError> {
        let fs = self.fs()?;
        let path = Path::from(key.as_str());
        let size = fs
            .head(&path)
            .await
            .map_err(|e| self.error("get", key.as_str(), e))?
            .size;
        if offset == size {
            return Ok(Bytes::new());
        }
        if offset > size {
            return Err(StoreError::Refused {
                store: self.describe.clone(),
                operation: "get",
                key: key.to_string(),
                reason: format!("offset {offset} is past the object's end ({size} bytes)"),
            });
        }
        fs.get_range(&path, offset..size)
            .await
            .map_err(|e| self.error("get", key.as_str(), e))
    }

    /// A folder keeps no versions, so nothing in it can be hidden under a marker.
    async fn hidden(&self, _prefix: &str) -> Result<Vec<HiddenObject>, StoreError> {
        Ok(Vec::new())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let fs = self.fs()?;
        // object_store lists one folder at a time; the walk starts at the folder part of
        // `prefix`, enters only folders that can hold matching keys, and matches the rest on
        // the keys themselves.
        let start = prefix.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
        let mut folders = vec![(!start.is_empty()).then(|| Path::from(start))];
        let mut listed = Vec::new();
        while let Some(folder) = folders.pop() {
            let found = match fs.list_with_delimiter(folder.as_ref()).await {
                Ok(found) => found,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(self.error("list", prefix, e)),
            };
            for sub in found.common_prefixes {
                let text = format!("{sub}/");
                if text.starts_with(prefix) || prefix.starts_with(&text) {
                    folders.push(Some(sub));
                }
            }
            for meta in found.objects {
                if !meta.location.as_ref().starts_with(prefix) {
                    continue;
                }
                if let Ok(key) = ObjectKey::parse(meta.location.as_ref()) {
                    listed.push(Listed {
                        key,
                        size: meta.size,
                    });
                }
            }
        }
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }
}

/// Makes a just-linked object read-only and durable: the file's bytes and mode, then each
/// folder from its own up to the root, since any of them may be new.
fn seal(root: &FsPath, path: &FsPath) -> io::Result<()> {
    let file = File::open(path)?;
    file.set_permissions(Permissions::from_mode(OBJECT_MODE))?;
    file.sync_all()?;
    let mut dir = path.parent();
    while let Some(d) = dir {
        File::open(d)?.sync_all()?;
        if d == root {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// Creates `root` (0700) when missing and proves a file can be created, written and synced in
/// it. The probe file is hoop's own, never an object (its name is not a valid key), and the
/// only file this module removes.
fn probe(root: &FsPath) -> io::Result<()> {
    if fs::metadata(root).is_ok_and(|m| !m.is_dir()) {
        return Err(io::Error::other(format!(
            "{} is not a folder",
            root.display()
        )));
    }
    DirBuilder::new()
        .recursive(true)
        .mode(ROOT_MODE)
        .create(root)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", root.display())))?;
    let path = root.join(format!(".hoop-probe-{}", uuid::Uuid::new_v4().simple()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| {
            f.write_all(b"hoop")?;
            f.sync_all()
        });
    let removed = fs::remove_file(&path);
    written
        .and(removed)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write in {}: {e}", root.display())))
}
