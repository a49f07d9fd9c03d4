//! `stemroom`: the server, and engine tools for the shell.

use clap::{Parser, Subcommand};

/// mimalloc: loading a large project (hundreds of thousands of small yrs
/// items) takes half the time it takes with the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use stemroom_server::measure::{self, MeasureArgs};
use stemroom_server::render::{self, RenderArgs};
use stemroom_server::{ServeConfig, serve, shutdown_signal};

#[derive(Parser)]
#[command(
    name = "stemroom",
    version,
    about = "Stemroom: a collaborative DAW in the browser"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the app, project sync and assets.
    Serve(ServeConfig),
    /// Print integrated loudness, loudness range, true peak and sample peak
    /// of audio files (EBU R128 / ITU-R BS.1770-4).
    Measure(MeasureArgs),
    /// Render a stored project (or a saved version) to a WAV file, at a
    /// loudness target if given, and print what was written.
    Render(RenderArgs),
    /// Copy an installation's data directory database into PostgreSQL and
    /// check the copy (asset files stay in the data directory).
    MigrateStorage(stemroom_server::migrate::MigrateArgs),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STEMROOM_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(config) => tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(serve(config, shutdown_signal()))),
        Command::Render(args) => render::run(&args, &mut std::io::stdout()),
        Command::MigrateStorage(args) => {
            stemroom_server::migrate::run(&args, &mut std::io::stdout())
        }
        Command::Measure(args) => {
            return match measure::run(&args, &mut std::io::stdout(), &mut std::io::stderr()) {
                Ok(true) => std::process::ExitCode::SUCCESS,
                Ok(false) => std::process::ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("stemroom: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stemroom: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
