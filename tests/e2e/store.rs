//! The archive stores against a real S3 server (moto, behind a proxy that can be set down) and a
//! real folder: Object Lock and checksums on every put, no overwrite, no delete, refusal of
//! buckets that cannot hold WORM evidence, outages reported as transient.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::s3::S3Server;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumMode, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockMode, VersioningConfiguration,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use hoop::archive::{ObjectKey, Sha256};
use hoop::worm::{FileStore, Listed, Lock, LockMode, S3Settings, StoreError, StoreUrl, WormStore};

fn bucket_name() -> String {
    format!(
        "hoop-t-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

/// A retention a year ahead, to the second (S3 keeps retain-until dates to the second).
fn lock() -> Lock {
    let until = Utc::now() + Duration::days(365);
    Lock {
        mode: LockMode::Compliance,
        retain_until: DateTime::from_timestamp(until.timestamp(), 0).unwrap(),
    }
}

async fn locked_store(server: &S3Server, prefix: &str) -> (String, hoop::worm::S3Store) {
    let bucket = bucket_name();
    server.create_bucket(&bucket, true).await;
    let store = server.store(&bucket, prefix).await;
    (bucket, store)
}

const MANIFEST: &str = "sessions/2026/12/02/s-1.manifest.json";

// ---------------------------------------------------------------------------------------------
// S3

#[tokio::test]
async fn s3_put_locks_the_object_in_compliance_mode_with_our_checksum() {
    let server = S3Server::start().await;
    let (bucket, store) = locked_store(&server, "").await;
    store.check().await.expect("a locked bucket is usable");
    assert!(store.has_locks());
    assert_eq!(
        store.describe(),
        format!("s3://{bucket} at {}", server.endpoint())
    );

    let bytes = Bytes::from_static(b"{\"signed\":true}");
    let lock = lock();
    store
        .put(&key(MANIFEST), bytes.clone(), lock)
        .await
        .unwrap();

    let info = store.head(&key(MANIFEST)).await.unwrap().expect("stored");
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.sha256, Some(Sha256::of(&bytes)));
    assert_eq!(info.lock, Some(lock));
    assert!(
        info.version_id.is_some(),
        "a versioned bucket has version ids"
    );

    let raw = server
        .client()
        .head_object()
        .bucket(&bucket)
        .key(MANIFEST)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(
        raw.object_lock_retain_until_date().map(|d| d.secs()),
        Some(lock.retain_until.timestamp())
    );
    assert_eq!(
        raw.checksum_sha256(),
        Some(STANDARD.encode(Sha256::of(&bytes).as_bytes()).as_str()),
        "the SHA-256 checksum was sent with the object"
    );
    assert_eq!(raw.content_type(), Some("application/json"));
    // The retention is checked on the HEAD above: moto 5.2 answers GetObjectRetention with the
    // object itself, so a check through it could never run.
}

#[tokio::test]
async fn s3_put_of_an_existing_key_is_exists_and_the_original_stays() {
    let server = S3Server::start().await;
    let (bucket, store) = locked_store(&server, "").await;
    store
        .put(&key(MANIFEST), Bytes::from_static(b"original"), lock())
        .await
        .unwrap();

    let again = store
        .put(&key(MANIFEST), Bytes::from_static(b"replacement"), lock())
        .await;
    assert!(
        matches!(&again, Err(StoreError::Exists { key, .. }) if key == MANIFEST),
        "{again:?}"
    );
    assert!(!again.unwrap_err().is_transient());
    assert_eq!(store.get(&key(MANIFEST)).await.unwrap(), "original");

    // If-None-Match refused it: no second version was written.
    let versions = server
        .client()
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
}

#[tokio::test]
async fn s3_a_locked_version_cannot_be_deleted_and_an_overwrite_keeps_it() {
    let server = S3Server::start().await;
    let (bucket, store) = locked_store(&server, "").await;
    store
        .put(&key(MANIFEST), Bytes::from_static(b"evidence"), lock())
        .await
        .unwrap();
    let version = store
        .head(&key(MANIFEST))
        .await
        .unwrap()
        .unwrap()
        .version_id
        .unwrap();

    // Deleting the locked version itself is refused (COMPLIANCE: by anyone).
    let delete = server
        .client()
        .delete_object()
        .bucket(&bucket)
        .key(MANIFEST)
        .version_id(&version)
        .send()
        .await;
    let code = delete.as_ref().err().and_then(|e| e.code());
    assert_eq!(code, Some("AccessDenied"), "{delete:?}");

    // A plain put without If-None-Match (not hoop's) creates a new current version; the
    // locked one stays retrievable by its id. The store then reports the new version, which
    // carries no lock and another checksum: what a verifier compares against the manifest.
    let overwrite = server
        .client()
        .put_object()
        .bucket(&bucket)
        .key(MANIFEST)
        .body(ByteStream::from_static(b"forged"))
        .send()
        .await
        .unwrap();
    assert_ne!(overwrite.version_id(), Some(version.as_str()));
    let original = server
        .client()
        .get_object()
        .bucket(&bucket)
        .key(MANIFEST)
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        original.body.collect().await.unwrap().into_bytes(),
        "evidence"
    );
    let current = store.head(&key(MANIFEST)).await.unwrap().unwrap();
    assert_ne!(current.version_id.as_deref(), Some(version.as_str()));
    assert_eq!(current.lock, None);
    assert_ne!(current.sha256, Some(Sha256::of(b"evidence")));

    // A delete without a version id only adds a delete marker: the store then holds nothing
    // at the key, and the locked version is still there.
    server
        .client()
        .delete_object()
        .bucket(&bucket)
        .key(MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(store.head(&key(MANIFEST)).await.unwrap(), None);
    assert!(matches!(
        store.get(&key(MANIFEST)).await,
        Err(StoreError::NotFound { .. })
    ));
    let still = server
        .client()
        .head_object()
        .bucket(&bucket)
        .key(MANIFEST)
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(still.object_lock_mode(), Some(&ObjectLockMode::Compliance));
}

#[tokio::test]
async fn s3_check_refuses_buckets_that_cannot_hold_worm_evidence() {
    let server = S3Server::start().await;

    let missing = server.store(&bucket_name(), "").await;
    let e = missing.check().await.unwrap_err();
    assert!(matches!(e, StoreError::Unusable { .. }), "{e:?}");
    assert!(
        e.to_string().contains("--object-lock-enabled-for-bucket"),
        "{e}"
    );
    assert!(!e.is_transient());

    let plain = bucket_name();
    server.create_bucket(&plain, false).await;
    let store = server.store(&plain, "hoop").await;
    let e = store.check().await.unwrap_err();
    assert!(matches!(e, StoreError::Unusable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("does not have Object Lock enabled"), "{text}");
    assert!(text.contains(&format!("s3://{plain}/hoop")), "{text}");
    assert!(text.contains("put-object-lock-configuration"), "{text}");
    // And a put there fails rather than storing an unlocked object.
    let put = store
        .put(&key(MANIFEST), Bytes::from_static(b"x"), lock())
        .await;
    assert!(matches!(put, Err(StoreError::Refused { .. })), "{put:?}");

    // Versioning suspended on a bucket with Object Lock (S3 refuses the change; moto takes it).
    let (suspended, _) = locked_store(&server, "").await;
    server
        .client()
        .put_bucket_versioning()
        .bucket(&suspended)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let e = server
        .store(&suspended, "")
        .await
        .check()
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unusable { .. }), "{e:?}");
    assert!(e.to_string().contains("put-bucket-versioning"), "{e}");

    let (_, locked) = locked_store(&server, "hoop/prod").await;
    locked.check().await.unwrap();
}

/// The fix printed for an unversioned bucket without Object Lock works when run in its order;
/// Object Lock first is what S3 (and moto) refuse with InvalidBucketState.
#[tokio::test]
async fn s3_the_fix_for_an_unversioned_bucket_works_in_the_order_printed() {
    let server = S3Server::start().await;
    let bucket = bucket_name();
    server
        .client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let store = server.store(&bucket, "").await;
    let e = store.check().await.unwrap_err();
    assert!(matches!(e, StoreError::Unusable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("s3://{bucket} at {}", server.endpoint())),
        "the store and its endpoint are named: {text}"
    );
    let versioning = text
        .find(&format!(
            "aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled"
        ))
        .expect(&text);
    let lock = text
        .find(&format!(
            "aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration ObjectLockEnabled=Enabled"
        ))
        .expect(&text);
    assert!(versioning < lock, "versioning first: {text}");

    let lock_configuration = || {
        ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .build()
    };
    let lock_first = server
        .client()
        .put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(lock_configuration())
        .send()
        .await;
    assert_eq!(
        lock_first.as_ref().err().and_then(|e| e.code()),
        Some("InvalidBucketState"),
        "{lock_first:?}"
    );
    server
        .client()
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    server
        .client()
        .put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(lock_configuration())
        .send()
        .await
        .unwrap();
    store.check().await.expect("the fixed bucket is usable");
}

#[tokio::test]
async fn s3_outage_is_unavailable_and_transient_until_the_store_is_back() {
    let server = S3Server::start().await;
    let (_, store) = locked_store(&server, "").await;
    store
        .put(&key(MANIFEST), Bytes::from_static(b"before"), lock())
        .await
        .unwrap();

    server.set_down(true);
    let other = key("sessions/2026/12/02/s-2.manifest.json");
    let put = store
        .put(&other, Bytes::from_static(b"during"), lock())
        .await
        .unwrap_err();
    assert!(matches!(put, StoreError::Unavailable { .. }), "{put:?}");
    assert!(put.is_transient());
    let head = store.head(&key(MANIFEST)).await.unwrap_err();
    assert!(head.is_transient(), "{head:?}");
    assert!(store.check().await.unwrap_err().is_transient());
    assert!(store.list("sessions/").await.unwrap_err().is_transient());
    assert!(store.get(&key(MANIFEST)).await.unwrap_err().is_transient());

    server.set_down(false);
    store
        .put(&other, Bytes::from_static(b"after"), lock())
        .await
        .unwrap();
    assert_eq!(store.get(&key(MANIFEST)).await.unwrap(), "before");
}

#[tokio::test]
async fn s3_a_restarted_server_answers_on_the_same_endpoint_without_its_state() {
    let mut server = S3Server::start().await;
    let (bucket, store) = locked_store(&server, "").await;
    store.check().await.unwrap();

    server.stop();
    let e = store.check().await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable { .. }), "{e:?}");

    server.start_again().await;
    let e = store.check().await.unwrap_err();
    assert!(matches!(e, StoreError::Unusable { .. }), "{e:?}");
    server.create_bucket(&bucket, true).await;
    store.check().await.unwrap();
}

#[tokio::test]
async fn s3_list_get_and_get_from_work_under_a_prefix() {
    let server = S3Server::start().await;
    let (bucket, store) = locked_store(&server, "hoop/prod").await;
    assert_eq!(
        store.describe(),
        format!("s3://{bucket}/hoop/prod at {}", server.endpoint())
    );

    let objects = [
        ("sessions/2026/12/02/b.jsonl.zst", "bbbb"),
        ("sessions/2026/12/02/a.manifest.json", "a-manifest"),
        ("sessions/2026/11/30/z.manifest.json", "z"),
        ("digests/gw-1/2026/12/02/00-00-00.json", "digest"),
    ];
    for (k, v) in objects {
        store
            .put(&key(k), Bytes::from_static(v.as_bytes()), lock())
            .await
            .unwrap();
    }
    assert_eq!(
        server
            .client()
            .head_object()
            .bucket(&bucket)
            .key("hoop/prod/sessions/2026/12/02/b.jsonl.zst")
            .send()
            .await
            .unwrap()
            .content_length(),
        Some(4),
        "objects live under the store's prefix"
    );
    // Objects that are not the store's: outside the prefix, or not a valid key.
    for raw_key in [
        "other/sessions/2026/12/02/x.json",
        "hoop/prod/sessions/.hidden",
    ] {
        server
            .client()
            .put_object()
            .bucket(&bucket)
            .key(raw_key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }

    let listed = store.list("sessions/").await.unwrap();
    assert_eq!(
        listed,
        vec![
            Listed {
                key: key("sessions/2026/11/30/z.manifest.json"),
                size: 1
            },
            Listed {
                key: key("sessions/2026/12/02/a.manifest.json"),
                size: 10
            },
            Listed {
                key: key("sessions/2026/12/02/b.jsonl.zst"),
                size: 4
            },
        ]
    );
    let keys = |l: Vec<Listed>| l.into_iter().map(|l| l.key.to_string()).collect::<Vec<_>>();
    assert_eq!(keys(store.list("sessions/2026/1").await.unwrap()).len(), 3);
    assert_eq!(
        keys(store.list("sessions/2026/12/").await.unwrap()),
        [
            "sessions/2026/12/02/a.manifest.json",
            "sessions/2026/12/02/b.jsonl.zst"
        ]
    );
    assert_eq!(store.list("").await.unwrap().len(), 4);
    assert!(store.list("nothing/").await.unwrap().is_empty());

    let b = key("sessions/2026/12/02/b.jsonl.zst");
    assert_eq!(store.get(&b).await.unwrap(), "bbbb");
    assert_eq!(store.get_from(&b, 0).await.unwrap(), "bbbb");
    assert_eq!(store.get_from(&b, 1).await.unwrap(), "bbb");
    assert_eq!(store.get_from(&b, 4).await.unwrap(), "");
    let past = store.get_from(&b, 5).await.unwrap_err();
    assert!(matches!(past, StoreError::Refused { .. }), "{past:?}");

    let missing = key("sessions/2026/12/02/none.manifest.json");
    assert_eq!(store.head(&missing).await.unwrap(), None);
    assert!(matches!(
        store.get(&missing).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_from(&missing, 3).await,
        Err(StoreError::NotFound { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Folders

/// A folder of its own under the system's temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("hoop-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn folder_put_is_exclusive_and_leaves_a_read_only_file() {
    let dir = TempDir::new();
    let root = dir.path().join("archive");
    let store = FileStore::new(&root);
    store.check().await.unwrap();
    assert!(!store.has_locks());
    assert_eq!(store.describe(), format!("file://{}", root.display()));

    let bytes = Bytes::from_static(b"recording");
    store
        .put(&key(MANIFEST), bytes.clone(), lock())
        .await
        .unwrap();
    let path = key(MANIFEST).to_path(&root);
    assert_eq!(std::fs::read(&path).unwrap(), b"recording");
    assert_eq!(mode(&path), 0o444, "stored objects are read-only");

    let info = store.head(&key(MANIFEST)).await.unwrap().unwrap();
    assert_eq!(info.size, 9);
    assert_eq!(
        (info.sha256, info.lock, info.version_id),
        (None, None, None)
    );

    let again = store
        .put(&key(MANIFEST), Bytes::from_static(b"replacement"), lock())
        .await;
    assert!(
        matches!(&again, Err(StoreError::Exists { key, .. }) if key == MANIFEST),
        "{again:?}"
    );
    assert_eq!(store.get(&key(MANIFEST)).await.unwrap(), bytes);
    // No staging file is left beside the object.
    let siblings: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, ["s-1.manifest.json"]);
}

#[tokio::test]
async fn folder_list_get_and_get_from() {
    let dir = TempDir::new();
    let store = FileStore::new(dir.path());
    store.check().await.unwrap();
    for (k, v) in [
        ("sessions/2026/12/02/b.jsonl.zst", "bbbb"),
        ("sessions/2026/12/02/a.manifest.json", "a-manifest"),
        ("sessions/2026/11/30/z.manifest.json", "z"),
        ("sessions/2026/01/01/old.manifest.json", "old"),
        ("digests/gw-1/2026/12/02/00-00-00.json", "digest"),
    ] {
        store
            .put(&key(k), Bytes::from_static(v.as_bytes()), lock())
            .await
            .unwrap();
    }
    // Files that are not objects: a hidden file, an unfinished staging file.
    std::fs::write(dir.path().join("sessions/2026/12/02/.hidden"), "x").unwrap();
    std::fs::write(dir.path().join("sessions/2026/12/02/c.json#1"), "x").unwrap();

    let keys = |l: Vec<Listed>| l.into_iter().map(|l| l.key.to_string()).collect::<Vec<_>>();
    assert_eq!(
        keys(store.list("sessions/2026/1").await.unwrap()),
        [
            "sessions/2026/11/30/z.manifest.json",
            "sessions/2026/12/02/a.manifest.json",
            "sessions/2026/12/02/b.jsonl.zst",
        ]
    );
    assert_eq!(
        store.list("sessions/2026/12/").await.unwrap(),
        vec![
            Listed {
                key: key("sessions/2026/12/02/a.manifest.json"),
                size: 10
            },
            Listed {
                key: key("sessions/2026/12/02/b.jsonl.zst"),
                size: 4
            },
        ]
    );
    assert_eq!(store.list("").await.unwrap().len(), 5);
    assert_eq!(store.list("digests/").await.unwrap().len(), 1);
    assert!(store.list("nothing/").await.unwrap().is_empty());

    let b = key("sessions/2026/12/02/b.jsonl.zst");
    assert_eq!(store.get_from(&b, 0).await.unwrap(), "bbbb");
    assert_eq!(store.get_from(&b, 2).await.unwrap(), "bb");
    assert_eq!(store.get_from(&b, 4).await.unwrap(), "");
    assert!(matches!(
        store.get_from(&b, 5).await,
        Err(StoreError::Refused { .. })
    ));
    let missing = key("sessions/2026/12/02/none.manifest.json");
    assert_eq!(store.head(&missing).await.unwrap(), None);
    assert!(matches!(
        store.get(&missing).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_from(&missing, 0).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn folder_check_creates_a_private_root_and_refuses_what_is_not_a_folder() {
    let dir = TempDir::new();
    let root = dir.path().join("var/lib/hoop/archive");
    let url: StoreUrl = format!("file://{}", root.display()).parse().unwrap();
    let store = url.open(&S3Settings::default()).await.unwrap();
    assert!(!store.has_locks());
    store.check().await.unwrap();
    assert!(root.is_dir());
    assert_eq!(mode(&root), 0o700);
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "the probe leaves nothing"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = FileStore::new(&file).check().await.unwrap_err();
    assert!(matches!(e, StoreError::Unusable { .. }), "{e:?}");
    assert!(e.to_string().contains("not a folder"), "{e}");

    // Before `check` created it, a folder that does not exist cannot be used.
    let e = FileStore::new(dir.path().join("absent"))
        .put(&key(MANIFEST), Bytes::from_static(b"x"), lock())
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unusable { .. }), "{e:?}");
}
