//! The transport the gitlab crate's typed endpoints run on, shared by the run watcher and the
//! approval notifications.
//!
//! The crate's own `AsyncGitlab` is not used: building it calls `GET /user` and fails when
//! GitLab is unreachable at that moment, and it takes a host name where hoop configures a URL.
//! [`GitlabRest`] implements the crate's `RestClient`/`AsyncClient` traits with reqwest
//! (rustls), a timeout, and the token in `PRIVATE-TOKEN` (marked sensitive); the crate still
//! builds each request and reads each answer, 429 rate-limit headers included. Redirects are
//! not followed: reqwest strips `Authorization` on a cross-origin redirect, not `PRIVATE-TOKEN`.

use std::time::Duration;

use bytes::Bytes;
use gitlab::api::{ApiError, AsyncClient, RestClient};
use http::HeaderValue;
use url::Url;

use crate::base::Secret;

/// Errors of the transport itself (the crate wraps them in `ApiError::Client`).
#[derive(Debug, thiserror::Error)]
pub enum GitlabRestError {
    #[error("the token cannot be sent in an HTTP header (a newline or control character?)")]
    BadToken,
    #[error("{instance} is not a usable GitLab URL: {source}")]
    BadUrl {
        instance: String,
        source: url::ParseError,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("invalid request: {0}")]
    Request(#[from] http::Error),
    /// Connecting, sending or reading failed; the URL is left out (it is in the endpoint).
    #[error("{0}")]
    Transport(#[source] reqwest::Error),
}

pub struct GitlabRest {
    http: reqwest::Client,
    /// `<instance>/api/v4/`.
    api: Url,
    token: HeaderValue,
}

impl GitlabRest {
    /// `instance` is the GitLab URL (`https://gitlab.com`, or a self-managed one, with a path
    /// if GitLab is served under one).
    pub fn new(
        instance: &str,
        token: &Secret,
        timeout: Duration,
    ) -> Result<GitlabRest, GitlabRestError> {
        let mut token =
            HeaderValue::from_str(token.expose()).map_err(|_| GitlabRestError::BadToken)?;
        token.set_sensitive(true);
        let api = Url::parse(&format!("{}/api/v4/", instance.trim_end_matches('/'))).map_err(
            |source| GitlabRestError::BadUrl {
                instance: instance.to_owned(),
                source,
            },
        )?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hoop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(GitlabRestError::Client)?;
        Ok(GitlabRest { http, api, token })
    }

    /// The REST base, `<instance>/api/v4/`.
    pub fn api(&self) -> &Url {
        &self.api
    }
}

impl RestClient for GitlabRest {
    type Error = GitlabRestError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<Url, ApiError<Self::Error>> {
        Ok(self.api.join(endpoint)?)
    }
}

#[async_trait::async_trait]
impl AsyncClient for GitlabRest {
    async fn rest_async(
        &self,
        mut request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, ApiError<Self::Error>> {
        let transport =
            |e: reqwest::Error| ApiError::client(GitlabRestError::Transport(e.without_url()));
        if let Some(headers) = request.headers_mut() {
            headers.insert("PRIVATE-TOKEN", self.token.clone());
        }
        let request = request
            .body(body)
            .map_err(|e| ApiError::client(GitlabRestError::from(e)))?;
        let request = reqwest::Request::try_from(request).map_err(transport)?;
        let response = self.http.execute(request).await.map_err(transport)?;
        let mut reply = http::Response::builder().status(response.status());
        if let Some(headers) = reply.headers_mut() {
            headers.extend(response.headers().clone());
        }
        let bytes = response.bytes().await.map_err(transport)?;
        reply
            .body(bytes)
            .map_err(|e| ApiError::client(GitlabRestError::from(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_base_keeps_a_path_prefix() {
        let token = Secret::new("t");
        for (instance, expected) in [
            ("https://gitlab.com", "https://gitlab.com/api/v4/"),
            (
                "https://example.com/gitlab/",
                "https://example.com/gitlab/api/v4/",
            ),
        ] {
            let rest = GitlabRest::new(instance, &token, Duration::from_secs(1)).unwrap();
            assert_eq!(rest.api().as_str(), expected);
            assert_eq!(
                rest.rest_endpoint("projects/7/jobs/71").unwrap().as_str(),
                format!("{expected}projects/7/jobs/71")
            );
        }
        let bad = GitlabRest::new(
            "https://gitlab.com",
            &Secret::new("a\nb"),
            Duration::from_secs(1),
        );
        assert!(matches!(bad, Err(GitlabRestError::BadToken)));
    }
}
