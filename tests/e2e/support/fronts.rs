//! Small HTTP listeners that stand between a CI job and hoop's API, on loopback: a front (a load
//! balancer) that answers 503 a number of times before it passes connections through, a forward
//! proxy (absolute-form requests and CONNECT) that records what it was asked for, and a plain
//! HTTP server that is not hoop, and one that answers as hoop would with a fixed exchange answer.
//! Each serves until dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A listener task, aborted on drop.
struct Serving(JoinHandle<()>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Reads one request's head (through the blank line) and its body (`Content-Length`), so that
/// an answer and a close do not reset a connection with unread bytes. Returns the head and
/// whatever was read past it.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut rest = buf[head_end..].to_vec();
    while rest.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&chunk[..n]);
    }
    Some((head, rest))
}

async fn answer(stream: &mut TcpStream, status: &str, headers: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A load balancer in front of `upstream` (`http://host:port`): the first `failures`
/// connections get `503 Service Unavailable` (not hoop's answer: no `x-hoop-api`), the others
/// are passed through.
pub struct Front {
    pub url: String,
    connections: Arc<AtomicUsize>,
    _serving: Serving,
}

impl Front {
    pub async fn start(upstream: &str, failures: usize) -> Front {
        let (listener, url) = bind().await;
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if n < failures {
                        if read_request(&mut client).await.is_some() {
                            let page = "<html><body><h1>503 Service Unavailable</h1>No server is available to handle this request.</body></html>\n";
                            answer(&mut client, "503 Service Unavailable", "", page).await;
                        }
                    } else if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Front {
            url,
            connections,
            _serving: Serving(task),
        }
    }

    /// Connections accepted so far (one per curl request).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// An HTTP proxy: `CONNECT host:port` tunnels, and absolute-form requests
/// (`POST http://host:port/path`) are forwarded in origin form. It records each request line.
pub struct ForwardProxy {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    _serving: Serving,
}

impl ForwardProxy {
    pub async fn start() -> ForwardProxy {
        let (listener, url) = bind().await;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(proxy_one(client, seen));
            }
        });
        ForwardProxy {
            url,
            requests,
            _serving: Serving(task),
        }
    }

    /// The request lines received (`POST http://127.0.0.1:PORT/v1/exchange HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn proxy_one(mut client: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let Some((head, rest)) = read_request(&mut client).await else {
        return;
    };
    let line = head.lines().next().unwrap_or_default().to_owned();
    seen.lock().unwrap().push(line.clone());
    let mut parts = line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if method == "CONNECT" {
        let Ok(mut server) = TcpStream::connect(target).await else {
            answer(&mut client, "502 Bad Gateway", "", "").await;
            return;
        };
        let _ = client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await;
        let _ = server.write_all(&rest).await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
    let Some(after_scheme) = target.strip_prefix("http://") else {
        answer(&mut client, "400 Bad Request", "", "").await;
        return;
    };
    let (authority, path) = match after_scheme.find('/') {
        Some(i) => (&after_scheme[..i], &after_scheme[i..]),
        None => (after_scheme, "/"),
    };
    let Ok(mut server) = TcpStream::connect(authority).await else {
        answer(&mut client, "502 Bad Gateway", "", "").await;
        return;
    };
    let origin_head = head.replacen(&line, &format!("{method} {path} {version}"), 1);
    let _ = server.write_all(origin_head.as_bytes()).await;
    let _ = server.write_all(&rest).await;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// A plain HTTP server that is not hoop: every request gets `404` and an HTML page, or a
/// redirect.
pub struct NotHoop {
    pub url: String,
    _serving: Serving,
}

impl NotHoop {
    pub async fn start() -> NotHoop {
        NotHoop::answering("404 Not Found", "").await
    }

    /// Every request is redirected (`301`) to `location`, as an http-to-https redirect does.
    pub async fn redirecting_to(location: &str) -> NotHoop {
        NotHoop::answering(
            "301 Moved Permanently",
            &format!("Location: {location}\r\n"),
        )
        .await
    }

    async fn answering(status: &str, headers: &str) -> NotHoop {
        let (listener, url) = bind().await;
        let status = status.to_owned();
        let headers = format!("Server: nginx\r\n{headers}");
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (status, headers) = (status.clone(), headers.clone());
                tokio::spawn(async move {
                    if read_request(&mut client).await.is_some() {
                        let page = format!(
                            "<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>\n"
                        );
                        answer(&mut client, &status, &headers, &page).await;
                    }
                });
            }
        });
        NotHoop {
            url,
            _serving: Serving(task),
        }
    }
}

/// An HTTPS front for `upstream` (`http://host:port`), as a TLS-terminating load balancer:
/// its certificate, for `localhost`, is signed by a private CA of its own (`ca_pem`).
pub struct TlsFront {
    /// `https://localhost:PORT`
    pub url: String,
    pub ca_pem: String,
    _serving: Serving,
}

impl TlsFront {
    pub async fn start(upstream: &str) -> TlsFront {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A subject of its own: a leaf whose issuer equals its subject reads as self-signed.
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hoop e2e TLS front CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf.signed_by(&key, &issuer).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}",
            listener.local_addr().unwrap().port()
        );
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                    }
                });
            }
        });
        TlsFront {
            url,
            ca_pem: ca.pem(),
            _serving: Serving(task),
        }
    }
}

/// An API that answers as hoop does (`x-hoop-api: 1`) with a fixed answer: every `POST` gets
/// `201 Created` with `exchange` (a JSON document), every `DELETE` `204 No Content`. Records
/// each request's line (`DELETE /v1/credentials/...`).
pub struct FakeHoop {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    _serving: Serving,
}

impl FakeHoop {
    pub async fn answering(exchange: &str) -> FakeHoop {
        let (listener, url) = bind().await;
        let exchange = exchange.to_owned();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (exchange, seen) = (exchange.clone(), seen.clone());
                tokio::spawn(async move {
                    let Some((head, _)) = read_request(&mut client).await else {
                        return;
                    };
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    seen.lock().unwrap().push(line.clone());
                    let response = if line.starts_with("POST ") {
                        format!(
                            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nx-hoop-api: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{exchange}",
                            exchange.len()
                        )
                    } else {
                        "HTTP/1.1 204 No Content\r\nx-hoop-api: 1\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    };
                    let _ = client.write_all(response.as_bytes()).await;
                    let _ = client.shutdown().await;
                });
            }
        });
        FakeHoop {
            url,
            requests,
            _serving: Serving(task),
        }
    }

    /// The request lines received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}
