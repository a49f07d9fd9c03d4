//! The Stemroom server: serves the app, stores projects, and (as it grows)
//! syncs documents and stores audio assets. `docs/ARCHITECTURE.md` has the map.

pub mod http;
pub mod measure;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use tokio::net::TcpListener;

/// Settings of `stemroom serve`, from flags or the environment.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "STEMROOM_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Where projects and audio are stored; created on first start.
    #[arg(long, env = "STEMROOM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The built app (index.html, pkg/, worklet/), made by `cargo xtask build`.
    #[arg(long, env = "STEMROOM_SITE_DIR", default_value = "./target/site")]
    pub site_dir: PathBuf,
    /// Serve without the cross-origin isolation headers (COOP/COEP/CORP).
    /// The app then runs its fallback without shared memory; for testing.
    #[arg(long, env = "STEMROOM_NO_ISOLATION")]
    pub no_isolation: bool,
}

/// Runs the server until `shutdown` completes, then drains open requests.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !config.site_dir.join("index.html").is_file() {
        bail!(
            "the app is not built: {} has no index.html (run `cargo xtask run`, or `cargo xtask build` and pass --site-dir)",
            config.site_dir.display()
        );
    }
    let store = store::Store::open(&config.data_dir)?;
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    let app = http::router(http::AppState::new(store), &config);
    // The one line scripts and tests wait for; keep its shape.
    println!("Stemroom is serving http://{addr}/");
    tracing::info!(%addr, data_dir = %config.data_dir.display(), isolation = !config.no_isolation, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("server error")?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on Ctrl+C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
