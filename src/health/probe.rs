//! One probe of one origin: a TCP connect or an HTTP(S) request, with immediate re-tries, and
//! the reason when it fails.
//!
//! HTTP goes through reqwest (rustls with ring, HTTP/1.1, no proxy, no connection reuse so
//! that every probe measures a fresh connection). Each target has its own client whose DNS is
//! pinned to the origin: the URL carries the monitor's Host header as host name, so that TLS
//! sends it as SNI and verifies the certificate against it, while the connection goes to the
//! origin's address. Without a Host header the URL is the address itself.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::{HttpCheck, Monitor, MonitorKind};
use crate::state::{Failure, ProbeResult, Success};

/// How much of a response body `expected_body` is looked for in.
pub const BODY_LIMIT: usize = 64 * 1024;

const USER_AGENT: &str = concat!("geosteer-health/", env!("CARGO_PKG_VERSION"));

/// Runs `attempt` up to `attempts` times, each bounded by `timeout`, stopping at the first
/// success: the re-tries are immediate, so a probe takes at most `attempts × timeout`.
pub async fn with_retries<F, Fut>(attempts: u32, timeout: Duration, mut attempt: F) -> ProbeResult
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Success, Failure>>,
{
    let attempts = attempts.max(1);
    let mut n = 0;
    loop {
        n += 1;
        let start = Instant::now();
        let outcome = tokio::time::timeout(timeout, attempt())
            .await
            .unwrap_or(Err(Failure::Timeout));
        let time = start.elapsed();
        if outcome.is_ok() || n >= attempts {
            return ProbeResult {
                at: SystemTime::now(),
                attempts: n,
                time,
                outcome,
            };
        }
    }
}

/// TLS client configurations shared by every HTTP client: built once, when first needed.
#[derive(Default)]
pub struct TlsConfigs {
    verified: OnceLock<Result<rustls::ClientConfig, String>>,
    insecure: OnceLock<rustls::ClientConfig>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn finish(mut cfg: rustls::ClientConfig) -> rustls::ClientConfig {
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg
}

impl TlsConfigs {
    /// Verifies certificates against the system's roots (loaded once).
    pub(crate) fn verified(&self) -> Result<rustls::ClientConfig, String> {
        self.verified
            .get_or_init(|| {
                let provider = provider();
                let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(|e| format!("cannot load the system's CA certificates: {e}"))?;
                let cfg = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth();
                Ok(finish(cfg))
            })
            .clone()
    }

    /// `allow_insecure`: any certificate is accepted (the handshake signatures are still
    /// checked against it).
    pub(crate) fn insecure(&self) -> rustls::ClientConfig {
        self.insecure
            .get_or_init(|| {
                let provider = provider();
                let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default protocol versions")
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                    .with_no_client_auth();
                finish(cfg)
            })
            .clone()
    }
}

#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A monitor prepared for one origin.
pub struct Check {
    kind: Kind,
    attempts: u32,
    timeout: Duration,
}

enum Kind {
    Tcp(SocketAddr),
    Http(Box<HttpProbe>),
    /// The monitor cannot be probed; every probe fails with this reason.
    Invalid(String),
}

struct HttpProbe {
    client: reqwest::Client,
    url: reqwest::Url,
    method: reqwest::Method,
    headers: HeaderMap,
    body: Option<String>,
    codes: Vec<(u16, u16)>,
    /// Lower-cased.
    expected_body: Option<String>,
    /// Where to read the origin's load from a passing response.
    load: Option<crate::config::LoadSource>,
}

impl Check {
    /// The check of `monitor` against the origin at `addr` (an invalid configuration becomes a
    /// check that fails with the reason: see [`Check::invalid`]).
    pub fn new(monitor: &Monitor, addr: IpAddr, tls: &TlsConfigs) -> Self {
        let target = SocketAddr::new(addr, monitor.port);
        let kind = match &monitor.kind {
            MonitorKind::Tcp => Kind::Tcp(target),
            MonitorKind::Http(h) => http(h, "http", target, monitor.timeout, tls),
            MonitorKind::Https(h) => http(h, "https", target, monitor.timeout, tls),
        };
        Self {
            kind,
            attempts: monitor.retries.saturating_add(1),
            timeout: monitor.timeout,
        }
    }

    /// Why this check can never pass, if it is misconfigured.
    pub fn invalid(&self) -> Option<&str> {
        match &self.kind {
            Kind::Invalid(e) => Some(e),
            _ => None,
        }
    }

    /// One probe: up to `retries + 1` attempts.
    ///
    /// A panic while probing is caught (see [`crate::panics`]): the result is then a local
    /// error, which leaves the origin's state as it was.
    pub async fn probe(&self) -> ProbeResult {
        let started = Instant::now();
        crate::panics::catch_future(
            crate::panics::Site::Probe,
            with_retries(self.attempts, self.timeout, || {
                crate::panics::inject(crate::panics::Inject::Probe, || true);
                self.attempt()
            }),
        )
        .await
        .unwrap_or_else(|| ProbeResult {
            at: SystemTime::now(),
            attempts: 1,
            time: started.elapsed(),
            outcome: Err(Failure::Local("the probe panicked".into())),
        })
    }

    async fn attempt(&self) -> Result<Success, Failure> {
        match &self.kind {
            Kind::Tcp(addr) => match tokio::net::TcpStream::connect(addr).await {
                // Dropping the stream closes it with a FIN.
                Ok(_) => Ok(Success::Connected),
                Err(e) => Err(io_failure(&e)),
            },
            Kind::Http(h) => h.attempt().await,
            Kind::Invalid(e) => Err(Failure::Config(e.clone())),
        }
    }
}

fn http(
    h: &HttpCheck,
    scheme: &str,
    target: SocketAddr,
    timeout: Duration,
    tls: &TlsConfigs,
) -> Kind {
    match build_http(h, scheme, target, timeout, tls) {
        Ok(p) => Kind::Http(Box::new(p)),
        Err(e) => Kind::Invalid(e),
    }
}

fn build_http(
    h: &HttpCheck,
    scheme: &str,
    target: SocketAddr,
    timeout: Duration,
    tls: &TlsConfigs,
) -> Result<HttpProbe, String> {
    let mut headers = HeaderMap::new();
    let mut host_header = None;
    for (k, v) in &h.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("invalid header name {k:?}"))?;
        let value =
            HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k}"))?;
        if name == reqwest::header::HOST {
            host_header = Some(v.clone());
        }
        headers.append(name, value);
    }
    let method = reqwest::Method::from_bytes(h.method.as_bytes())
        .map_err(|_| format!("invalid method {:?}", h.method))?;

    // The URL's host: the Host header's name when it is one (for SNI and certificate checks,
    // with DNS pinned to the origin), else the origin's address.
    let ip_host = match target.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let named_host = host_header.as_deref().and_then(|v| {
        let u = reqwest::Url::parse(&format!("{scheme}://{v}/")).ok()?;
        let h = u.host_str()?;
        let literal = h.trim_start_matches('[').trim_end_matches(']');
        literal.parse::<IpAddr>().is_err().then(|| h.to_string())
    });
    let host = named_host.clone().unwrap_or(ip_host);
    let mut url = reqwest::Url::parse(&format!("{scheme}://{host}{}", h.path))
        .map_err(|e| format!("bad URL for path {:?}: {e}", h.path))?;
    url.set_port(Some(target.port()))
        .map_err(|_| "cannot set the port".to_string())?;

    // Plain HTTP needs TLS only when a redirect may lead to https.
    let tls_config = if scheme == "https" || h.follow_redirects {
        if h.allow_insecure {
            tls.insecure()
        } else {
            tls.verified()?
        }
    } else {
        tls.insecure()
    };
    let redirect = if h.follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config)
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(0)
        .redirect(redirect)
        .user_agent(USER_AGENT)
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(name) = &named_host {
        builder = builder.resolve(name, target);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    Ok(HttpProbe {
        client,
        url,
        method,
        headers,
        body: h.body.clone(),
        codes: h.expected_codes.clone(),
        expected_body: h.expected_body.as_ref().map(|b| b.to_lowercase()),
        load: h.load.as_ref().map(|l| l.source.clone()),
    })
}

impl HttpProbe {
    async fn attempt(&self) -> Result<Success, Failure> {
        let mut req = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone());
        if let Some(b) = &self.body {
            req = req.body(b.clone());
        }
        let mut resp = req.send().await.map_err(|e| reqwest_failure(&e))?;
        let code = resp.status().as_u16();
        if !self.codes.iter().any(|&(a, b)| (a..=b).contains(&code)) {
            return Err(Failure::Status(code));
        }
        let header_load = match &self.load {
            Some(crate::config::LoadSource::Header(name)) => Some(
                resp.headers()
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok()),
            ),
            _ => None,
        };
        let json_path = match &self.load {
            Some(crate::config::LoadSource::Json(path)) => Some(path),
            _ => None,
        };
        let mut buf = Vec::new();
        if self.expected_body.is_some() || json_path.is_some() {
            while buf.len() < BODY_LIMIT {
                match resp.chunk().await.map_err(|e| reqwest_failure(&e))? {
                    Some(c) => {
                        let room = BODY_LIMIT - buf.len();
                        buf.extend_from_slice(&c[..c.len().min(room)]);
                    }
                    None => break,
                }
            }
        }
        if let Some(want) = &self.expected_body
            && !String::from_utf8_lossy(&buf).to_lowercase().contains(want)
        {
            return Err(Failure::BodyMismatch);
        }
        let load = header_load
            .flatten()
            .or_else(|| json_path.and_then(|p| json_number(&buf, p)));
        Ok(match load {
            Some(l) if l.is_finite() => Success::Loaded(code, crate::state::Load(l)),
            _ => Success::Status(code),
        })
    }
}

/// The number at `path` (object keys) in a JSON body; a numeric string counts.
pub fn json_number(body: &[u8], path: &[String]) -> Option<f64> {
    let root: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut v = &root;
    for key in path {
        v = v.get(key.as_str())?;
    }
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn io_failure(e: &std::io::Error) -> Failure {
    use std::io::ErrorKind as K;
    // Connectors wrap errors in further I/O errors: look inside.
    if let Some(inner) = e.get_ref() {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Failure::Tls(tls.to_string());
        }
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return io_failure(io);
        }
    }
    // This host's own shortage (file descriptors, memory, buffers, local ports) says nothing
    // about the origin.
    if let Some(
        code @ (libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL),
    ) = e.raw_os_error()
    {
        return Failure::Local(std::io::Error::from_raw_os_error(code).to_string());
    }
    match e.kind() {
        K::ConnectionRefused => Failure::Refused,
        K::TimedOut => Failure::Timeout,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Failure::Reset
        }
        _ => Failure::Error(e.to_string()),
    }
}

/// Names the cause of a reqwest error: the innermost I/O or TLS error when there is one.
fn reqwest_failure(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<rustls::Error>() {
            return Failure::Tls(t.to_string());
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return io_failure(io);
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed())
        {
            return Failure::Reset;
        }
        innermost = c;
        cause = c.source();
    }
    if e.is_redirect() {
        return Failure::Error(format!("redirect: {innermost}"));
    }
    Failure::Error(innermost.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn json_load_readings_follow_the_path() {
        let path = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        let body = br#"{"load": {"now": 0.42, "text": " 7 ", "no": true}, "flat": 3}"#;
        assert_eq!(json_number(body, &path("load.now")), Some(0.42));
        assert_eq!(json_number(body, &path("load.text")), Some(7.0));
        assert_eq!(json_number(body, &path("flat")), Some(3.0));
        assert_eq!(json_number(body, &path("load.no")), None);
        assert_eq!(json_number(body, &path("load.missing")), None);
        assert_eq!(json_number(b"not json", &path("flat")), None);
    }

    #[tokio::test]
    async fn retries_stop_at_the_first_success() {
        let calls = AtomicU32::new(0);
        let r = with_retries(3, Duration::from_secs(1), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                Err(Failure::Refused)
            } else {
                Ok(Success::Connected)
            }
        })
        .await;
        assert!(r.ok());
        assert_eq!(r.attempts, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_probe_fails_only_when_every_attempt_fails() {
        let calls = AtomicU32::new(0);
        let r = with_retries(2, Duration::from_secs(1), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Failure::Status(503))
        })
        .await;
        assert_eq!(r.outcome, Err(Failure::Status(503)));
        assert_eq!(r.attempts, 2);
        assert_eq!(r.to_string(), "failed: status 503 (2 attempts)");
    }

    #[tokio::test]
    async fn retries_zero_means_one_attempt() {
        let calls = AtomicU32::new(0);
        let r = with_retries(1, Duration::from_secs(1), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Failure::Refused)
        })
        .await;
        assert_eq!(r.attempts, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn this_hosts_shortages_are_local_errors() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            let e = std::io::Error::from_raw_os_error(code);
            assert!(matches!(io_failure(&e), Failure::Local(_)), "{e}");
            // Also when a connector wraps it.
            let wrapped = std::io::Error::other(e);
            assert!(matches!(io_failure(&wrapped), Failure::Local(_)));
        }
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(io_failure(&refused), Failure::Refused);
    }

    #[tokio::test]
    async fn each_attempt_is_bounded_by_the_timeout() {
        let start = Instant::now();
        let r = with_retries(2, Duration::from_millis(30), || async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(Success::Connected)
        })
        .await;
        assert_eq!(r.outcome, Err(Failure::Timeout));
        assert_eq!(r.attempts, 2);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn invalid_monitors_fail_with_a_reason() {
        let monitor = Monitor {
            name: "m".into(),
            zone: hickory_proto::rr::Name::root(),
            kind: MonitorKind::Http(HttpCheck {
                method: "GET".into(),
                path: "/".into(),
                headers: vec![("bad header".into(), "x".into())],
                body: None,
                expected_codes: vec![(200, 200)],
                expected_body: None,
                follow_redirects: false,
                allow_insecure: false,
                load: None,
            }),
            port: 80,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            retries: 1,
            consecutive_down: 2,
            consecutive_up: 2,
        };
        let c = Check::new(
            &monitor,
            "127.0.0.1".parse().unwrap(),
            &TlsConfigs::default(),
        );
        assert_eq!(c.invalid(), Some("invalid header name \"bad header\""));
    }
}
