//! The S3 store: every object put once (`If-None-Match: *`) with `ObjectLockMode=COMPLIANCE`, a
//! retain-until date and a SHA-256 checksum the server verifies; a bucket without versioning and
//! Object Lock is refused at [`WormStore::check`].
//!
//! Credentials come from the standard AWS chain (environment, profile, web identity, instance
//! metadata); they never appear in an error. The SDK retries once at most: the archiver retries
//! with its own backoff, and a store that is down must show as [`StoreError::Unavailable`] soon.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime as AwsDateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, ChecksumType, ObjectLockEnabled,
    ObjectLockMode,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::url::{BucketName, prefix_text};
use super::{HiddenObject, Listed, Lock, LockMode, ObjectInfo, StoreError, WormStore, error_chain};
use crate::archive::{ObjectKey, Prefix, Sha256};

/// Bound on opening a connection: a store that does not answer is reported, not waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on one operation, its retry included: time enough for an archive upload.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// One retry of a transient failure inside the SDK; the caller's backoff does the rest.
const MAX_ATTEMPTS: u32 = 2;
/// The region when neither the settings nor the AWS chain name one (S3's default region).
const DEFAULT_REGION: &str = "us-east-1";

/// The `[archive.s3]` settings; credentials are not among them (the AWS chain provides them).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// An S3-compatible endpoint (MinIO, a VPC endpoint). Default: AWS's endpoint for the
    /// region, or `AWS_ENDPOINT_URL(_S3)` when set.
    #[serde(default)]
    pub endpoint: Option<url::Url>,
    /// Default: the AWS chain's region (`AWS_REGION`, the profile), else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`; most
    /// S3-compatible servers need it. Default: false.
    #[serde(default)]
    pub force_path_style: bool,
}

/// A bucket (and prefix) with versioning and Object Lock.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: BucketName,
    prefix: Prefix,
    /// `prefix/`, or empty: what the bucket's keys start with.
    key_start: String,
    describe: String,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("S3Store").field(&self.describe).finish()
    }
}

impl S3Store {
    /// A store over the standard AWS configuration chain with `settings` on top.
    pub async fn connect(bucket: BucketName, prefix: Prefix, settings: &S3Settings) -> S3Store {
        S3Store::connect_with(
            bucket,
            prefix,
            settings,
            aws_config::defaults(BehaviorVersion::latest()),
        )
        .await
    }

    /// As [`S3Store::connect`], from a loader the caller prepared (explicit credentials, a
    /// profile): hoop's region, endpoint, timeouts and retries still apply.
    pub async fn connect_with(
        bucket: BucketName,
        prefix: Prefix,
        settings: &S3Settings,
        loader: ConfigLoader,
    ) -> S3Store {
        let region = RegionProviderChain::first_try(settings.region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::from_static(DEFAULT_REGION));
        let mut loader = loader
            .region(region)
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            );
        if let Some(endpoint) = &settings.endpoint {
            // `Url` always ends a bare host with `/`, which would double the path's slash.
            loader = loader.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        let sdk = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(settings.force_path_style)
            .build();
        let key_start = prefix_text(&prefix)
            .map(|p| format!("{p}/"))
            .unwrap_or_default();
        let url = format!("s3://{bucket}/{key_start}");
        let endpoint = settings
            .endpoint
            .as_ref()
            .map(|e| e.as_str().trim_end_matches('/').to_owned())
            .or_else(|| std::env::var(S3_ENDPOINT_VAR).ok())
            .or_else(|| sdk.endpoint_url().map(str::to_owned));
        let region = sdk.region().map(|r| r.as_ref().to_owned());
        S3Store {
            client: Client::from_conf(config),
            describe: describe(
                url.trim_end_matches('/'),
                endpoint.as_deref(),
                region.as_deref(),
            ),
            bucket,
            prefix,
            key_start,
        }
    }

    fn object_key(&self, key: &ObjectKey) -> String {
        key.with_prefix(&self.prefix)
    }

    fn unavailable(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Unavailable {
            store: self.describe.clone(),
            reason: reason.into(),
        }
    }

    fn unusable(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Unusable {
            store: self.describe.clone(),
            reason: reason.into(),
        }
    }

    fn refused(&self, operation: &'static str, key: &str, reason: String) -> StoreError {
        StoreError::Refused {
            store: self.describe.clone(),
            operation,
            key: key.to_owned(),
            reason,
        }
    }

    /// The error an object operation reports for a failure no operation handles itself.
    fn object_error(&self, operation: &'static str, key: &str, failure: Failure) -> StoreError {
        match failure {
            Failure::Transient(reason) => self.unavailable(reason),
            Failure::Local(reason) => self.unusable(reason),
            Failure::Status { reason, .. } => self.refused(operation, key, reason),
        }
    }

    /// The error [`WormStore::check`] reports: whatever the server refuses, the operator fixes.
    fn check_error(&self, what: &str, failure: Failure) -> StoreError {
        match failure {
            Failure::Transient(reason) => self.unavailable(reason),
            Failure::Local(reason) => self.unusable(reason),
            Failure::Status {
                status: 403,
                reason,
                ..
            } => self.unusable(format!(
                "{reason}; hoop needs s3:ListBucket, s3:GetBucketVersioning, \
                 s3:GetBucketObjectLockConfiguration, s3:PutObject, s3:PutObjectRetention, \
                 s3:GetObject and s3:GetObjectRetention on bucket {}",
                self.bucket
            )),
            Failure::Status { reason, .. } => self.unusable(format!("{what}: {reason}")),
        }
    }
}

#[async_trait]
impl WormStore for S3Store {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn has_locks(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<(), StoreError> {
        let bucket = self.bucket.as_str();
        if let Err(e) = self.client.head_bucket().bucket(bucket).send().await {
            let region = e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_owned);
            return Err(match Failure::of(e) {
                Failure::Status { status: 404, .. } => self.unusable(format!(
                    "bucket {bucket} does not exist: create it with Object Lock enabled: \
                     aws s3api create-bucket --bucket {bucket} --object-lock-enabled-for-bucket"
                )),
                Failure::Status { status: 301, .. } => self.unusable(format!(
                    "bucket {bucket} is in {}: set `region` in [archive.s3]",
                    region.map_or("another region".to_owned(), |r| format!("region {r}"))
                )),
                failure => self.check_error("the bucket cannot be reached", failure),
            });
        }

        let lock = self
            .client
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await;
        let enabled = match lock {
            Ok(out) => out
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                .is_some_and(|e| *e == ObjectLockEnabled::Enabled),
            Err(e) => match Failure::of(e) {
                Failure::Status {
                    code: Some(code), ..
                } if code == "ObjectLockConfigurationNotFoundError" => false,
                failure => {
                    return Err(
                        self.check_error("cannot read the Object Lock configuration", failure)
                    );
                }
            },
        };
        let versioning = match self
            .client
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => out.status().cloned(),
            // Some S3-compatible servers (moto among them) wrap the status in another root
            // element than S3's, which the SDK rejects: the status is still in the body.
            Err(SdkError::ServiceError(context)) if context.raw().status().is_success() => {
                versioning_status(context.raw().body().bytes().unwrap_or_default())
            }
            Err(e) => return Err(self.check_error("cannot read the versioning", Failure::of(e))),
        };
        let versioned = versioning == Some(BucketVersioningStatus::Enabled);
        if !enabled {
            return Err(self.unusable(format!(
                "bucket {bucket} does not have Object Lock enabled, so archives could be deleted \
                 or replaced: {}",
                lock_fix(bucket, versioned)
            )));
        }
        if !versioned {
            return Err(self.unusable(format!(
                "bucket {bucket} does not have versioning enabled (Object Lock needs it): aws \
                 s3api put-bucket-versioning --bucket {bucket} --versioning-configuration \
                 Status=Enabled"
            )));
        }
        Ok(())
    }

    async fn put(&self, key: &ObjectKey, bytes: Bytes, lock: Lock) -> Result<(), StoreError> {
        let object_key = self.object_key(key);
        let checksum = STANDARD.encode(Sha256::of(&bytes).as_bytes());
        let result = self
            .client
            .put_object()
            .bucket(self.bucket.as_str())
            .key(&object_key)
            .content_type(content_type(key))
            .body(ByteStream::from(bytes))
            // Object Lock requires an integrity checksum; S3 verifies this one on receipt and
            // keeps it, so `head` can report it later.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&checksum)
            .object_lock_mode(match lock.mode {
                LockMode::Compliance => ObjectLockMode::Compliance,
                LockMode::Governance => ObjectLockMode::Governance,
            })
            .object_lock_retain_until_date(to_aws(retain_until(lock.retain_until)))
            .if_none_match("*")
            .send()
            .await;
        match result {
            Ok(out) => match out.checksum_sha256() {
                Some(echoed) if echoed != checksum => Err(self.refused(
                    "put",
                    key.as_str(),
                    format!("the store recorded checksum {echoed}, not {checksum}"),
                )),
                _ => Ok(()),
            },
            Err(e) => Err(match Failure::of(e) {
                Failure::Status { status: 412, .. } => StoreError::Exists {
                    store: self.describe.clone(),
                    key: key.to_string(),
                },
                // A concurrent conditional write of the same key: retrying gets a definite
                // answer (stored, or 412 because the other write won).
                Failure::Status {
                    status: 409,
                    reason,
                    ..
                } => self.unavailable(reason),
                failure => self.object_error("put", key.as_str(), failure),
            }),
        }
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError> {
        let object_key = self.object_key(key);
        let result = self
            .client
            .head_object()
            .bucket(self.bucket.as_str())
            .key(&object_key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                return match Failure::of(e) {
                    Failure::Status { status: 404, .. } => Ok(None),
                    failure => Err(self.object_error("head", key.as_str(), failure)),
                };
            }
        };
        let lock = match (out.object_lock_mode(), out.object_lock_retain_until_date()) {
            (Some(mode), Some(until)) => lock_mode(mode).map(|mode| Lock {
                mode,
                retain_until: from_aws(until),
            }),
            _ => None,
        };
        Ok(Some(ObjectInfo {
            size: out
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            sha256: full_object_sha256(out.checksum_sha256(), out.checksum_type()),
            lock,
            version_id: out.version_id().map(str::to_owned),
        }))
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let object_key = self.object_key(key);
        let result = self
            .client
            .get_object()
            .bucket(self.bucket.as_str())
            .key(&object_key)
            // The SDK checks the bytes against the stored checksum as they arrive.
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match result {
            Ok(out) => self.read_body(out.body).await,
            Err(e) => Err(match Failure::of(e) {
                Failure::Status { status: 404, .. } => self.not_found(key),
                failure => self.object_error("get", key.as_str(), failure),
            }),
        }
    }

    async fn get_from(&self, key: &ObjectKey, offset: u64) -> Result<Bytes, StoreError> {
        if offset == 0 {
            return self.get(key).await;
        }
        let object_key = self.object_key(key);
        let result = self
            .client
            .get_object()
            .bucket(self.bucket.as_str())
            .key(&object_key)
            .range(format!("bytes={offset}-"))
            .send()
            .await;
        match result {
            Ok(out) => self.read_body(out.body).await,
            Err(e) => match Failure::of(e) {
                Failure::Status { status: 404, .. } => Err(self.not_found(key)),
                // An offset at the end is a download already complete; past it, a mistake.
                Failure::Status { status: 416, .. } => match self.head(key).await? {
                    Some(info) if info.size == offset => Ok(Bytes::new()),
                    Some(info) => Err(self.refused(
                        "get",
                        key.as_str(),
                        format!(
                            "offset {offset} is past the object's end ({} bytes)",
                            info.size
                        ),
                    )),
                    None => Err(self.not_found(key)),
                },
                failure => Err(self.object_error("get", key.as_str(), failure)),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let wanted = format!("{}{prefix}", self.key_start);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(self.bucket.as_str())
            .prefix(&wanted)
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.object_error("list", prefix, Failure::of(e)))?;
            for object in page.contents() {
                let Some(relative) = object
                    .key()
                    .and_then(|k| k.strip_prefix(self.key_start.as_str()))
                else {
                    continue;
                };
                if let Ok(key) = ObjectKey::parse(relative) {
                    listed.push(Listed {
                        key,
                        size: object
                            .size()
                            .and_then(|n| u64::try_from(n).ok())
                            .unwrap_or(0),
                    });
                }
            }
        }
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }

    async fn hidden(&self, prefix: &str) -> Result<Vec<HiddenObject>, StoreError> {
        let wanted = format!("{}{prefix}", self.key_start);
        // Per key: its object versions (newest first, as S3 lists them) and whether its
        // current version is a delete marker.
        let mut keys: std::collections::BTreeMap<String, (Vec<String>, Option<String>)> =
            std::collections::BTreeMap::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(self.bucket.as_str())
                .prefix(&wanted)
                .set_key_marker(markers.0.take())
                .set_version_id_marker(markers.1.take())
                .send()
                .await
                .map_err(|e| self.object_error("list versions", prefix, Failure::of(e)))?;
            for version in page.versions() {
                if let (Some(key), Some(id)) = (version.key(), version.version_id()) {
                    keys.entry(key.to_owned())
                        .or_default()
                        .0
                        .push(id.to_owned());
                }
            }
            for marker in page.delete_markers() {
                if let (Some(key), Some(id), Some(true)) =
                    (marker.key(), marker.version_id(), marker.is_latest())
                {
                    keys.entry(key.to_owned()).or_default().1 = Some(id.to_owned());
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            markers = (
                page.next_key_marker().map(str::to_owned),
                page.next_version_id_marker().map(str::to_owned),
            );
            if markers.0.is_none() {
                break;
            }
        }
        let b = &self.bucket;
        let mut hidden = Vec::new();
        for (full, (versions, marker)) in keys {
            let Some(key) = full
                .strip_prefix(self.key_start.as_str())
                .and_then(|k| ObjectKey::parse(k).ok())
            else {
                continue;
            };
            // hoop writes each key once (If-None-Match): a marker on top, or a second version,
            // is someone else's doing.
            if let Some(marker) = marker {
                hidden.push(HiddenObject {
                    key,
                    by: format!("a delete marker ({marker})"),
                    restore: format!(
                        "aws s3api delete-object --bucket {b} --key {full} --version-id {marker}"
                    ),
                });
            } else if versions.len() > 1
                && let (Some(newest), Some(original)) = (versions.first(), versions.last())
            {
                hidden.push(HiddenObject {
                    key,
                    by: format!(
                        "{} newer versions put over the original (the current is {newest})",
                        versions.len() - 1
                    ),
                    restore: format!(
                        "the original is version {original}: aws s3api get-object --bucket {b} \
                         --key {full} --version-id {original} <file>; remove the newer versions \
                         once their retention allows (hoop writes each key once)"
                    ),
                });
            }
        }
        Ok(hidden)
    }
}

impl S3Store {
    fn not_found(&self, key: &ObjectKey) -> StoreError {
        StoreError::NotFound {
            store: self.describe.clone(),
            key: key.to_string(),
        }
    }

    async fn read_body(&self, body: ByteStream) -> Result<Bytes, StoreError> {
        body.collect()
            .await
            .map(|data| data.into_bytes())
            .map_err(|e| self.unavailable(format!("reading the object: {}", error_chain(&e))))
    }
}

/// What went wrong with one request, before an operation decides what it means.
enum Failure {
    /// Unreachable, timed out, a server error or throttling: retrying can succeed.
    Transient(String),
    /// The server answered with a client error.
    Status {
        status: u16,
        code: Option<String>,
        reason: String,
    },
    /// The request could not be made: no credentials, a setting the SDK rejects.
    Local(String),
}

/// Error codes S3 answers with a 4xx but that clear by themselves.
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
];

impl Failure {
    fn of<E>(error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match &error {
            SdkError::ConstructionFailure(_) => Failure::Local(format!(
                "the request cannot be made: {}",
                error_chain(&error)
            )),
            SdkError::TimeoutError(_) => Failure::Transient("the request timed out".into()),
            SdkError::DispatchFailure(_) => {
                Failure::Transient(format!("cannot reach it: {}", error_chain(&error)))
            }
            SdkError::ResponseError(_) => {
                Failure::Transient(format!("unreadable response: {}", error_chain(&error)))
            }
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let service = context.err();
                // Only the code and the message: the raw body of some errors (a signature
                // mismatch) echoes the access key id and the string that was signed.
                let code = service.code().map(str::to_owned);
                let reason = match (service.code(), service.message()) {
                    (Some(c), Some(m)) => format!("{c}: {m} (HTTP {status})"),
                    (Some(c), None) => format!("{c} (HTTP {status})"),
                    _ => format!("HTTP {status}"),
                };
                if status >= 500
                    || status == 429
                    || code
                        .as_deref()
                        .is_some_and(|c| TRANSIENT_CODES.contains(&c))
                {
                    Failure::Transient(reason)
                } else {
                    Failure::Status {
                        status,
                        code,
                        reason,
                    }
                }
            }
            _ => Failure::Transient(error_chain(&error)),
        }
    }
}

/// S3 keeps retain-until dates to the second; rounding up keeps the date it reports equal to
/// the one put, and the retention never shorter than asked.
fn retain_until(at: DateTime<Utc>) -> DateTime<Utc> {
    let whole = at.timestamp();
    let secs = if at.timestamp_subsec_nanos() > 0 {
        whole + 1
    } else {
        whole
    };
    DateTime::from_timestamp(secs, 0).unwrap_or(at)
}

fn to_aws(at: DateTime<Utc>) -> AwsDateTime {
    AwsDateTime::from_secs_and_nanos(at.timestamp(), at.timestamp_subsec_nanos())
}

fn from_aws(at: &AwsDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(at.secs(), at.subsec_nanos()).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn lock_mode(mode: &ObjectLockMode) -> Option<LockMode> {
    match mode {
        ObjectLockMode::Compliance => Some(LockMode::Compliance),
        ObjectLockMode::Governance => Some(LockMode::Governance),
        _ => None,
    }
}

/// The SHA-256 of the whole object, when S3 reports one: a multipart object's composite
/// checksum (`<base64>-<parts>`) is a hash of part hashes, not of the bytes.
fn full_object_sha256(value: Option<&str>, kind: Option<&ChecksumType>) -> Option<Sha256> {
    if kind == Some(&ChecksumType::Composite) {
        return None;
    }
    let value = value?;
    if value.contains('-') {
        return None;
    }
    let bytes: [u8; 32] = STANDARD.decode(value).ok()?.try_into().ok()?;
    Some(Sha256::from_bytes(bytes))
}

/// The `<Status>` of a GetBucketVersioning answer, whatever element encloses it.
fn versioning_status(body: &[u8]) -> Option<BucketVersioningStatus> {
    let body = std::str::from_utf8(body).ok()?;
    let (_, rest) = body.split_once("<Status>")?;
    let (status, _) = rest.split_once("</Status>")?;
    Some(BucketVersioningStatus::from(status.trim()))
}

/// Media types by the archive layout's suffixes, for whoever browses the bucket.
fn content_type(key: &ObjectKey) -> &'static str {
    let key = key.as_str();
    if key.ends_with(".json") {
        "application/json"
    } else if key.ends_with(".zst") {
        "application/zstd"
    } else {
        "application/octet-stream"
    }
}

/// `AWS_ENDPOINT_URL_S3`: the S3 endpoint the AWS chain takes before `AWS_ENDPOINT_URL`.
const S3_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_S3";

/// How a store is named in messages: its URL and where its requests go, an endpoint that was
/// set (`[archive.s3] endpoint`, `AWS_ENDPOINT_URL`) or else AWS's endpoint of the region.
fn describe(url: &str, endpoint: Option<&str>, region: Option<&str>) -> String {
    match (endpoint, region) {
        (Some(endpoint), _) => format!("{url} at {endpoint}"),
        (None, Some(region)) => format!("{url} in {region}"),
        (None, None) => url.to_owned(),
    }
}

/// How to give a bucket Object Lock, in an order S3 accepts: Object Lock can be enabled on an
/// existing bucket only once its versioning is `Enabled` (else `InvalidBucketState:
/// Versioning must be 'Enabled'`), so an unversioned bucket gets versioning first.
fn lock_fix(bucket: &str, versioned: bool) -> String {
    let lock = format!(
        "aws s3api put-object-lock-configuration --bucket {bucket} \
         --object-lock-configuration ObjectLockEnabled=Enabled"
    );
    let new_bucket = "or create a new bucket with it from the start: aws s3api create-bucket \
                      --bucket <name> --object-lock-enabled-for-bucket";
    if versioned {
        format!("enable it on this bucket: {lock}; {new_bucket}")
    } else {
        format!(
            "enable versioning first, then Object Lock (S3 refuses Object Lock on a bucket whose \
             versioning is not Enabled): 1. aws s3api put-bucket-versioning --bucket {bucket} \
             --versioning-configuration Status=Enabled 2. {lock}; {new_bucket}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_until_rounds_up_to_the_second() {
        let exact = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(retain_until(exact), exact);
        let later = DateTime::from_timestamp(1_800_000_000, 1).unwrap();
        assert_eq!(retain_until(later).timestamp(), 1_800_000_001);
        assert_eq!(from_aws(&to_aws(later)), later);
    }

    #[test]
    fn only_full_object_checksums_are_hashes_of_the_bytes() {
        let sha = Sha256::of(b"hello");
        let b64 = STANDARD.encode(sha.as_bytes());
        assert_eq!(full_object_sha256(Some(&b64), None), Some(sha));
        assert_eq!(
            full_object_sha256(Some(&b64), Some(&ChecksumType::FullObject)),
            Some(sha)
        );
        assert_eq!(
            full_object_sha256(Some(&b64), Some(&ChecksumType::Composite)),
            None
        );
        assert_eq!(full_object_sha256(Some(&format!("{b64}-3")), None), None);
        assert_eq!(full_object_sha256(Some("AAAA"), None), None);
        assert_eq!(full_object_sha256(None, None), None);
    }

    #[test]
    fn the_versioning_status_is_read_from_any_root() {
        let s3 = br#"<VersioningConfiguration xmlns="x"><Status>Enabled</Status></VersioningConfiguration>"#;
        assert_eq!(versioning_status(s3), Some(BucketVersioningStatus::Enabled));
        let other = br#"<GetBucketVersioningResponse><Status>Suspended</Status></GetBucketVersioningResponse>"#;
        assert_eq!(
            versioning_status(other),
            Some(BucketVersioningStatus::Suspended)
        );
        assert_eq!(versioning_status(b"<VersioningConfiguration/>"), None);
    }

    #[test]
    fn settings_reject_unknown_fields() {
        let s: S3Settings = toml::from_str(
            "endpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\nforce_path_style = true",
        )
        .unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert!(s.force_path_style);
        assert!(toml::from_str::<S3Settings>("bucket = \"x\"").is_err());
    }
    #[test]
    fn the_object_lock_fix_enables_versioning_first_on_an_unversioned_bucket() {
        let fix = lock_fix("evidence", false);
        let versioning = fix
            .find("aws s3api put-bucket-versioning --bucket evidence --versioning-configuration Status=Enabled")
            .expect(&fix);
        let lock = fix
            .find("aws s3api put-object-lock-configuration --bucket evidence --object-lock-configuration ObjectLockEnabled=Enabled")
            .expect(&fix);
        assert!(versioning < lock, "versioning must come first: {fix}");
        assert!(fix.contains("--object-lock-enabled-for-bucket"), "{fix}");

        let fix = lock_fix("evidence", true);
        assert!(!fix.contains("put-bucket-versioning"), "{fix}");
        assert!(
            fix.contains("put-object-lock-configuration --bucket evidence"),
            "{fix}"
        );
    }

    #[test]
    fn a_store_is_described_with_where_its_requests_go() {
        assert_eq!(
            describe("s3://b/p", Some("http://127.0.0.1:9000"), Some("us-east-1")),
            "s3://b/p at http://127.0.0.1:9000"
        );
        assert_eq!(
            describe("s3://b", None, Some("eu-west-1")),
            "s3://b in eu-west-1"
        );
        assert_eq!(describe("s3://b", None, None), "s3://b");
    }
}
