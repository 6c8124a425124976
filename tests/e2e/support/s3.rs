//! A real S3 server for the tests: moto (`moto_server`, from PyPI; `tests/setup` installs it)
//! on 127.0.0.1, behind a small TCP proxy that [`S3Server::set_down`] turns away, so an outage
//! can be simulated without losing moto's in-memory state. [`S3Server::stop`] and
//! [`S3Server::start_again`] restart moto itself on the same port (its state is then gone).
//!
//! It needs nothing else from the support module. hoop (in-process [`S3Server::store`], or the
//! binary with [`S3Server::env`] and [`S3Server::settings_toml`]) goes through the proxy; the
//! raw [`S3Server::client`] talks to moto directly, so checks still work while the proxy is
//! down.
//!
//! What moto 5.2 enforces, as the store tests observe: `If-None-Match: *` (412), the refusal to
//! delete a version under COMPLIANCE retention (403 AccessDenied), and a checksum algorithm or
//! Content-MD5 header on a locked put. What it does not: it keeps whatever checksum value it is
//! sent without verifying it, lets a COMPLIANCE retention be shortened or turned into
//! GOVERNANCE, and answers GetObjectRetention with the object itself.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use hoop::archive::Prefix;
use hoop::worm::{BucketName, S3Settings, S3Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

pub const ACCESS_KEY_ID: &str = "test";
pub const SECRET_ACCESS_KEY: &str = "test";
pub const REGION: &str = "us-east-1";
/// Bound on moto's start.
const START_WAIT: Duration = Duration::from_secs(30);

/// moto behind a proxy that can be set down. Dropping it kills moto and stops the proxy.
pub struct S3Server {
    moto: Option<Child>,
    moto_port: u16,
    log: PathBuf,
    proxy: Proxy,
    client: Client,
}

impl S3Server {
    /// Starts moto on a free port and the proxy in front of it, and waits until moto answers.
    pub async fn start() -> S3Server {
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!("hoop-moto-{port}.log"));
            let mut moto = spawn_moto(port, &log);
            if wait_ready(port, &mut moto).await {
                return S3Server {
                    moto: Some(moto),
                    moto_port: port,
                    log,
                    proxy: Proxy::start(port),
                    client: raw_client(&format!("http://127.0.0.1:{port}")),
                };
            }
            // Another process took the port first, or moto failed: try another port.
            let _ = moto.kill();
            let _ = moto.wait();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
        }
        panic!("moto_server did not start (is it installed? tests/setup installs it):\n{last_log}");
    }

    /// The endpoint hoop uses: the proxy's.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.proxy.addr)
    }

    /// `[archive.s3]` for this server.
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint().parse().expect("a valid URL")),
            region: Some(REGION.to_owned()),
            force_path_style: true,
        }
    }

    /// The body of the `[archive.s3]` table for a generated `hoop.toml`.
    pub fn settings_toml(&self) -> String {
        format!(
            "endpoint = \"{}\"\nregion = \"{REGION}\"\nforce_path_style = true\n",
            self.endpoint()
        )
    }

    /// The environment a `hoop` process needs to reach this server through the standard AWS
    /// chain.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            // No instance metadata service to wait for on a test machine.
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// An SDK client straight to moto (not through the proxy), for raw checks and set-up.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// hoop's S3 store for `bucket` under `prefix` (`""` for none), through the proxy, with the
    /// test credentials given explicitly: the test process's environment is left alone.
    pub async fn store(&self, bucket: &str, prefix: &str) -> S3Store {
        let loader = aws_config::defaults(BehaviorVersion::latest()).credentials_provider(
            Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "hoop-tests"),
        );
        S3Store::connect_with(
            BucketName::new(bucket).expect("a valid bucket name"),
            Prefix::new(prefix).expect("a valid prefix"),
            &self.settings(),
            loader,
        )
        .await
    }

    /// Creates a versioned bucket, with Object Lock enabled when `object_lock` (as
    /// `aws s3api create-bucket --object-lock-enabled-for-bucket` does).
    pub async fn create_bucket(&self, name: &str, object_lock: bool) {
        let mut create = self.client.create_bucket().bucket(name);
        if object_lock {
            create = create.object_lock_enabled_for_bucket(true);
        }
        create.send().await.expect("create the bucket");
        self.client
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("enable versioning");
    }

    /// While `down`, the proxy closes every connection, open ones included; moto keeps its
    /// state.
    pub fn set_down(&self, down: bool) {
        self.proxy.down.send_replace(down);
    }

    /// Kills moto (its state is lost); the proxy stays, so the endpoint refuses requests.
    pub fn stop(&mut self) {
        if let Some(mut moto) = self.moto.take() {
            let _ = moto.kill();
            let _ = moto.wait();
        }
    }

    /// Starts moto again on the same port, empty, and waits until it answers.
    pub async fn start_again(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_WAIT;
        loop {
            let mut moto = spawn_moto(self.moto_port, &self.log);
            if wait_ready(self.moto_port, &mut moto).await {
                self.moto = Some(moto);
                return;
            }
            let _ = moto.kill();
            let _ = moto.wait();
            assert!(
                Instant::now() < deadline,
                "moto_server did not start again on port {}:\n{}",
                self.moto_port,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn free_port() -> u16 {
    StdListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn spawn_moto(port: u16, log: &Path) -> Child {
    let log = File::create(log).expect("create moto's log file");
    Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log file"))
        .stderr(log)
        .spawn()
        .expect("run moto_server (tests/setup installs it: pip install 'moto[server]')")
}

/// Whether moto answers on `port` before [`START_WAIT`]; false as soon as it exits.
async fn wait_ready(port: u16, moto: &mut Child) -> bool {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client");
    let deadline = Instant::now() + START_WAIT;
    while Instant::now() < deadline {
        if matches!(moto.try_wait(), Ok(Some(_))) {
            return false;
        }
        let answered = http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if answered {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn raw_client(endpoint: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "hoop-tests",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// A TCP proxy on its own thread and runtime, so it serves whatever runtime (or none) the test
/// uses.
struct Proxy {
    addr: SocketAddr,
    down: watch::Sender<bool>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream_port: u16) -> Proxy {
        let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the proxy's address");
        let (down, down_rx) = watch::channel(false);
        let (shutdown, shutdown_rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the proxy's runtime")
                .block_on(serve(listener, upstream_port, down_rx, shutdown_rx));
        });
        Proxy {
            addr,
            down,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: StdListener,
    upstream_port: u16,
    down: watch::Receiver<bool>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let mut inbound = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut shutdown => return,
        };
        if *down.borrow() {
            continue; // dropped: the client sees its connection closed
        }
        let mut down = down.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream_port)).await
            else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = down.wait_for(|down| *down) => {}
            }
        });
    }
}
