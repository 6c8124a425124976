//! Which URLs hoop calls: tokens, keys and approvals travel only over TLS.

use url::Url;

/// https, or http to a loopback host (test and demo issuers, local stand-ins).
pub fn is_secure_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_secure() {
        for ok in [
            "https://example.com",
            "http://127.0.0.1:8080",
            "http://[::1]/x",
            "http://localhost/",
        ] {
            assert!(is_secure_url(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "ftp://localhost",
            "http://localhost.example.com",
        ] {
            assert!(!is_secure_url(&bad.parse().unwrap()), "{bad}");
        }
    }
}
