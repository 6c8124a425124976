//! A private PostgreSQL cluster for one test: `initdb` into a scratch folder, `pg_ctl` on a
//! free loopback port, trust authentication, no Unix socket. A test that restarts or stops its
//! database uses one of these, so the machine's shared Postgres on 127.0.0.1:5432 (which every
//! other test uses) is never disturbed. Stopped (immediately) on drop, and removed unless the
//! test failed (its server log stays for reading).
//!
//! `initdb` refuses to run as root: when the tests run as root, the cluster's programs run as
//! the `postgres` user, which owns the data folder.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use tokio_postgres::{Client, NoTls};

/// The cluster's superuser.
pub const SUPERUSER: &str = "postgres";

pub struct Cluster {
    bin: PathBuf,
    /// The scratch folder: `data/` and `postgres.log`.
    root: PathBuf,
    data: PathBuf,
    log: PathBuf,
    pub port: u16,
    /// The uid and gid the programs run as (the `postgres` user when the tests run as root).
    owner: Option<(u32, u32)>,
    running: bool,
}

impl Cluster {
    /// Initialises a cluster and starts it with `settings` (lines of `postgresql.conf`) on a free
    /// loopback port.
    pub fn start(name: &str, settings: &[&str]) -> Cluster {
        let bin = bindir();
        let root = std::env::temp_dir().join(format!("hoop-pg-{name}-{}", super::random_suffix()));
        std::fs::create_dir_all(&root).unwrap();
        let owner = owner();
        let data = root.join("data");
        let log = root.join("postgres.log");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(&log, "").unwrap();
        if let Some((uid, gid)) = owner {
            for path in [&root, &data, &log] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
            }
        }
        let mut cluster = Cluster {
            bin,
            root,
            data,
            log,
            port: 0,
            owner,
            running: false,
        };
        let data = cluster.data.display().to_string();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb: {}", text(&out));
        let mut conf = String::from(
            "\n# hoop test cluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
        );
        for line in settings {
            conf += line;
            conf.push('\n');
        }
        // A port free_port handed out can be taken before Postgres binds it: try others.
        for attempt in 1.. {
            cluster.port = super::free_port();
            let mut file = conf.clone();
            file += &format!("port = {}\n", cluster.port);
            std::fs::write(cluster.data.join("postgresql.auto.conf"), file).unwrap();
            if let Some((uid, gid)) = owner {
                let auto = cluster.data.join("postgresql.auto.conf");
                std::os::unix::fs::chown(auto, Some(uid), Some(gid)).unwrap();
            }
            let out = cluster.pg_ctl(&["start", "-w", "-t", "60"]);
            if out.status.success() {
                cluster.running = true;
                break;
            }
            assert!(
                attempt < 4,
                "pg_ctl start: {}\n{}",
                text(&out),
                cluster.server_log()
            );
        }
        cluster
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A superuser session on `database`.
    pub async fn client(&self, database: &str) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(&self.url(database), NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// `CREATE DATABASE <name>`.
    pub async fn create_database(&self, name: &str) {
        self.client("postgres")
            .await
            .expect("connect to the test cluster")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    }

    /// `pg_ctl restart -m fast`: every session is ended, and the server is back when this
    /// returns (blocking: call it from `spawn_blocking` in a running test).
    pub fn restart(&mut self) {
        let out = self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "60"]);
        assert!(
            out.status.success(),
            "pg_ctl restart: {}\n{}",
            text(&out),
            self.server_log()
        );
    }

    /// Starts the server again after [`Cluster::stop`], on the same port (blocking).
    pub fn start_again(&mut self) {
        let out = self.pg_ctl(&["start", "-w", "-t", "60"]);
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            text(&out),
            self.server_log()
        );
        self.running = true;
    }

    /// Stops the server (fast shutdown); dropping the cluster stops it immediately otherwise.
    pub fn stop(&mut self) {
        if self.running {
            let _ = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
            self.running = false;
        }
    }

    /// What the server logged so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.data.display().to_string();
        let log = self.log.display().to_string();
        let mut all = vec!["-D", &data, "-l", &log];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut command = Command::new(self.bin.join(program));
        command
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .env_remove("PGDATA")
            .env_remove("PGPORT");
        if let Some((uid, gid)) = self.owner {
            use std::os::unix::process::CommandExt as _;
            command.uid(uid).gid(gid);
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "30"]);
        }
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// The folder of `initdb` and `pg_ctl`: `HOOP_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout), else the one `pg_config` names.
fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HOOP_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("no /usr/lib/postgresql/*/bin/initdb and no pg_config: set HOOP_PG_BINDIR");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The `postgres` user's uid and gid when this process runs as root (initdb refuses root).
fn owner() -> Option<(u32, u32)> {
    if id(&["-u"]) != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"]), id(&["-g", "postgres"])))
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("run id");
    assert!(out.status.success(), "id {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("id {args:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
