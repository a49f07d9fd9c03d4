//! HTTP: the app's files, `/healthz`, and the headers the browser needs.
//!
//! The app runs the engine on shared wasm memory, which browsers only allow in
//! a cross-origin isolated page: every response carries COOP/COEP/CORP unless
//! the server was started with `--no-isolation`.

use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use std::sync::Arc;

use crate::ServeConfig;
use crate::assets::AssetStore;
use crate::recordings::{self, Recordings};
use crate::room::{RoomConfig, Rooms};
use crate::store::Store;
use crate::sync::{ConnectionCounts, SyncConfig};
use crate::{api, sync};

/// Files under this path are content-addressed by the build: cache forever.
pub const IMMUTABLE_PREFIX: &str = "/pkg/";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    store: Store,
    rooms: Rooms,
    assets: Arc<dyn AssetStore>,
    recordings: Arc<Recordings>,
    sync: SyncConfig,
    connections: ConnectionCounts,
    max_upload_bytes: u64,
}

impl AppState {
    pub fn new(
        store: Store,
        assets: Arc<dyn AssetStore>,
        recordings: Arc<Recordings>,
        rooms: RoomConfig,
        sync: SyncConfig,
        max_upload_bytes: u64,
    ) -> Self {
        let rooms = Rooms::new(Arc::new(store.clone()), rooms);
        AppState {
            inner: Arc::new(Shared {
                store,
                rooms,
                assets,
                recordings,
                sync,
                connections: ConnectionCounts::default(),
                max_upload_bytes,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn rooms(&self) -> &Rooms {
        &self.inner.rooms
    }

    pub fn assets(&self) -> &Arc<dyn AssetStore> {
        &self.inner.assets
    }

    pub fn recordings(&self) -> &Arc<Recordings> {
        &self.inner.recordings
    }

    pub fn sync_config(&self) -> &SyncConfig {
        &self.inner.sync
    }

    pub fn connection_counts(&self) -> &ConnectionCounts {
        &self.inner.connections
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.inner.max_upload_bytes
    }
}

/// The whole HTTP surface of the server.
pub fn router(state: AppState, config: &ServeConfig) -> Router {
    // Scripts and modules come precompressed from the build (`NAME.gz`);
    // the compression layer skips responses that already have an encoding.
    let site = ServeDir::new(&config.site_dir)
        .append_index_html_on_directories(true)
        .precompressed_gzip();
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/api/projects", post(api::create_project))
        .route("/api/projects/{project}", get(api::project_info))
        .route(
            "/api/projects/{project}/links",
            get(api::list_links).post(api::create_link),
        )
        .route(
            "/api/projects/{project}/links/{link}",
            delete(api::revoke_link),
        )
        .route(
            "/api/projects/{project}/assets",
            post(api::upload_asset).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/projects/{project}/assets/{sha256}",
            get(api::fetch_asset),
        )
        .route(
            "/api/projects/{project}/recordings",
            post(recordings::start).get(recordings::list),
        )
        .route(
            "/api/projects/{project}/recordings/{recording}",
            get(recordings::status).delete(recordings::abandon),
        )
        .route(
            "/api/projects/{project}/recordings/{recording}/chunks/{n}",
            put(recordings::put_chunk)
                .layer(DefaultBodyLimit::max(recordings::MAX_CHUNK_BYTES + 1)),
        )
        .route(
            "/api/projects/{project}/recordings/{recording}/finish",
            post(recordings::finish),
        )
        .route("/sync/{project}/{doc}", get(sync::upgrade))
        // Project links open the app; the token stays in the fragment.
        .route_service(
            "/p/{project}",
            ServeFile::new(config.site_dir.join("index.html")),
        )
        .fallback_service(site)
        .with_state(state)
        .layer(middleware::from_fn(cache_policy))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    if !config.no_isolation {
        for (name, value) in [
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-embedder-policy", "require-corp"),
            ("cross-origin-resource-policy", "same-origin"),
        ] {
            app = app.layer(SetResponseHeaderLayer::overriding(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            ));
        }
    }
    // Spans name the path only: a query may carry a link token, and
    // tokens never go to logs.
    app.layer(
        TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        }),
    )
}

/// Liveness and storage health, for load balancers and `cargo xtask run`.
async fn healthz(State(state): State<AppState>) -> Response {
    let store = state.store().clone();
    let checked = tokio::task::spawn_blocking(move || store.check()).await;
    let (status, store) = match checked {
        Ok(Ok(())) => (StatusCode::OK, "ok".to_string()),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let body = json!({
        "status": if status.is_success() { "ok" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "store": store,
    });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Hashed build output is immutable; everything else is revalidated on each load.
async fn cache_policy(request: Request, next: Next) -> Response {
    let immutable = request.uri().path().starts_with(IMMUTABLE_PREFIX);
    let mut response = next.run(request).await;
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        let value = if immutable && response.status().is_success() {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use std::path::Path;
    use tower::ServiceExt;

    fn site(dir: &Path) {
        std::fs::create_dir_all(dir.join("pkg/abc")).unwrap();
        std::fs::write(
            dir.join("index.html"),
            "<!doctype html><title>Stemroom</title>",
        )
        .unwrap();
        let js = "export const x = 1;\n".repeat(200);
        std::fs::write(dir.join("pkg/abc/app.js"), js).unwrap();
        std::fs::write(dir.join("pkg/abc/app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
        // As the build writes them: a module and its gzip beside it (the
        // bytes here only have to be told apart).
        std::fs::write(dir.join("pkg/abc/big_bg.wasm"), b"\0asm\x01\0\0\0 raw").unwrap();
        std::fs::write(
            dir.join("pkg/abc/big_bg.wasm.gz"),
            b"as the build compressed it",
        )
        .unwrap();
    }

    fn app(dir: &Path, no_isolation: bool) -> Router {
        site(&dir.join("site"));
        let mut config = ServeConfig::new(dir.join("data"), dir.join("site"));
        config.no_isolation = no_isolation;
        router(config.state().unwrap(), &config)
    }

    async fn get(app: &Router, path: &str, gzip: bool) -> Response {
        let mut req = Request::get(path);
        if gzip {
            req = req.header(header::ACCEPT_ENCODING, "gzip");
        }
        app.clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header<'a>(r: &'a Response, name: &str) -> &'a str {
        r.headers().get(name).map_or("", |v| v.to_str().unwrap())
    }

    #[tokio::test]
    async fn app_files_carry_isolation_mime_and_cache_headers() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), false);

        let index = get(&app, "/", false).await;
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(header(&index, "cross-origin-opener-policy"), "same-origin");
        assert_eq!(
            header(&index, "cross-origin-embedder-policy"),
            "require-corp"
        );
        assert_eq!(
            header(&index, "cross-origin-resource-policy"),
            "same-origin"
        );
        assert!(header(&index, "content-type").starts_with("text/html"));
        assert_eq!(header(&index, "cache-control"), "no-cache");

        let wasm = get(&app, "/pkg/abc/app_bg.wasm", false).await;
        assert_eq!(header(&wasm, "content-type"), "application/wasm");
        assert_eq!(
            header(&wasm, "cache-control"),
            "public, max-age=31536000, immutable"
        );

        let js = get(&app, "/pkg/abc/app.js", true).await;
        assert_eq!(header(&js, "content-type"), "text/javascript");
        assert_eq!(header(&js, "content-encoding"), "gzip");

        // A precompressed module goes out as the build wrote it, once, with
        // the module's type; a client without gzip gets the module itself.
        let packed = get(&app, "/pkg/abc/big_bg.wasm", true).await;
        assert_eq!(header(&packed, "content-encoding"), "gzip");
        assert_eq!(header(&packed, "content-type"), "application/wasm");
        assert_eq!(
            header(&packed, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let body = to_bytes(packed.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&body[..], b"as the build compressed it");
        let plain = get(&app, "/pkg/abc/big_bg.wasm", false).await;
        assert!(plain.headers().get("content-encoding").is_none());
        let body = to_bytes(plain.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&body[..], b"\0asm\x01\0\0\0 raw");

        let missing = get(&app, "/pkg/abc/nope.js", false).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&missing, "cache-control"), "no-cache");
    }

    #[tokio::test]
    async fn no_isolation_drops_only_the_isolation_headers() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), true);
        let index = get(&app, "/", false).await;
        assert_eq!(index.status(), StatusCode::OK);
        for name in [
            "cross-origin-opener-policy",
            "cross-origin-embedder-policy",
            "cross-origin-resource-policy",
        ] {
            assert!(index.headers().get(name).is_none(), "{name} present");
        }
        assert_eq!(header(&index, "x-content-type-options"), "nosniff");
    }

    #[tokio::test]
    async fn healthz_reports_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), false);
        let r = get(&app, "/healthz", false).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(r.into_body(), 1 << 16).await.unwrap()).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["store"], "ok");
    }
}
