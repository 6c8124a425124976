//! `hoop keys generate|show-public`: the archive signing key of a gateway replica, and the
//! public key file auditors pin.
//!
//! The private key is written to a file only (mode 0600, never over an existing file) and never
//! printed: a terminal's scrollback and a CI log are not secret stores.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

use crate::archive::{SigningKey, generate};

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new Ed25519 archive signing key: the private key (PKCS#8 PEM, mode 0600) for the
    /// gateway's `archive.signing_key`, and `<out>.pub` for auditors to pin.
    Generate {
        /// Where to write the private key; refused if it (or `<out>.pub`) exists.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key file of a private key (to pin it again, or check a pin).
    ShowPublic {
        /// A private key file (PKCS#8 PEM or DER, or a raw 32-byte seed).
        #[arg(long)]
        key: PathBuf,
    },
}

pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Generate { out } => {
            let public = public_path(&out);
            let generated = generate()?;
            write_new(&public, generated.public_file.as_bytes(), 0o644, &[])?;
            write_new(
                &out,
                generated.private_pem.expose().as_bytes(),
                0o600,
                &[&public],
            )?;
            outln!("key id {}", generated.key_id);
            outln!(
                "private key {} (mode 0600): give it to the gateway as archive.signing_key, keep \
                 it out of logs and repositories",
                out.display()
            );
            outln!("public key {} : auditors pin this file", public.display());
        }
        KeysCommand::ShowPublic { key } => {
            let bytes = fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
            let signing = SigningKey::from_bytes(&bytes)
                .with_context(|| format!("reading the private key {}", key.display()))?;
            out!("{}", signing.public_key().to_file());
        }
    }
    Ok(())
}

/// `<out>.pub`, beside the private key.
fn public_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Creates `path` with `mode` and writes `bytes`, refusing an existing file. On failure the
/// file is removed, and so are `written_before` (the pair is written whole or not at all).
fn write_new(path: &Path, bytes: &[u8], mode: u32, written_before: &[&Path]) -> anyhow::Result<()> {
    let undo = || {
        for p in written_before {
            let _ = fs::remove_file(p);
        }
    };
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            undo();
            bail!(
                "{} exists; a key is never overwritten (choose another --out, or move the old \
                 key away if it is really unused)",
                path.display()
            );
        }
        Err(e) => {
            undo();
            return Err(e).with_context(|| format!("creating {}", path.display()));
        }
    };
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        let _ = fs::remove_file(path);
        undo();
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_sits_beside_the_private_one() {
        assert_eq!(
            public_path(Path::new("/etc/hoop/archive.pem")),
            Path::new("/etc/hoop/archive.pem.pub")
        );
    }
}
