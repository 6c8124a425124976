//! Where the archive store is: `s3://bucket[/prefix]`, `file:///abs/path`, `file:rel/path` or a
//! plain path. Parsed once, at configuration load, into a typed location; [`StoreUrl::open`]
//! builds the store it names.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;

use super::{FileStore, S3Settings, S3Store, StoreError, WormStore};
use crate::archive::{ObjectKey, Prefix};

/// The archive store's location, as configured.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum StoreUrl {
    /// A bucket with Object Lock, objects under `prefix`.
    S3 { bucket: BucketName, prefix: Prefix },
    /// A folder; a relative path is relative to hoop's working directory.
    File(PathBuf),
}

impl StoreUrl {
    /// Builds the store this URL names. Nothing is contacted yet: [`WormStore::check`] does
    /// that.
    pub async fn open(&self, s3: &S3Settings) -> Result<Arc<dyn WormStore>, StoreError> {
        Ok(match self {
            StoreUrl::S3 { bucket, prefix } => {
                Arc::new(S3Store::connect(bucket.clone(), prefix.clone(), s3).await)
            }
            StoreUrl::File(path) => Arc::new(FileStore::new(path.clone())),
        })
    }
}

impl FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: text.escape_default().to_string(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(invalid(
                "it is empty: use s3://bucket[/prefix], file:///path or a path".into(),
            ));
        }
        match scheme(text) {
            None => Ok(StoreUrl::File(PathBuf::from(text))),
            Some("s3") => {
                let rest = text
                    .strip_prefix("s3://")
                    .ok_or_else(|| invalid("an S3 URL is s3://bucket[/prefix]".into()))?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let bucket = BucketName::new(bucket).map_err(invalid)?;
                let prefix =
                    Prefix::new(prefix).map_err(|e| invalid(format!("the prefix: {e}")))?;
                Ok(StoreUrl::S3 { bucket, prefix })
            }
            Some("file") => file_path(text).map(StoreUrl::File).map_err(invalid),
            Some(other) => Err(invalid(format!(
                "unknown scheme `{other}`: use s3://bucket[/prefix], file:///path or a path"
            ))),
        }
    }
}

/// The URL scheme, when `text` starts with one (`letter *(letter / digit / + - .) ":"`). A
/// colon after a `/` belongs to a plain path, not to a scheme.
fn scheme(text: &str) -> Option<&str> {
    let (head, _) = text.split_once(':')?;
    let mut chars = head.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(head)
}

/// `file:///abs/path` (percent-decoded, as every file URL) or `file:relative/path`.
fn file_path(text: &str) -> Result<PathBuf, String> {
    if text.starts_with("file://") {
        let url = url::Url::parse(text).map_err(|e| format!("not a file URL: {e}"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err("a file URL has no query or fragment".into());
        }
        return url.to_file_path().map_err(|()| {
            "a file URL names a local absolute path: file:///var/lib/hoop/archive".into()
        });
    }
    match text.strip_prefix("file:") {
        Some(rest) if !rest.is_empty() => Ok(PathBuf::from(rest)),
        _ => Err("the path is empty: use file:///absolute/path or file:relative/path".into()),
    }
}

impl TryFrom<String> for StoreUrl {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, StoreError> {
        value.parse()
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::S3 { bucket, prefix } => match prefix_text(prefix) {
                Some(p) => write!(f, "s3://{bucket}/{p}"),
                None => write!(f, "s3://{bucket}"),
            },
            StoreUrl::File(path) => f.write_str(&file_text(path)),
        }
    }
}

/// How a folder is shown: an absolute path as a `file://` URL, a relative one as `file:path`,
/// both parsing back to the same [`StoreUrl`].
pub(super) fn file_text(path: &Path) -> String {
    if path.is_absolute()
        && let Ok(url) = url::Url::from_file_path(path)
    {
        return url.to_string();
    }
    format!("file:{}", path.display())
}

/// A prefix's text (`hoop/prod`), `None` for none. [`Prefix`] shows its text only through the
/// keys it prefixes, so it is read back from one.
pub(super) fn prefix_text(prefix: &Prefix) -> Option<String> {
    let probe = ObjectKey::parse("k").expect("`k` is a valid key");
    probe
        .with_prefix(prefix)
        .strip_suffix("/k")
        .map(str::to_owned)
}

/// An S3 bucket name, valid by S3's naming rules for general purpose buckets, so a typo is
/// found at configuration load rather than at the first upload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BucketName(String);

impl BucketName {
    /// The rules of <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>.
    pub fn new(name: &str) -> Result<Self, String> {
        let fail = |rule: &str| Err(format!("bucket name `{}` {rule}", name.escape_default()));
        if name.is_empty() {
            return Err("the bucket name is empty: s3://bucket[/prefix]".into());
        }
        if !(3..=63).contains(&name.len()) {
            return fail("must be 3 to 63 characters long");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        {
            return fail("may contain only lower-case letters, digits, `.` and `-`");
        }
        let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if !edge(name.as_bytes()[0]) || !edge(name.as_bytes()[name.len() - 1]) {
            return fail("must begin and end with a letter or a digit");
        }
        if name.contains("..") {
            return fail("must not contain two adjacent periods");
        }
        if name.parse::<std::net::Ipv4Addr>().is_ok() {
            return fail("must not look like an IP address");
        }
        for reserved in ["xn--", "sthree-", "amzn-s3-demo-"] {
            if name.starts_with(reserved) {
                return fail(&format!("must not start with the reserved `{reserved}`"));
            }
        }
        for reserved in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
            if name.ends_with(reserved) {
                return fail(&format!("must not end with the reserved `{reserved}`"));
            }
        }
        Ok(BucketName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, prefix: &str) -> StoreUrl {
        StoreUrl::S3 {
            bucket: BucketName::new(bucket).unwrap(),
            prefix: Prefix::new(prefix).unwrap(),
        }
    }

    #[test]
    fn s3_urls_name_a_bucket_and_an_optional_prefix() {
        assert_eq!(
            "s3://hoop-evidence".parse::<StoreUrl>().unwrap(),
            s3("hoop-evidence", "")
        );
        assert_eq!(
            "s3://hoop-evidence/".parse::<StoreUrl>().unwrap(),
            s3("hoop-evidence", "")
        );
        let url: StoreUrl = "s3://hoop.evidence/prod/eu-1/".parse().unwrap();
        assert_eq!(url, s3("hoop.evidence", "prod/eu-1"));
        assert_eq!(url.to_string(), "s3://hoop.evidence/prod/eu-1");
        assert_eq!(s3("abc", "").to_string(), "s3://abc");
    }

    #[test]
    fn folders_are_file_urls_or_paths() {
        let abs = PathBuf::from("/var/lib/hoop/archive");
        assert_eq!(
            "file:///var/lib/hoop/archive".parse::<StoreUrl>().unwrap(),
            StoreUrl::File(abs.clone())
        );
        assert_eq!(
            "/var/lib/hoop/archive".parse::<StoreUrl>().unwrap(),
            StoreUrl::File(abs.clone())
        );
        assert_eq!(
            "file:///var/lib/hoop%20archive"
                .parse::<StoreUrl>()
                .unwrap(),
            StoreUrl::File("/var/lib/hoop archive".into())
        );
        assert_eq!(
            "file:archive/x".parse::<StoreUrl>().unwrap(),
            StoreUrl::File("archive/x".into())
        );
        assert_eq!(
            "./a:b".parse::<StoreUrl>().unwrap(),
            StoreUrl::File("./a:b".into())
        );
        for text in [
            "file:///var/lib/hoop archive",
            "file:rel/x",
            "s3://abc/p/q",
            "s3://abc",
        ] {
            let url: StoreUrl = text.parse().unwrap();
            assert_eq!(url.to_string().parse::<StoreUrl>().unwrap(), url, "{text}");
        }
        assert_eq!(
            StoreUrl::File(abs).to_string(),
            "file:///var/lib/hoop/archive"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let reason = |text: &str| match text.parse::<StoreUrl>() {
            Err(StoreError::InvalidUrl { reason, .. }) => reason,
            other => panic!("{text}: {other:?}"),
        };
        assert!(reason("gs://bucket").contains("unknown scheme `gs`"));
        assert!(reason("s3://").contains("bucket name is empty"));
        assert!(reason("s3:///prefix").contains("bucket name is empty"));
        assert!(reason("s3:bucket").contains("s3://bucket"));
        assert!(reason("s3://ab").contains("3 to 63"));
        assert!(reason("s3://Hoop").contains("lower-case"));
        assert!(reason("s3://hoop_x").contains("lower-case"));
        assert!(reason("s3://-hoop").contains("begin and end"));
        assert!(reason("s3://hoop..x").contains("adjacent"));
        assert!(reason("s3://192.168.1.1").contains("IP address"));
        assert!(reason("s3://xn--hoop").contains("reserved"));
        assert!(reason("s3://hoop-s3alias").contains("reserved"));
        assert!(reason("s3://hoop/a/../b").contains("prefix"));
        assert!(reason("s3://hoop/a b").contains("prefix"));
        assert!(reason("s3://hoop?x=1").contains("lower-case"));
        assert!(reason("file:").contains("empty"));
        assert!(reason("file://host/x").contains("local absolute path"));
        assert!(reason("").contains("empty"));
    }

    #[test]
    fn it_deserializes_from_a_string() {
        #[derive(Deserialize)]
        struct Config {
            store: StoreUrl,
        }
        let c: Config = toml::from_str(r#"store = "s3://hoop-evidence/prod""#).unwrap();
        assert_eq!(c.store, s3("hoop-evidence", "prod"));
        let e = toml::from_str::<Config>(r#"store = "ftp://x""#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown scheme"), "{e}");
    }
}
