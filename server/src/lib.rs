//! The Stemroom server: serves the app, stores projects, and (as it grows)
//! syncs documents and stores audio assets. `docs/ARCHITECTURE.md` has the map.

pub mod access;
pub mod api;
pub mod assets;
pub mod http;
pub mod measure;
pub mod migrate;
pub mod recordings;
pub mod relay;
pub mod render;
pub mod room;
pub mod store;
pub mod sync;

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
    /// A PostgreSQL database for projects, links, asset records and the
    /// document logs (`postgres://user:password@host/db`), shared by every
    /// instance; without it, SQLite in the data directory.
    #[arg(long, env = "STEMROOM_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// The built app (index.html, pkg/, worklet/), made by `cargo xtask build`.
    #[arg(long, env = "STEMROOM_SITE_DIR", default_value = "./target/site")]
    pub site_dir: PathBuf,
    /// Serve without the cross-origin isolation headers (COOP/COEP/CORP).
    /// The app then runs its fallback without shared memory; for testing.
    #[arg(long, env = "STEMROOM_NO_ISOLATION")]
    pub no_isolation: bool,
    /// Largest audio file accepted, in MiB.
    #[arg(long, env = "STEMROOM_MAX_UPLOAD_MIB", default_value_t = 512)]
    pub max_upload_mib: u64,
    /// Largest sync message accepted, in MiB.
    #[arg(long, env = "STEMROOM_MAX_MESSAGE_MIB", default_value_t = 16)]
    pub max_message_mib: usize,
    /// Open sync connections allowed from one address.
    #[arg(long, env = "STEMROOM_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    pub max_connections_per_ip: usize,
    /// Seconds between pings (and link re-checks) on sync connections.
    #[arg(long, env = "STEMROOM_PING_SECS", default_value_t = 15, hide = true)]
    pub ping_secs: u64,
    /// Seconds between the heartbeats of instances sharing a database (one
    /// not heard for three is gone).
    #[arg(
        long,
        env = "STEMROOM_RELAY_HEARTBEAT_SECS",
        default_value_t = 10,
        hide = true
    )]
    pub relay_heartbeat_secs: u64,
    /// Seconds an unfinished recording is kept untouched before it is removed.
    #[arg(long, env = "STEMROOM_RECORDING_TTL_SECS", default_value_t = recordings::DEFAULT_TTL_SECS, hide = true)]
    pub recording_ttl_secs: i64,
}

impl ServeConfig {
    /// Defaults for a server in `data_dir` serving `site_dir` (tests, tools).
    pub fn new(data_dir: PathBuf, site_dir: PathBuf) -> ServeConfig {
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            database: None,
            site_dir,
            no_isolation: false,
            max_upload_mib: 512,
            max_message_mib: 16,
            max_connections_per_ip: 64,
            ping_secs: 15,
            relay_heartbeat_secs: 10,
            recording_ttl_secs: recordings::DEFAULT_TTL_SECS,
        }
    }

    fn relay_heartbeat(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.relay_heartbeat_secs.max(1))
    }

    /// Opens storage and builds the state every handler shares. Blocks
    /// (opens and connects): not on an async thread.
    pub fn state(&self) -> anyhow::Result<http::AppState> {
        let store = store::Store::connect(self.database.as_deref(), &self.data_dir)?;
        let assets = assets::AssetFiles::open(&self.data_dir).with_context(|| {
            format!("cannot open the asset store in {}", self.data_dir.display())
        })?;
        let sync = sync::SyncConfig {
            max_message_bytes: self.max_message_mib << 20,
            max_connections_per_ip: self.max_connections_per_ip,
            ping_every: std::time::Duration::from_secs(self.ping_secs.max(1)),
            dead_after: std::time::Duration::from_secs(self.ping_secs.max(1) * 3),
            ..sync::SyncConfig::default()
        };
        let recordings = recordings::Recordings::open(&self.data_dir, self.recording_ttl_secs)
            .with_context(|| {
                format!("cannot open the recordings in {}", self.data_dir.display())
            })?;
        Ok(http::AppState::new(
            store,
            std::sync::Arc::new(assets),
            std::sync::Arc::new(recordings),
            room::RoomConfig {
                peer_timeout: self.relay_heartbeat() * 3,
                ..room::RoomConfig::default()
            },
            sync,
            self.max_upload_mib << 20,
        ))
    }
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
    let state = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || config.state()).await??
    };
    // Instances sharing a database hear each other's rooms.
    if let Some((url, instance)) = state.store().shared() {
        let relay = relay::Relay::start(
            url,
            instance,
            state.rooms().clone(),
            config.relay_heartbeat(),
        );
        state.rooms().set_relay(relay);
    }
    // Abandoned recordings go after their time to live: swept at start and
    // every quarter of it (at most hourly).
    let sweeper = state.recordings().clone();
    let every = (config.recording_ttl_secs / 4).clamp(1, 3600) as u64;
    tokio::spawn(async move {
        loop {
            let recordings = sweeper.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let removed = recordings.sweep(access::now());
                if removed > 0 {
                    tracing::info!(removed, "abandoned recordings removed");
                }
            })
            .await;
            tokio::time::sleep(std::time::Duration::from_secs(every)).await;
        }
    });
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    let app = http::router(state, &config).into_make_service_with_connect_info::<SocketAddr>();
    // The one line scripts and tests wait for; keep its shape.
    println!("Stemroom is serving http://{addr}/");
    tracing::info!(%addr, data_dir = %config.data_dir.display(), isolation = !config.no_isolation, "listening");
    // Sync sends small frames back to back; Nagle's algorithm with delayed
    // ACKs would hold some of them for tens of milliseconds.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
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
