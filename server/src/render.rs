//! `stemroom render`: a stored project rendered by the same engine as the
//! browser, the mix brought to a loudness target and written as a file,
//! and stems written beside it in the same pass — for engineers at a
//! shell and for automation. It reads the database as a
//! second reader (one read transaction per document), so it works while
//! the server runs and sees a consistent state.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::json;
use stemroom_engine::bounce::{
    self, ExportFile, ExportJob, ExportReport, ExportSettings, ExportTarget, LoudnessTarget,
    SampleFormat, StemReport, StemSettings,
};
use stemroom_engine::project::AudioAsset;
use stemroom_model::DocKind;
use stemroom_model::project::Project;
use stemroom_model::review::ReviewDoc;
use stemroom_model::version::read_version;
use yrs::{Doc, Transact, Update, updates::decoder::Decode};

use crate::assets::stored_path;
use crate::store::{DB_FILE, DocumentLog, Store};

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The server's data directory.
    #[arg(long, env = "STEMROOM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The server's PostgreSQL database, if it keeps its projects there
    /// (as `stemroom serve --database`).
    #[arg(long, env = "STEMROOM_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// The project's id (as in its address, /p/ID; ids may start with "-").
    #[arg(allow_hyphen_values = true)]
    pub project: String,
    /// The mix's file.
    #[arg(long, required_unless_present = "stems")]
    pub out: Option<PathBuf>,
    /// Write every track and bus as a stem into this directory (made if
    /// missing), named after the project, the version and the stem.
    #[arg(long)]
    pub stems: Option<PathBuf>,
    /// Stems through their own copies of the master strip.
    #[arg(long, requires = "stems")]
    pub stems_master: bool,
    /// Dry stems: no stems of return buses (those fed by sends only).
    #[arg(long, requires = "stems")]
    pub stems_dry: bool,
    /// The files' sample rate (Hz); the project's by default.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<u32>,
    /// wav16 and flac16 are TPDF-dithered.
    #[arg(long, default_value = "wav24", value_parser = clap::builder::PossibleValuesParser::new(
        bounce::FILE_FORMATS.map(|f| f.0)
    ))]
    pub format: String,
    /// Bring the mix to this integrated loudness (LUFS).
    #[arg(long, allow_negative_numbers = true)]
    pub target_lufs: Option<f64>,
    /// True-peak ceiling with a loudness target (dBTP).
    #[arg(long, allow_negative_numbers = true, default_value_t = -1.0)]
    pub ceiling_dbtp: f64,
    /// Render a saved version (by name or id) instead of the project as it is.
    #[arg(long)]
    pub version: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A clip whose audio could not be had: it renders silent.
#[derive(Clone, Debug, PartialEq)]
pub struct MissingAudio {
    pub sha256: String,
    pub clips: usize,
    pub reason: String,
}

fn parse_rate(value: &str) -> Result<u32, String> {
    let rates = stemroom_engine::resample::EXPORT_RATES;
    value
        .parse::<u32>()
        .ok()
        .filter(|r| rates.contains(r))
        .ok_or_else(|| format!("the rate is one of {rates:?} Hz"))
}

/// Renders and writes the files; prints the report to `out`, progress to
/// `err` when it is a terminal.
pub fn run(args: &RenderArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open_store(&args.data_dir, args.database.as_deref())?;
    let project = load_project(&store, &args.project, args.version.as_deref())?;
    let (assets, missing) = load_audio(&args.data_dir, &project);
    let rate = project.meta.sample_rate;
    let desc = project.to_engine(rate, |sha| assets.get(sha).cloned());
    let mut settings = ExportSettings::named(&args.format)
        .with_context(|| format!("no file format {}", args.format))?;
    settings.target = args.target_lufs.map(|integrated_lufs| LoudnessTarget {
        integrated_lufs,
        ceiling_dbtp: args.ceiling_dbtp,
    });
    settings.rate = args.rate;
    let job = ExportJob {
        project: &desc,
        frames: bounce::song_frames(project.end(), rate),
        settings,
        mix: args.out.is_some(),
        stems: args.stems.as_ref().map(|_| StemSettings {
            master_chain: args.stems_master,
            sends: !args.stems_dry,
        }),
        parallel: true,
    };
    if let Some(dir) = &args.stems {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    }
    // Every file opened (removed if the export fails), and each stem's
    // file and title, in the order the engine writes them.
    let mut written: Vec<PathBuf> = Vec::new();
    let mut stem_files: Vec<(PathBuf, String)> = Vec::new();
    let terminal = std::io::stderr().is_terminal();
    let mut shown = -1i64;
    let result = bounce::export(
        &job,
        &mut |file| {
            let path = match file {
                ExportFile::Mix => args.out.clone().expect("a mix is written with --out"),
                ExportFile::Stem(stem) => {
                    let number = stem_files.len() + 1;
                    let title = bounce::stem_title(number, project.strip_name(stem.strip));
                    let name = bounce::file_name(
                        &project.meta.name,
                        args.version.as_deref(),
                        &title,
                        settings.container,
                    );
                    let path = args.stems.as_ref().expect("stems go to --stems").join(name);
                    stem_files.push((path.clone(), title));
                    path
                }
            };
            let file = std::fs::File::create(&path).map_err(|e| {
                bounce::ExportError::Write(format!("cannot create {}: {e}", path.display()))
            })?;
            written.push(path);
            Ok(Box::new(std::io::BufWriter::new(file)) as Box<dyn ExportTarget>)
        },
        &mut |done| {
            let percent = (done * 100.0) as i64;
            if terminal && percent != shown {
                shown = percent;
                eprint!("\rrendering {percent:3}%");
            }
            true
        },
    );
    if terminal {
        eprintln!();
    }
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            // Nothing half-written is left behind.
            for path in &written {
                let _ = std::fs::remove_file(path);
            }
            bail!("{e}");
        }
    };
    let stems: Vec<StemLine> = outcome
        .stems
        .into_iter()
        .zip(stem_files)
        .map(|(report, (path, title))| (path.display().to_string(), title, report))
        .collect();
    let mix = outcome
        .mix
        .zip(args.out.as_ref())
        .map(|(report, path)| (path.display().to_string(), report));
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&to_json(mix.as_ref(), &stems, &missing))?
        )?;
    } else {
        write!(out, "{}", to_text(mix.as_ref(), &stems, &missing))?;
    }
    Ok(())
}

/// The server's storage: its database, or the embedded one in `data_dir`
/// (which must exist: a render never creates one).
fn open_store(data_dir: &Path, database: Option<&str>) -> anyhow::Result<Store> {
    if database.is_none() && !data_dir.join(DB_FILE).is_file() {
        bail!("no Stemroom data in {}", data_dir.display());
    }
    Store::connect(database, data_dir)
}

/// The project as stored now, or its saved version `version` (a name or
/// an id).
fn load_project(store: &Store, id: &str, version: Option<&str>) -> anyhow::Result<Project> {
    if store.project_created_at(id)?.is_none() {
        bail!("no project {id} in {}", store.describe());
    }
    let merged = |doc: DocKind| -> anyhow::Result<Vec<u8>> {
        let parts = store.load(id, doc)?;
        yrs::merge_updates_v1(parts.iter().map(Vec::as_slice))
            .map_err(|e| anyhow::anyhow!("the {} document of {id} is damaged: {e}", doc.as_str()))
    };
    let state = match version {
        None => merged(DocKind::Project)?,
        Some(wanted) => {
            let doc = Doc::new();
            {
                let update = Update::decode_v1(&merged(DocKind::Review)?)
                    .map_err(|e| anyhow::anyhow!("the review document of {id} is damaged: {e}"))?;
                doc.transact_mut()
                    .apply_update(update)
                    .map_err(|e| anyhow::anyhow!("the review document of {id} is damaged: {e}"))?;
            }
            let review = ReviewDoc::new(doc);
            let txn = review.doc().transact();
            let versions = review.versions(&txn);
            let Some(found) = versions.iter().find(|v| v.name == wanted || v.id == wanted) else {
                let names: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
                if names.is_empty() {
                    bail!("project {id} has no saved versions");
                }
                bail!(
                    "project {id} has no version “{wanted}” (its versions: {})",
                    names.join(", ")
                );
            };
            review
                .version_state(&txn, &found.id)
                .with_context(|| format!("version “{wanted}” has no state"))?
        }
    };
    read_version(&state).map_err(|e| anyhow::anyhow!("project {id} cannot be read: {e}"))
}

/// Decodes every asset the project's clips use; what cannot be had is
/// listed, and those clips play silence.
fn load_audio(
    data_dir: &Path,
    project: &Project,
) -> (HashMap<String, Arc<AudioAsset>>, Vec<MissingAudio>) {
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for clip in project.clips.iter() {
        *uses.entry(clip.asset.as_str()).or_default() += 1;
    }
    let mut assets = HashMap::new();
    let mut missing = Vec::new();
    for (sha, clips) in uses {
        let decoded = if crate::assets::is_sha256(sha) {
            let path = stored_path(data_dir, sha);
            match std::fs::File::open(&path) {
                Ok(file) => stemroom_engine::decode::decode_asset(Box::new(file), None)
                    .map_err(|e| format!("cannot be decoded: {e}")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err("not in the asset store".to_string())
                }
                Err(e) => Err(format!("cannot be read: {e}")),
            }
        } else {
            Err("not an asset id".to_string())
        };
        match decoded {
            Ok(asset) => {
                assets.insert(sha.to_string(), asset);
            }
            Err(reason) => missing.push(MissingAudio {
                sha256: sha.to_string(),
                clips,
                reason,
            }),
        }
    }
    (assets, missing)
}

/// A stem written: its file, its title ("03 Bass"), its report.
type StemLine = (String, String, StemReport);

fn to_text(
    mix: Option<&(String, ExportReport)>,
    stems: &[StemLine],
    missing: &[MissingAudio],
) -> String {
    let mut lines = Vec::new();
    if let Some((name, report)) = mix {
        lines.push(report.file_line(name));
        lines.push(report.loudness_line());
        lines.extend(
            report
                .gain_line()
                .map(|line| format!("{line}; {}", plural(report.passes, "pass", "passes"))),
        );
        lines.extend(report.platforms().iter().map(|p| p.sentence()));
    }
    lines.extend(
        stems
            .iter()
            .map(|(file, _, r)| format!("stem {file}: sample peak {:.1} dBFS", r.sample_peak_dbfs)),
    );
    lines.extend(missing.iter().map(|m| {
        format!(
            "missing audio {} ({}; {} silent)",
            m.sha256,
            m.reason,
            plural(m.clips, "clip", "clips")
        )
    }));
    lines.join("\n") + "\n"
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn finite(x: f64) -> serde_json::Value {
    if x.is_finite() {
        json!(x)
    } else {
        serde_json::Value::Null
    }
}

/// The report as JSON: the mix's fields in the words of `stemroom
/// measure --json` (absent without a mix), then the stems and what was
/// missing.
fn to_json(
    mix: Option<&(String, ExportReport)>,
    stems: &[StemLine],
    missing: &[MissingAudio],
) -> serde_json::Value {
    let mut value = mix.map_or_else(|| json!({}), |(name, report)| mix_json(name, report));
    value["stems"] = stems
        .iter()
        .map(|(file, title, r)| {
            json!({
                "file": file,
                "stem": title,
                "bus": r.stem.bus,
                "frames": r.frames,
                "sample_peak_dbfs": finite(r.sample_peak_dbfs),
            })
        })
        .collect();
    value["missing_audio"] = missing
        .iter()
        .map(|m| json!({ "sha256": m.sha256, "clips": m.clips, "reason": m.reason }))
        .collect();
    value
}

fn mix_json(name: &str, report: &ExportReport) -> serde_json::Value {
    let l = &report.loudness;
    json!({
        "file": name,
        "sample_rate": report.sample_rate,
        "bits": report.format.bits(),
        "float": report.format == SampleFormat::Float32,
        "frames": report.frames,
        "duration_seconds": report.duration_seconds(),
        "integrated_lufs": finite(l.integrated_lufs),
        "loudness_range_lu": l.range_lu,
        "true_peak_dbtp": finite(l.true_peak_dbtp),
        "sample_peak_dbfs": finite(l.sample_peak_dbfs),
        "gain_db": report.gain_db,
        "rendered_lufs": finite(report.rendered_lufs),
        "passes": report.passes,
        "platforms": report
            .platforms()
            .iter()
            .map(|p| json!({ "platform": p.platform, "gain_db": p.gain_db, "says": p.sentence() }))
            .collect::<Vec<_>>(),
    })
}
