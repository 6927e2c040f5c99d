//! The HTTP endpoint (`--http ADDR:PORT`): Prometheus metrics, status, liveness and readiness,
//! and the mutating admin calls (reload, drain), which need a bearer token.
//!
//! Served by hyper directly (axum routes the requests) so that every resource a client can
//! hold is bounded ([`Limits`]): connections (beyond the cap a new one is closed at once),
//! the time to send a request's headers (also between requests on a kept-alive connection),
//! the size of a request body, and shutdown, which waits a bounded time for requests in
//! flight and then closes whatever is left.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hickory_proto::rr::Name;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::config::SteeringConfig;
use crate::metrics::{family, sample};
use crate::ops::Ops;
use crate::state::{Failure, OriginStatus};
use crate::steering::View;

/// Where the admin token comes from (never the zone configuration).
pub const TOKEN_ENV: &str = "GEOSTEER_API_TOKEN";

struct Cx {
    ops: Arc<Ops>,
    token: Option<String>,
}

/// Default `--http-max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// What one HTTP client may hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Time to send a request's headers, from the connection's start or the previous
    /// response: a client that trickles them, or idles on a kept-alive connection, is closed.
    pub header_timeout: Duration,
    /// Largest request body accepted (413 beyond); no call needs more than a few bytes.
    pub max_body: usize,
    /// How long shutdown waits for requests in flight before closing their connections.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Serves the API on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ops: Arc<Ops>,
    token: Option<String>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let max_body = limits.max_body;
    let cx = Arc::new(Cx { ops, token });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/v1/reload", post(reload))
        .route("/v1/fleet", get(fleet_report))
        .route("/v1/pools/{pool}/{action}", post(pool_action))
        .route(
            "/v1/pools/{pool}/origins/{origin}/{action}",
            post(origin_action),
        )
        .merge(operator_routes())
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                body_limit(req, next, max_body)
            },
        ))
        .with_state(cx.clone());
    let events = &cx.ops.metrics.events;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let tracker = tokio_util::task::TaskTracker::new();
    let mut last_error_log: Option<std::time::Instant> = None;
    loop {
        let (stream, _) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    events.accept_errors.fetch_add(1, Ordering::Relaxed);
                    if last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        last_error_log = Some(std::time::Instant::now());
                        warn!("http accept: {e} (counted in geosteer_accept_errors_total)");
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            events.http_rejected.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let shutdown = shutdown.clone();
        let limits = limits.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                // A request received is carried out even when its client hangs up at once:
                // without this, hyper drops the handler unpolled on the client's EOF, and a
                // `POST /v1/reload` sent by a client that does not wait is never done.
                .half_close(true)
                .max_buf_size(64 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            // A panic in a handler closes the connection (and is counted): crate::panics.
            crate::panics::catch_future(crate::panics::Site::Http, async move {
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = shutdown.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(limits.shutdown_grace, conn).await;
                    }
                }
            })
            .await;
        });
    }
    tracker.close();
    // Connections close on their own within the grace period once shutdown is signalled.
    let _ = tokio::time::timeout(limits.shutdown_grace * 2, tracker.wait()).await;
}

/// Refuses a request body over `max` octets (413): by its Content-Length at once, and by what
/// arrives for one without.
async fn body_limit(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    max: usize,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {max} bytes\n"),
        )
            .into_response();
    }
    let (parts, body) = req.into_parts();
    let limited = axum::body::Body::new(http_body_util::Limited::new(body, max));
    next.run(axum::extract::Request::from_parts(parts, limited))
        .await
}

/// Binds the API's listener (so a bad address fails start-up, not later).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// An error answer: status and message (as JSON).
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

/// 401 without credentials, 403 with wrong ones or when no token is configured.
fn authorize(cx: &Cx, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &cx.token else {
        return Err(error(
            StatusCode::FORBIDDEN,
            format!(
                "mutating endpoints are disabled: no API token configured \
                 (set {TOKEN_ENV} or --api-token-file)"
            ),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer <token> required",
        )),
        Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(error(StatusCode::FORBIDDEN, "wrong token")),
    }
}

/// Compares `given` with `expected` in a time that depends only on `expected`'s length: no
/// early return at the first difference (which would reveal a prefix) nor on a length
/// mismatch (which would reveal the length).
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = usize::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!e);
        diff |= usize::from(g ^ e);
    }
    std::hint::black_box(diff) == 0
}

async fn readyz(State(cx): State<Arc<Cx>>) -> Response {
    if cx.ops.is_ready() {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn reload(State(cx): State<Arc<Cx>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&cx, &headers)?;
    // A task of its own: a client that disconnects drops this handler, not the reload, which
    // runs to its end (and is logged and counted) whatever the client does.
    let ops = cx.ops.clone();
    let outcome = tokio::spawn(async move { ops.reload().await })
        .await
        .map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reload failed: {e}"),
            )
        })?;
    Ok(match outcome {
        Ok(r) => Json(json!({ "generation": r.generation, "summary": r.summary })).into_response(),
        Err(errors) => {
            let list: Vec<Value> = errors
                .0
                .iter()
                .map(|e| {
                    json!({
                        "file": e.file.display().to_string(),
                        "line": e.line,
                        "reason": e.message,
                        "message": e.to_string(),
                    })
                })
                .collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": "configuration rejected; the previous one is still served",
                    "generation": cx.ops.current().generation,
                    "errors": list,
                })),
            )
                .into_response()
        }
    })
}

/// What both drain calls check first: the token, the action (disable: drained), the zone.
fn drain_request(
    cx: &Cx,
    headers: &HeaderMap,
    pool: &str,
    action: &str,
    params: &HashMap<String, String>,
) -> Result<(Name, bool), ApiError> {
    authorize(cx, headers)?;
    let drained = match action {
        "disable" => true,
        "enable" => false,
        _ => return Err(error(StatusCode::NOT_FOUND, "use /disable or /enable")),
    };
    Ok((pool_zone(cx, pool, params)?, drained))
}

/// The zone a pool request means: `?zone=` when given, else the only zone with that pool.
fn pool_zone(cx: &Cx, pool: &str, params: &HashMap<String, String>) -> Result<Name, ApiError> {
    if let Some(z) = params.get("zone") {
        return Name::from_ascii(z)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad zone {z:?}: {e}")));
    }
    let zones = cx.ops.zones_with_pool(pool);
    match zones.len() {
        0 => Err(error(
            StatusCode::NOT_FOUND,
            format!("no pool named {pool}"),
        )),
        1 => Ok(zones[0].clone()),
        _ => Err(error(
            StatusCode::CONFLICT,
            format!("pool {pool} exists in several zones; add ?zone=<zone>"),
        )),
    }
}

async fn pool_action(
    State(cx): State<Arc<Cx>>,
    Path((pool, action)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (zone, drained) = drain_request(&cx, &headers, &pool, &action, &params)?;
    let done = cx
        .ops
        .set_drain(&zone, &pool, None, drained)
        .await
        .map_err(drain_error)?;
    Ok(Json(json!({
        "zone": done.zone.to_string(), "pool": pool, "drained": drained,
        "at_ms": done.entry.at_ms, "by": done.entry.by,
    }))
    .into_response())
}

async fn origin_action(
    State(cx): State<Arc<Cx>>,
    Path((pool, origin, action)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (zone, drained) = drain_request(&cx, &headers, &pool, &action, &params)?;
    let done = cx
        .ops
        .set_drain(&zone, &pool, Some(&origin), drained)
        .await
        .map_err(drain_error)?;
    Ok(Json(json!({
        "zone": done.zone.to_string(), "pool": pool, "origin": origin, "drained": drained,
        "address": done.address.map(|a| a.to_string()),
        "at_ms": done.entry.at_ms, "by": done.entry.by,
    }))
    .into_response())
}

fn drain_error(e: crate::ops::DrainError) -> ApiError {
    match e {
        crate::ops::DrainError::NotFound(m) => error(StatusCode::NOT_FOUND, m),
        crate::ops::DrainError::Storage(m) => error(StatusCode::INTERNAL_SERVER_ERROR, m),
    }
}

/// `GET /v1/fleet`: this instance's observations and drains, for its peers (token needed:
/// the API token authenticates instance to instance).
async fn fleet_report(State(cx): State<Arc<Cx>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&cx, &headers)?;
    Ok(Json(cx.ops.fleet_report().await).into_response())
}

/// The `fleet` object of `/v1/status`: `null` for an instance without peers.
fn fleet_json(state: &crate::state::State) -> Value {
    let Some(f) = &state.health.fleet else {
        return Value::Null;
    };
    json!({
        "isolated": f.isolated,
        "quorum": f.quorum.map_or(json!("majority"), |q| json!(q)),
        "members": f.members.iter().map(|m| json!({
            "name": m.name,
            "url": m.url,
            "latitude": m.location.map(|x| x.0),
            "longitude": m.location.map(|x| x.1),
            "reporting": m.reporting,
            "last_report_unix": m.last_ok_ms.map(|t| t as f64 / 1000.0),
            "error": m.error,
            "failed_polls": m.failures,
        })).collect::<Vec<_>>(),
        "regions": crate::geo::countries::REGIONS.iter().zip(f.region_instance.iter())
            .map(|(r, &m)| (r.to_string(), json!(f.members.get(m as usize).map(|m| m.name.clone()))))
            .collect::<serde_json::Map<String, Value>>(),
    })
}

/// With peers, an origin's `up` is the fleet's: `local_up` is this instance's own verdict
/// and `fleet_votes` how many instances see it down of those reporting on it.
fn add_fleet_fields(state: &crate::state::State, origin: u32, j: &mut Value) {
    let Some(f) = &state.health.fleet else {
        return;
    };
    let i = origin as usize;
    j["local_up"] = json!(state.health.origins.get(i).map(|h| h.local_up));
    if let Some(&(down, reporting)) = f.votes.get(i).filter(|v| v.1 > 0) {
        j["fleet_votes"] = json!({ "down": down, "reporting": reporting });
    }
}

async fn status(State(cx): State<Arc<Cx>>) -> Json<Value> {
    // One published state for the whole answer: configuration, health and probes agree.
    let state = cx.ops.state.current();
    let snap = &state.config;
    let origins = state.origin_status();
    let cfg = &snap.steering;
    let view = View::new(cfg, &state.health);
    let pool_name = |p: u32| cfg.pools[p as usize].name.clone();
    let pools: Vec<Value> = cfg
        .pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = i as u32;
            let members = &origins[p.origins.start as usize..p.origins.end as usize];
            let drained = state.health.pools.get(i).is_some_and(|h| h.drained);
            json!({
                "zone": p.zone.to_string(),
                "name": p.name,
                "enabled": p.enabled,
                "drained": drained,
                "up": view.pool_up(id),
                "healthy_origins": view.usable_count(id),
                "minimum_origins": p.minimum_origins,
                "monitor": p.monitor.map(|m| cfg.monitors[m as usize].name.clone()),
                "origins": members.iter().map(|o| {
                    let mut j = origin_json(cfg, o);
                    add_fleet_fields(&state, o.origin, &mut j);
                    j
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let lbs: Vec<Value> = cfg
        .load_balancers
        .iter()
        .map(|lb| {
            json!({
                "name": lb.name.to_string(),
                "steering": format!("{:?}", lb.policy).to_lowercase(),
                "ttl": lb.ttl,
                "default_pools": lb.default_pools.iter().map(|&p| pool_name(p)).collect::<Vec<_>>(),
                "fallback_pool": pool_name(lb.fallback_pool),
                "on_all_down": format!("{:?}", lb.on_all_down).to_lowercase(),
                "max_answers": lb.max_answers,
                "custom_rules": lb.custom_rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
                "subnet_pools": lb.subnet_pools.iter().map(|(n, l)| json!({
                    "network": n.to_string(),
                    "pools": l.iter().map(|&p| pool_name(p)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "asn_pools": lb.asn_pools.iter().map(|(a, l)| json!({
                    "asn": a,
                    "pools": l.iter().map(|&p| pool_name(p)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut zones: Vec<String> = snap.zones.iter().map(|z| z.origin.to_string()).collect();
    zones.sort();
    let mut out = json!({
        "generation": snap.generation,
        "ready": cx.ops.is_ready(),
        "zones": zones,
        "geoip": snap.geo.as_ref().map(|g| json!({
            "path": g.path().display().to_string(),
            "database_type": g.database_type(),
            "build_epoch": g.build_epoch(),
        })),
        "asn_db": snap.asn.as_ref().map(|g| json!({
            "path": g.path().display().to_string(),
            "database_type": g.database_type(),
            "build_epoch": g.build_epoch(),
        })),
        "load_balancers": lbs,
        "pools": pools,
        "fleet": fleet_json(&state),
    });
    add_operator_status(&cx, &state, &mut out).await;
    Json(out)
}

fn origin_json(cfg: &SteeringConfig, o: &OriginStatus) -> Value {
    let origin = &cfg.origins[o.origin as usize];
    let addresses: Vec<String> = [
        origin.v4.map(std::net::IpAddr::V4),
        origin.v6.map(std::net::IpAddr::V6),
    ]
    .into_iter()
    .flatten()
    .map(|a| a.to_string())
    .collect();
    let last = o.last.as_ref().map(|r| {
        json!({
            "at": r.at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            "ok": r.outcome.is_ok(),
            "result": match &r.outcome {
                Ok(s) => s.to_string(),
                Err(f) => f.to_string(),
            },
            "attempts": r.attempts,
            "time_ms": r.time.as_secs_f64() * 1000.0,
        })
    });
    json!({
        "name": o.name,
        "addresses": addresses,
        "weight": origin.weight,
        "enabled": origin.enabled,
        "drained": o.drained,
        "pool_drained": o.pool_drained,
        "up": o.up,
        "monitor": o.monitor,
        "rtt_ms": o.rtt_ms,
        "load": o.load,
        "load_factor": o.load.and_then(|l| cfg.load_signal(o.origin).map(|s| s.factor(l))),
        "last_probe": last,
        "since": o.since.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs_f64()),
    })
}

async fn metrics(State(cx): State<Arc<Cx>>) -> Response {
    let mut out = String::with_capacity(8192);
    cx.ops.metrics.render_queries(&mut out);
    // One published state for every family below.
    let state = cx.ops.state.current();
    let snap = &state.config;
    let origins = state.origin_status();
    let cfg = &snap.steering;
    let view = View::new(cfg, &state.health);
    family(
        &mut out,
        "geosteer_origin_up",
        "gauge",
        "1 when the origin's monitor finds it healthy (always 1 without a monitor).",
    );
    for o in &origins {
        let l = origin_labels(o);
        sample(
            &mut out,
            "geosteer_origin_up",
            &l.as_refs(),
            f64::from(o.up),
        );
    }
    family(
        &mut out,
        "geosteer_origin_serving",
        "gauge",
        "1 when the origin may be answered: enabled, not drained (nor its pool), and up.",
    );
    for o in &origins {
        let serving = view.origin_usable(o.origin) && !o.pool_drained;
        sample(
            &mut out,
            "geosteer_origin_serving",
            &origin_labels(o).as_refs(),
            f64::from(serving),
        );
    }
    family(
        &mut out,
        "geosteer_origin_rtt_seconds",
        "gauge",
        "Smoothed round-trip time of the origin's successful probes.",
    );
    for o in &origins {
        if let Some(ms) = o.rtt_ms {
            sample(
                &mut out,
                "geosteer_origin_rtt_seconds",
                &origin_labels(o).as_refs(),
                ms / 1000.0,
            );
        }
    }
    family(
        &mut out,
        "geosteer_probe_failures_total",
        "counter",
        "Failed health probes by reason.",
    );
    for o in origins.iter().filter(|o| o.monitor.is_some()) {
        let l = origin_labels(o);
        for (i, reason) in Failure::REASONS.iter().enumerate() {
            let mut labels = l.as_refs();
            labels.push(("reason", reason));
            sample(
                &mut out,
                "geosteer_probe_failures_total",
                &labels,
                o.failures_by_reason[i] as f64,
            );
        }
    }
    fleet_metrics(&mut out, &state);
    dnssec_metrics(&mut out, &cx.ops, snap);
    render_operator_metrics(&state, &mut out);
    cx.ops.metrics.render_notifications(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// With peers: whether this instance judges alone, and each peer's reporting and failures.
fn fleet_metrics(out: &mut String, state: &crate::state::State) {
    let Some(f) = &state.health.fleet else {
        return;
    };
    family(
        out,
        "geosteer_fleet_isolated",
        "gauge",
        "1 when no peer has reported within 3 poll intervals: origins are judged by this \
         instance's own probes alone.",
    );
    sample(out, "geosteer_fleet_isolated", &[], f64::from(f.isolated));
    family(
        out,
        "geosteer_fleet_peer_reporting",
        "gauge",
        "1 when the peer reported within the last 3 poll intervals.",
    );
    for m in f.members.iter().skip(1) {
        let url = m.url.as_deref().unwrap_or_default();
        sample(
            out,
            "geosteer_fleet_peer_reporting",
            &[("peer", url)],
            f64::from(m.reporting),
        );
    }
    family(
        out,
        "geosteer_fleet_peer_poll_failures_total",
        "counter",
        "Polls of the peer that failed (unreachable, too slow, too large, bad report).",
    );
    for m in f.members.iter().skip(1) {
        let url = m.url.as_deref().unwrap_or_default();
        sample(
            out,
            "geosteer_fleet_peer_poll_failures_total",
            &[("peer", url)],
            m.failures as f64,
        );
    }
}

/// Signature caches and, per signed zone, its signatures and when they expire.
fn dnssec_metrics(out: &mut String, ops: &Ops, snap: &crate::state::Snapshot) {
    let caches = [
        ("answers", ops.caches.answers.stats()),
        ("denial", ops.caches.denial.stats()),
    ];
    type Gauge<T> = (&'static str, &'static str, fn(&T) -> f64);
    let gauges: [Gauge<crate::dnssec::cache::CacheStats>; 4] = [
        (
            "geosteer_dnssec_cache_entries",
            "RRsets whose RRSIGs the signature cache holds.",
            |s| s.entries as f64,
        ),
        (
            "geosteer_dnssec_cache_bytes",
            "Bytes the signature cache holds (keys, signatures, per-entry overhead).",
            |s| s.bytes as f64,
        ),
        (
            "geosteer_dnssec_cache_max_entries",
            "The signature cache's bound in entries.",
            |s| s.max_entries as f64,
        ),
        (
            "geosteer_dnssec_cache_max_bytes",
            "The signature cache's bound in bytes.",
            |s| s.max_bytes as f64,
        ),
    ];
    for (name, help, f) in gauges {
        family(out, name, "gauge", help);
        for (cache, st) in &caches {
            sample(out, name, &[("cache", cache)], f(st));
        }
    }
    family(
        out,
        "geosteer_dnssec_cache_evictions_total",
        "counter",
        "Entries the signature cache dropped to stay within its bounds.",
    );
    for (cache, st) in &caches {
        sample(
            out,
            "geosteer_dnssec_cache_evictions_total",
            &[("cache", cache)],
            st.evictions as f64,
        );
    }
    let Some(signing) = &snap.signing else {
        return;
    };
    let signed = signing.signed.load();
    let mut zones: Vec<(String, &crate::dnssec::zone::SignedZone)> = snap
        .zones
        .iter()
        .filter_map(|z| Some((z.origin.to_string(), signed.zone(z.id)?)))
        .collect();
    zones.sort_by(|a, b| a.0.cmp(&b.0));
    let per_zone: [Gauge<crate::dnssec::zone::SignedZone>; 3] = [
        (
            "geosteer_dnssec_zone_signatures",
            "RRSIGs made at load or refresh for the zone (static data, NSECs, apex keys).",
            |z| z.signatures as f64,
        ),
        (
            "geosteer_dnssec_zone_expiration_timestamp_seconds",
            "When the zone's first static signature expires (Unix time): alert if it comes near.",
            |z| z.expiration as f64,
        ),
        (
            "geosteer_dnssec_zone_refresh_timestamp_seconds",
            "When the zone's first static signature is due to be made anew (Unix time).",
            |z| z.refresh_at as f64,
        ),
    ];
    for (name, help, f) in per_zone {
        family(out, name, "gauge", help);
        for (zone, z) in &zones {
            sample(out, name, &[("zone", zone)], f(z));
        }
    }
}

/// The families of the operator's view: pools and load balancers, the GeoIP database, the
/// build and the process.
fn render_operator_metrics(state: &crate::state::State, out: &mut String) {
    crate::transitions::render_gauges(&crate::transitions::Summary::of(state), out);
    // `_epoch_seconds` is the old name, kept for one release beside the conventional one.
    for (name, help) in [
        (
            "geosteer_geoip_build_timestamp_seconds",
            "Build time of the GeoIP database in use (Unix time).",
        ),
        (
            "geosteer_geoip_build_epoch_seconds",
            "Deprecated: geosteer_geoip_build_timestamp_seconds (removed in the next release).",
        ),
    ] {
        family(out, name, "gauge", help);
        if let Some(g) = &state.config.geo {
            sample(out, name, &[], g.build_epoch() as f64);
        }
    }
    crate::metrics::process::render(out);
}

struct OriginLabels {
    zone: String,
    pool: String,
    origin: String,
}

impl OriginLabels {
    fn as_refs(&self) -> Vec<(&str, &str)> {
        vec![
            ("zone", self.zone.as_str()),
            ("pool", self.pool.as_str()),
            ("origin", self.origin.as_str()),
        ]
    }
}

fn origin_labels(o: &OriginStatus) -> OriginLabels {
    OriginLabels {
        zone: o.zone.to_string(),
        pool: o.pool.clone(),
        origin: o.name.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The operator's view: the status page and its assets, the country map, explain, and what the
// status answer carries for them.

fn operator_routes() -> Router<Arc<Cx>> {
    Router::new()
        .route("/", get(page))
        .route("/assets/{name}", get(page_asset))
        .route("/v1/map", get(country_map))
        .route("/v1/explain", get(explain))
}

/// Headers of every page response: nothing but this server's own scripts and styles, never
/// framed, no referrer (the token lives in the page).
fn page_headers(content_type: &'static str) -> [(header::HeaderName, &'static str); 5] {
    [
        (header::CONTENT_TYPE, content_type),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ]
}

async fn page() -> Response {
    (
        page_headers("text/html; charset=utf-8"),
        crate::status_page::INDEX_HTML,
    )
        .into_response()
}

async fn page_asset(Path(name): Path<String>) -> Response {
    match crate::status_page::asset(&name) {
        Some((ct, body)) => (page_headers(ct), body).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no asset {name}")).into_response(),
    }
}

fn family_param(params: &HashMap<String, String>) -> Result<crate::config::Family, ApiError> {
    match params
        .get("type")
        .map(|t| t.to_ascii_uppercase())
        .as_deref()
    {
        None | Some("A") => Ok(crate::config::Family::V4),
        Some("AAAA") => Ok(crate::config::Family::V6),
        Some(t) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("type {t}: A or AAAA"),
        )),
    }
}

/// `GET /v1/map?lb=NAME[&type=A|AAAA]`: see [`crate::status_page::country_map`].
async fn country_map(
    State(cx): State<Arc<Cx>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let state = cx.ops.state.current();
    let cfg = &state.config.steering;
    let wanted = params
        .get("lb")
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "lb=<load balancer name> required"))?;
    let name = Name::from_ascii(wanted)
        .map(|mut n| {
            n.set_fqdn(true);
            n
        })
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad name {wanted:?}: {e}")))?;
    let i = cfg
        .load_balancers
        .iter()
        .position(|lb| lb.name == name)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no load balancer {name}")))?;
    let family = family_param(&params)?;
    Ok(Json(crate::status_page::country_map(&state, i, family)))
}

/// `GET /v1/explain?name=&client=[&type=A|AAAA][&ecs_prefix=N]`: `geosteer explain`'s report,
/// from this server's configuration, health, drains and RTTs (text/plain).
async fn explain(
    State(cx): State<Arc<Cx>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    let name = params
        .get("name")
        .ok_or_else(|| bad("name=<name> required".into()))?;
    let name = Name::from_ascii(name).map_err(|e| bad(format!("bad name {name:?}: {e}")))?;
    let client: std::net::IpAddr = params
        .get("client")
        .ok_or_else(|| bad("client=<address> required".into()))?
        .parse()
        .map_err(|e| bad(format!("bad client address: {e}")))?;
    let qtype = match family_param(&params)? {
        crate::config::Family::V4 => hickory_proto::rr::RecordType::A,
        crate::config::Family::V6 => hickory_proto::rr::RecordType::AAAA,
    };
    let max = if client.is_ipv4() { 32 } else { 128 };
    let ecs_prefix = match params.get("ecs_prefix") {
        None => {
            if client.is_ipv4() {
                24
            } else {
                56
            }
        }
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= max)
            .ok_or_else(|| bad(format!("ecs_prefix {p}: 0..={max}")))?,
    };
    let state = cx.ops.state.current();
    let generation = state.config.generation;
    let text = tokio::task::spawn_blocking(move || {
        crate::explain::explain(
            &state,
            &crate::explain::Request {
                name,
                client,
                qtype,
                ecs_prefix,
                health_source: format!(
                    "the running server's (configuration generation {generation}, its probes \
                     and drains)"
                ),
            },
        )
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// What `/v1/status` carries for the status page: the instance, each load balancer's active
/// pool, the pools' coordinates, and the drain decisions.
async fn add_operator_status(cx: &Cx, state: &crate::state::State, out: &mut Value) {
    let summary = crate::transitions::Summary::of(state);
    let cfg = &state.config.steering;
    if let Some(lbs) = out["load_balancers"].as_array_mut() {
        for (lb, s) in lbs.iter_mut().zip(&summary.load_balancers) {
            let active = s.active();
            lb["active"] = json!({
                "pools": active.answering,
                "outcome": active.outcome.name(),
                "all_down": active.all_down,
                "type": match s.family {
                    crate::config::Family::V4 => "A",
                    crate::config::Family::V6 => "AAAA",
                },
            });
        }
    }
    if let Some(pools) = out["pools"].as_array_mut() {
        for (p, c) in pools.iter_mut().zip(&cfg.pools) {
            p["latitude"] = json!(c.coordinates.map(|x| x.0));
            p["longitude"] = json!(c.coordinates.map(|x| x.1));
            p["origin_count"] = json!(c.origins.len());
        }
    }
    out["instance"] = json!(cx.ops.instance());
    out["drains"] = json!(cx.ops.drain_entries().await);
    out["state_file"] = json!(cx.ops.drains_path().await);
}
