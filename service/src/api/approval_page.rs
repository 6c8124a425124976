//! `GET /approvals/{id}`: the page a held statement's notice (and every notification) links
//! to, for a person who opens it in a browser.
//!
//! It needs no sign-in, so it shows nothing an approver token protects: not the statement, not
//! the run or its claims, not even whether the approval exists (the page is the same for any
//! well-formed id, and reads no state). It names the approval id from the address and says how
//! an approver sees and decides it with `hoop approvals`, and how to get an approver token. A
//! dashboard page will take its place.
//!
//! The id is an [`ApprovalId`] in its one spelling; anything else is a 404 page. Every text put
//! into the HTML is escaped ([`escape`]); the answer carries a Content-Security-Policy that
//! allows nothing to load or run (`default-src 'none'`) and no framing, `nosniff` and
//! `no-referrer`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiState;
use crate::base::ApprovalId;

/// The page's own path for an approval: where [`crate::approvals::Approvals::url_of`] points.
pub(super) const ROUTE: &str = "/approvals/{id}";

/// Most characters of a bad id echoed back on the 404 page.
const MAX_ECHOED_CHARS: usize = 80;

pub(super) async fn page(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    match id {
        Ok(Path(text)) => match ApprovalId::parse(&text) {
            Ok(id) => html(
                StatusCode::OK,
                &instructions(id, state.approvals.public_url()),
            ),
            Err(_) => html(StatusCode::NOT_FOUND, &not_an_id(Some(&text))),
        },
        // Not UTF-8 once percent-decoded: nothing worth echoing.
        Err(_) => html(StatusCode::NOT_FOUND, &not_an_id(None)),
    }
}

/// An HTML answer with the headers every page of hoop carries.
fn html(status: StatusCode, body: &str) -> Response {
    let mut response = (status, body.to_owned()).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // Nothing loads, nothing runs (not even inline), nobody frames it, no form posts.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `text` safe inside an HTML element or a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` is plain text, `body` is HTML already escaped.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n</head>\n<body>\n\
         {body}</body>\n</html>\n",
        title = escape(title),
    )
}

/// How an approver sees and decides approval `id`, against the API at `public_url`.
fn instructions(id: ApprovalId, public_url: &str) -> String {
    let url = escape(public_url);
    let id = escape(&id.to_string());
    let command = |args: &str| format!("<pre><code>hoop approvals {args}</code></pre>\n");
    let body = format!(
        "<h1>hoop approval <code>{id}</code></h1>\n\
         <p>A CI job sent a statement that a policy rule holds until an approver decides. The \
         job waits until it is approved, denied, withdrawn or timed out.</p>\n\
         <p>This page needs no sign-in, so it shows nothing of the statement or the run: an \
         approver reads them with the <code>hoop</code> command line and their approver \
         token.</p>\n\
         <h2>1. See the held statement</h2>\n{show}\
         <p>It prints the whole statement, its rule, the run that sent it and who started \
         it. Read the statement to its end before you decide.</p>\n\
         <h2>2. Approve or deny it</h2>\n{approve}\
         <p>Add <code>--for-run</code> to also let the same statement (other constants, same \
         names) run for the rest of this run, and <code>--comment \"…\"</code> to say \
         why.</p>\n{deny}\
         <p>The job gets an error with your comment; the statement does not run.</p>\n\
         <p>You may not decide a statement of a run you started yourself (dual control).</p>\n\
         <h2>An approver token</h2>\n\
         <p>The commands read the token from the <code>HOOP_APPROVER_TOKEN</code> variable (or \
         <code>--token-file</code>), and the hoop address from <code>--url</code> or \
         <code>HOOP_URL</code>:</p>\n\
         <pre><code>export HOOP_URL={url}\nexport HOOP_APPROVER_TOKEN=hoopapr_…</code></pre>\n\
         <p>No token yet? Run <code>hoop approvals token</code>: it prints a new token and the \
         <code>[[approvals.approvers]]</code> entry (the token's SHA-256, and your GitHub or \
         GitLab user id) that hoop's operators add to its configuration. Keep the token to \
         yourself; hoop stores only its hash.</p>\n\
         <h2>Programs</h2>\n\
         <p>The same through the API, with the token as <code>Authorization: Bearer</code>: \
         <code>GET {url}/v1/approvals/{id}</code>, <code>POST …/approve</code>, \
         <code>POST …/deny</code>.</p>\n\
         <p><small>A dashboard page will replace this one.</small></p>\n",
        show = command(&format!("show {id} --url {url}")),
        approve = command(&format!("approve {id} --url {url}")),
        deny = command(&format!("deny {id} --url {url} --comment \"why not\"")),
    );
    document(&format!("hoop approval {id}"), &body)
}

/// The 404 page of an address that names no approval; `text`, the id as given, is echoed
/// shortened and escaped.
fn not_an_id(text: Option<&str>) -> String {
    let given = match text {
        Some(text) => {
            let mut shown: String = text.chars().take(MAX_ECHOED_CHARS).collect();
            if shown.len() < text.len() {
                shown.push('…');
            }
            format!(
                "<p><code>{}</code> is not an approval id.</p>\n",
                escape(&crate::display::line(&shown))
            )
        }
        None => String::new(),
    };
    let body = format!(
        "<h1>No such approval</h1>\n{given}\
         <p>An approval id is a UUID in lower-case hyphenated form, like \
         <code>5f1c0c5e-8d0b-4c1e-9a57-3c1f7a0e2b11</code>. Copy the whole address from the \
         notice the job printed (<code>hoop approval …: statement held for approval</code>), \
         or list what is waiting with <code>hoop approvals list</code>.</p>\n"
    );
    document("hoop: no such approval", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5f1c0c5e-8d0b-4c1e-9a57-3c1f7a0e2b11";

    #[test]
    fn markup_in_any_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        let page = not_an_id(Some("<img src=x onerror=alert(1)>"));
        assert!(!page.contains("<img"), "{page}");
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{page}"
        );
        // The configured address is escaped too.
        let page = instructions(
            ApprovalId::parse(ID).unwrap(),
            "https://hoop.example/\"><b>",
        );
        assert!(!page.contains("\"><b>"), "{page}");
    }

    #[test]
    fn the_page_names_the_id_and_the_commands_and_a_bad_id_is_shortened() {
        let page = instructions(ApprovalId::parse(ID).unwrap(), "https://hoop.example");
        for part in [
            format!("hoop approvals show {ID} --url https://hoop.example"),
            format!("hoop approvals approve {ID} --url https://hoop.example"),
            format!("hoop approvals deny {ID} --url https://hoop.example --comment"),
            "hoop approvals token".to_owned(),
            "HOOP_APPROVER_TOKEN".to_owned(),
            "dashboard".to_owned(),
        ] {
            assert!(page.contains(&part), "{part} missing from {page}");
        }
        let long = "x".repeat(500);
        let page = not_an_id(Some(&long));
        assert!(page.contains(&format!("{}…", "x".repeat(MAX_ECHOED_CHARS))));
        assert!(!page.contains(&"x".repeat(MAX_ECHOED_CHARS + 1)));
        // Hidden characters in the address are shown, not rendered.
        assert!(not_an_id(Some("a\u{202e}b")).contains("a\\u{202e}b"));
    }
}
