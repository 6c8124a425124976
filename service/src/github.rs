//! What every GitHub REST call of hoop needs to agree on: which repository names may go into a
//! request path, and how an error body reads. Used by the run watcher and the approval
//! notifications.

use serde::Deserialize;

/// `owner/name` when both parts are plain GitHub names (letters, digits, `-`, `_`, `.`; not
/// `.` or `..`), so a claim can never add path segments, a query or a fragment to a request.
pub fn repository_path(repository: &str) -> Option<String> {
    let (owner, name) = repository.split_once('/')?;
    let plain = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (plain(owner) && plain(name)).then(|| format!("{owner}/{name}"))
}

/// An error body: `{"message": "...", "documentation_url": "..."}`.
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

/// The API's `message`, or the start of the body.
pub fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_owner_name_pairs_become_paths() {
        assert_eq!(
            repository_path("acme/pay.ments-2_x").as_deref(),
            Some("acme/pay.ments-2_x")
        );
        for bad in [
            "acme", "acme/", "/x", "a/b/c", "a/..", "a/b?x=1", "a/b#c", "a/b c", "a/%2e%2e",
        ] {
            assert_eq!(repository_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_messages_come_from_the_json_or_the_body() {
        assert_eq!(
            error_message(br#"{"message":"Bad credentials","documentation_url":"x"}"#),
            "Bad credentials"
        );
        assert_eq!(error_message(b"<html>oops</html>"), "<html>oops</html>");
    }
}
