//! `stemroom migrate-storage` (issue 16): copies an embedded installation's
//! database (SQLite in the data directory) into PostgreSQL, then checks the
//! copy, so a deployment that outgrows one machine keeps every project,
//! link and asset record. Asset files stay where they are (the instances
//! read them from the same data directory until object storage lands).
//!
//! The target must hold no project (a second run is refused, not
//! doubled). Each document's log is copied part for part (its snapshot
//! and the updates after it), so the check compares bytes.

use std::path::PathBuf;

use anyhow::{Context, bail, ensure};
use stemroom_model::DocKind;

use crate::store::{DB_FILE, Store};

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// The data directory of the installation to copy.
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database to copy it into (`postgres://…`; empty of
    /// projects).
    #[arg(long)]
    pub to: String,
}

/// What a migration copied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub projects: usize,
    pub links: usize,
    pub assets: usize,
    /// Parts of document logs (snapshots and updates).
    pub log_parts: usize,
}

/// Copies and checks; prints what it did to `out`.
pub fn run(args: &MigrateArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    if !args.from.join(DB_FILE).is_file() {
        bail!("no Stemroom data in {}", args.from.display());
    }
    ensure!(
        args.to.starts_with("postgres://") || args.to.starts_with("postgresql://"),
        "--to takes a postgres:// URL"
    );
    let from = Store::open(&args.from)?;
    let to = Store::connect(Some(&args.to), &args.from)?;
    let copied = copy(&from, &to)?;
    verify(&from, &to).context("the copy does not match its source")?;
    writeln!(
        out,
        "copied and checked {} projects, {} links, {} asset records and {} log parts from {} to {}",
        copied.projects,
        copied.links,
        copied.assets,
        copied.log_parts,
        from.describe(),
        to.describe()
    )?;
    Ok(())
}

/// Copies everything `from` holds into the empty `to`.
pub fn copy(from: &Store, to: &Store) -> anyhow::Result<Copied> {
    if !to.projects()?.is_empty() {
        bail!(
            "{} already holds projects: migrate into an empty database",
            to.describe()
        );
    }
    let mut copied = Copied::default();
    for (project, created_at) in from.projects()? {
        to.add_project(&project, created_at)?;
        for link in from.links(&project)? {
            to.insert_link(&link)?;
            copied.links += 1;
        }
        for (asset, name, added_at) in from.project_assets(&project)? {
            to.add_asset(&project, &asset, &name, added_at)?;
            copied.assets += 1;
        }
        for kind in DocKind::ALL {
            let parts = from.load(&project, kind)?;
            if !parts.is_empty() {
                let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                to.append(&project, kind, &parts)?;
                copied.log_parts += parts.len();
            }
        }
        copied.projects += 1;
    }
    Ok(copied)
}

/// Checks that `to` holds what `from` holds: the same projects, links,
/// asset records and document logs, byte for byte.
pub fn verify(from: &Store, to: &Store) -> anyhow::Result<()> {
    let projects = from.projects()?;
    ensure!(to.projects()? == projects, "the projects differ");
    for (project, _) in &projects {
        ensure!(
            to.links(project)? == from.links(project)?,
            "the links of {project} differ"
        );
        ensure!(
            to.project_assets(project)? == from.project_assets(project)?,
            "the assets of {project} differ"
        );
        for kind in DocKind::ALL {
            ensure!(
                to.load(project, kind)? == from.load(project, kind)?,
                "the {} document of {project} differs",
                kind.as_str()
            );
        }
    }
    Ok(())
}
