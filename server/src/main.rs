//! `stemroom`: the server, and engine tools for the shell.

use clap::{Parser, Subcommand};
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
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stemroom: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
