//! The `geosteer` command: serve, check and explain.

#![deny(clippy::print_stdout, unsafe_op_in_unsafe_fn)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tracing::{error, info, warn};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use geosteer::api;
use geosteer::dns::server::{self, ServerOptions};
use geosteer::dns::{Identity, Responder, rrl};
use geosteer::error::ConfigError;
use geosteer::health::{self, Monitoring};
use geosteer::load;
use geosteer::metrics::Metrics;
use geosteer::ops::Ops;
use geosteer::state::{Published, Snapshot, State};
use tokio_util::sync::CancellationToken;

/// Authoritative GeoDNS server with health-checked traffic steering.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a command, geosteer serves: `geosteer [serve options]`.
    #[command(flatten)]
    serve: ServeArgs,
}

// Parsed once at start: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the zones in --zones over UDP and TCP (the default command).
    Serve(ServeArgs),
    /// Load and validate everything `serve` would, then exit: 0 when valid, 1 on any error.
    Check(DataArgs),
    /// Show how a name is answered for a client: location, rule, pools, answer, ECS scope.
    Explain(ExplainArgs),
    /// Ask a running server to reload (POST /v1/reload); exits 1 with the errors when the
    /// configuration is rejected. For systemd's ExecReload.
    Reload(ReloadArgs),
    /// Make a DNSSEC key pair for ZONE (BIND format, like dnssec-keygen); prints its name.
    Keygen(KeygenArgs),
    /// Print the DS records (SHA-256) of ZONE's KSK/CSK keys, for the registrar.
    Ds(DsArgs),
    /// Write a zone's steering file from another product's configuration.
    Import(ImportArgs),
}

#[derive(Args, Clone)]
struct ImportArgs {
    #[command(subcommand)]
    from: ImportFrom,
}

#[derive(Subcommand, Clone)]
enum ImportFrom {
    /// Cloudflare Load Balancing: the JSON of GET /zones/:zone/load_balancers,
    /// /accounts/:account/load_balancers/pools and …/monitors (whole responses or their
    /// `result` arrays). Fields geosteer cannot honour are listed on stderr.
    Cloudflare(CloudflareImportArgs),
}

#[derive(Args, Clone)]
struct CloudflareImportArgs {
    /// The load balancers list (JSON).
    #[arg(long)]
    load_balancers: PathBuf,
    /// The pools list (JSON).
    #[arg(long)]
    pools: PathBuf,
    /// The monitors list (JSON).
    #[arg(long)]
    monitors: PathBuf,
    /// The zone: its load balancers are imported, the others skipped.
    #[arg(long)]
    zone: String,
    /// Where to write (- for standard output). Default: <zones>/<zone>.toml.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The zones directory, for the default --out.
    #[arg(long, default_value = "./zones")]
    zones: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Clone)]
struct KeygenArgs {
    /// The zone the key is for.
    zone: String,
    /// Signing algorithm.
    #[arg(long, default_value = "ecdsap256sha256", value_parser = ["ecdsap256sha256", "ed25519"])]
    algorithm: String,
    /// A key-signing key (flags 257; needs a ZSK beside it). Default: a combined signing key.
    #[arg(long, conflicts_with = "zsk")]
    ksk: bool,
    /// A zone-signing key (flags 256).
    #[arg(long)]
    zsk: bool,
    /// Key directory (created, mode 0700, if missing).
    #[arg(long, default_value = "./zones/keys")]
    keys: PathBuf,
}

#[derive(Args, Clone)]
struct DsArgs {
    /// The zone.
    zone: String,
    /// Key directory.
    #[arg(long, default_value = "./zones/keys")]
    keys: PathBuf,
}

#[derive(Args, Clone)]
struct ReloadArgs {
    /// The server's --http endpoint (ADDR:PORT or http://ADDR:PORT).
    #[arg(long, default_value = "127.0.0.1:9153")]
    http: String,
    /// File holding the API token. Default: the GEOSTEER_API_TOKEN environment variable.
    #[arg(long)]
    api_token_file: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct ExplainArgs {
    /// The name queried (relative names are not completed: give the full name).
    name: String,
    /// The client's address (as if sent in ECS by its resolver).
    #[arg(long)]
    client: std::net::IpAddr,
    /// Query type.
    #[arg(long = "type", default_value = "A", value_parser = ["A", "AAAA"])]
    qtype: String,
    /// ECS source prefix the resolver would send: default 24 for IPv4, 56 for IPv6; 0 sends
    /// no ECS (the client is then the resolver itself).
    #[arg(long)]
    ecs_prefix: Option<u8>,
    /// Ask the running server at this --http endpoint (ADDR:PORT or http://ADDR:PORT): its
    /// configuration, health, drains and RTTs. Without it, explain loads --zones and probes
    /// the origins once itself.
    #[arg(long)]
    server: Option<String>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Directory of zone files (<origin>.zone) and steering configuration.
    #[arg(long, default_value = "./zones")]
    zones: PathBuf,
    /// MaxMind-format (GeoIP2/GeoLite2 City or Country, DB-IP Lite) database.
    #[arg(long, default_value = "./geoip/sample-city.mmdb")]
    geoip: PathBuf,
    /// GeoLite2-ASN-format database (autonomous_system_number), for asn_pools and
    /// ip.src.asnum rules.
    #[arg(long)]
    asn_db: Option<PathBuf>,
    /// DNSSEC key directory: a zone with keys here (K<zone>.+<alg>+<tag>.key/.private) is
    /// signed. Default: <zones>/keys.
    #[arg(long)]
    keys: Option<PathBuf>,
    /// How signed zones deny existence: compact (RFC 9824: NXDOMAIN as NODATA with one NSEC)
    /// or white-lies (RFC 4470: NXDOMAIN with covering NSECs).
    #[arg(long, default_value = "compact", value_parser = ["compact", "white-lies"])]
    denial: String,
    /// How long signatures are valid (Knot's rrsig-lifetime), e.g. 14d.
    #[arg(long, default_value = "14d", value_parser = duration_secs)]
    rrsig_lifetime: u32,
    /// How long before they expire signatures are made anew (Knot's rrsig-refresh).
    /// Default: 1h + the RRset's TTL + a tenth of the lifetime.
    #[arg(long, value_parser = duration_secs)]
    rrsig_refresh: Option<u32>,
}

/// A duration ("14d", "36h", "90m", "3600s") in whole seconds.
fn duration_secs(s: &str) -> Result<u32, String> {
    let d = geosteer::config::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration (like 14d, 36h, 90m or 3600s)"))?;
    u32::try_from(d.as_secs()).map_err(|_| format!("{s} is too long"))
}

#[derive(Args, Clone)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address to answer DNS on, UDP and TCP: ADDR:PORT or HOST:PORT (every address the
    /// name resolves to at start); repeat for several (IPv6 as [::1]:5353).
    #[arg(long, default_value = "127.0.0.1:5353", value_parser = parse_listen)]
    listen: Vec<String>,
    /// Address for the HTTP endpoint: /metrics, /v1/status, /healthz, /readyz, and the
    /// admin calls (off unless given; keep it on loopback).
    #[arg(long)]
    http: Option<SocketAddr>,
    /// File holding the bearer token for the admin calls (reload, drain). Default: the
    /// GEOSTEER_API_TOKEN environment variable; with neither, admin calls are refused.
    #[arg(long)]
    api_token_file: Option<PathBuf>,
    /// UDP sockets per listen address (default: one per CPU).
    #[arg(long)]
    udp_sockets: Option<usize>,
    /// Seconds a TCP connection may stay idle between queries, or leave its replies untaken
    /// (at least 1).
    #[arg(long, default_value_t = server::DEFAULT_TCP_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    tcp_idle_timeout: u64,
    /// Seconds a TCP query may take to arrive once its first byte has (at least 1; not
    /// reset by each byte).
    #[arg(long, default_value_t = server::DEFAULT_TCP_QUERY_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    tcp_query_timeout: u64,
    /// Open DNS TCP connections in all; at the cap the one idle the longest makes room.
    #[arg(long, default_value_t = server::DEFAULT_TCP_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    tcp_max_connections: usize,
    /// Open DNS TCP connections per client address (per /64 for IPv6).
    #[arg(long, default_value_t = server::DEFAULT_TCP_MAX_PER_CLIENT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    tcp_max_per_client: usize,
    /// Open HTTP connections at most (beyond it, new ones are closed at once).
    #[arg(long, default_value_t = api::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    http_max_connections: usize,
    /// Seconds an HTTP client has to send a request's headers (also between requests on a
    /// kept-alive connection; at least 1).
    #[arg(long, default_value_t = api::Limits::default().header_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    http_header_timeout: u64,
    /// Health probes (connections) in flight at most; due probes beyond it wait.
    #[arg(long, default_value_t = geosteer::health::DEFAULT_MAX_PROBES as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_probes: u32,
    /// Answer for CHAOS TXT id.server. and hostname.bind. (default: the host name; "" turns
    /// them off: REFUSED).
    #[arg(long)]
    identity: Option<String>,
    /// Answer for CHAOS TXT version.server. and version.bind. (default: "geosteer VERSION";
    /// "" turns them off).
    #[arg(long)]
    server_version: Option<String>,
    /// EDNS NSID (RFC 5001) sent to queries that ask for it (default: the identity; "" turns
    /// it off).
    #[arg(long)]
    nsid: Option<String>,
    /// Steered RRsets whose signatures are cached, at most (a quarter more for wildcard and
    /// denial signatures).
    #[arg(long, default_value_t = geosteer::dnssec::cache::DEFAULT_CACHE_ENTRIES as u64,
          value_parser = clap::value_parser!(u64).range(1..100_000_000))]
    signature_cache_entries: u64,
    /// Memory the signature cache may take, in MiB (a quarter more for wildcard and denial
    /// signatures).
    #[arg(long, default_value_t = (geosteer::dnssec::cache::DEFAULT_CACHE_BYTES >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..65536))]
    signature_cache_mib: u64,
    /// Also answer UDP on this interface through AF_XDP sockets: IFACE (all its receive
    /// queues) or IFACE@0,2-3; repeat for several. Serves the --listen addresses that are on
    /// the interface (or 0.0.0.0 / [::]); everything else still goes to the kernel. Needs
    /// CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW (README: XDP).
    #[arg(long, value_name = "IFACE[@QUEUES]")]
    xdp: Vec<geosteer::dns::xdp::XdpSpec>,
    /// Directory for state kept across restarts: the operators' drains (drains.json).
    /// Without it, drains last until the process ends.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// POST the origin, pool and load balancer transitions of every zone to this URL (http or
    /// https; the generic JSON payload); repeat for several. A zone's [notifications] table
    /// adds webhooks with secret headers, formats (slack, pagerduty) and event filters.
    #[arg(long, value_name = "URL", value_parser = parse_webhook_url)]
    notify_webhook: Vec<String>,
    /// This instance's name among its peers, and in the drains decided here (default:
    /// --identity, else the host name).
    #[arg(long)]
    instance: Option<String>,
    /// Another instance's --http endpoint (ADDR:PORT or http(s)://…): its probe
    /// observations count in the quorum, its RTTs may steer `dynamic` load balancers, and
    /// drains apply fleet-wide. Repeat for each peer. Needs the API token (the same on every
    /// instance).
    #[arg(long, value_name = "URL")]
    peer: Vec<String>,
    /// Instances that must see an origin down for it to count as down (all of those
    /// reporting when fewer do). Default: a majority of the instances that reported within
    /// the last 3 probe intervals, this one included.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=255))]
    quorum: Option<u32>,
    /// Where this instance runs: LAT,LON in degrees, or a Cloudflare region code (WNAM, ENAM,
    /// WEU, EEU, NSAM, SSAM, OC, ME, NAF, SAF, SAS, SEAS, NEAS; README lists their points).
    /// With peers, `dynamic` load balancers steer each client by the RTTs measured from the
    /// instance nearest the client's region.
    #[arg(long, value_name = "LAT,LON|REGION", value_parser = geosteer::fleet::parse_location)]
    location: Option<(f64, f64)>,
    /// Log lines as text, or as JSON objects with stable field names (one per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    rrl: RrlArgs,
    /// How often origins given by host name are resolved again (a change reloads), e.g. 60s.
    #[arg(long, default_value = "60s", value_parser = duration_secs)]
    resolve_interval: u32,
}

/// Response rate limiting of UDP answers (README, "Production"). Off unless --rrl-rate is
/// given, as in Knot.
#[derive(Args, Clone)]
struct RrlArgs {
    /// Responses per second per client network and response (0: rate limiting off).
    #[arg(long, default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(rrl::MAX_RATE)))]
    rrl_rate: u32,
    /// Every Nth rate-limited response is sent empty with TC=1, the others dropped (0: drop
    /// all, 1: slip all).
    #[arg(long, default_value_t = rrl::DEFAULT_SLIP, value_parser = clap::value_parser!(u32).range(0..=10))]
    rrl_slip: u32,
    /// Seconds a network must stay under the rate before it is answered again (1-3600).
    #[arg(long, default_value_t = rrl::DEFAULT_WINDOW, value_parser = clap::value_parser!(u32).range(1..=3600))]
    rrl_window: u32,
    /// IPv4 prefix length that groups clients into one network.
    #[arg(long, default_value_t = rrl::DEFAULT_IPV4_PREFIX, value_parser = clap::value_parser!(u8).range(0..=32))]
    rrl_ipv4_prefix: u8,
    /// IPv6 prefix length that groups clients into one network.
    #[arg(long, default_value_t = rrl::DEFAULT_IPV6_PREFIX, value_parser = clap::value_parser!(u8).range(0..=128))]
    rrl_ipv6_prefix: u8,
    /// A network (CIDR, or one address) never rate-limited; repeat for several.
    #[arg(long, value_parser = parse_net)]
    rrl_exempt: Vec<ipnet::IpNet>,
    /// Count and log what would be limited, but send every response.
    #[arg(long)]
    rrl_log_only: bool,
    /// Accounts in the rate-limiting table (8 bytes each; fixed at start).
    #[arg(long, default_value_t = rrl::DEFAULT_TABLE_SIZE,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8..=(1 << 28)))]
    rrl_table_size: usize,
}

impl RrlArgs {
    fn config(&self) -> Option<rrl::RrlConfig> {
        (self.rrl_rate > 0).then(|| rrl::RrlConfig {
            rate: self.rrl_rate,
            slip: self.rrl_slip,
            window: self.rrl_window,
            ipv4_prefix: self.rrl_ipv4_prefix,
            ipv6_prefix: self.rrl_ipv6_prefix,
            exempt: self.rrl_exempt.clone(),
            log_only: self.rrl_log_only,
            table_size: self.rrl_table_size,
        })
    }
}

/// An http or https URL (checked as a zone's webhook URL is).
fn parse_webhook_url(s: &str) -> Result<String, String> {
    geosteer::config::check_webhook_url(s).map(|()| s.to_string())
}

/// A CIDR network, or one address (a /32 or /128).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither a network (198.51.100.0/24) nor an address"))
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line per event: level, target, message.
    Text,
    /// One JSON object per line: timestamp, level, target, message and the event's fields.
    Json,
}

impl ServeArgs {
    fn identity(&self) -> Identity {
        let defaults = Identity::from_host();
        let given = |v: &Option<String>, default: Option<String>| match v {
            Some(s) if s.is_empty() => None,
            Some(s) => Some(s.clone()),
            None => default,
        };
        let server_id = given(&self.identity, defaults.server_id);
        let nsid_default = server_id.clone();
        Identity {
            version: given(&self.server_version, defaults.version),
            nsid: given(&self.nsid, nsid_default).map(String::into_bytes),
            server_id,
        }
    }
}

fn main() -> ExitCode {
    geosteer::metrics::process::mark_start();
    load::tune_allocator();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    match command {
        Command::Check(args) => {
            init_logging(LogFormat::Text, BoxMakeWriter::new(std::io::stderr));
            check(&args)
        }
        Command::Serve(args) => {
            // Through a writer thread: a serving thread that logs only queues the line, and
            // when stderr is slow (a stalled journal, a full pipe) lines are dropped and
            // counted, never waited for. The guard flushes what is queued when main returns.
            let (writer, _log_guard) = NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(LOG_BUFFER_LINES)
                .thread_name("log-writer")
                .finish(std::io::stderr());
            let log_drops = writer.error_counter();
            init_logging(args.log_format, BoxMakeWriter::new(writer));
            // The panic policy (README, "Panics"): caught where serving can go on, else the
            // process aborts for its supervisor to restart it.
            geosteer::panics::install_hook();
            geosteer::panics::arm_from_env();
            serve(args, log_drops)
        }
        Command::Explain(args) => {
            init_logging(LogFormat::Text, BoxMakeWriter::new(std::io::stderr));
            explain(&args)
        }
        Command::Reload(args) => {
            init_logging(LogFormat::Text, BoxMakeWriter::new(std::io::stderr));
            reload(&args)
        }
        Command::Keygen(args) => {
            init_logging(LogFormat::Text, BoxMakeWriter::new(std::io::stderr));
            keygen(&args)
        }
        Command::Ds(args) => {
            init_logging(LogFormat::Text, BoxMakeWriter::new(std::io::stderr));
            ds(&args)
        }
        Command::Import(args) => match args.from {
            ImportFrom::Cloudflare(a) => import_cloudflare(&a),
        },
    }
}

fn keygen(args: &KeygenArgs) -> ExitCode {
    use geosteer::dnssec::tool::KeyKind;
    let kind = match (args.ksk, args.zsk) {
        (true, _) => KeyKind::Ksk,
        (_, true) => KeyKind::Zsk,
        _ => KeyKind::Csk,
    };
    match geosteer::dnssec::tool::keygen(&args.zone, &args.algorithm, kind, &args.keys) {
        Ok(name) => {
            output(&format!("{name}\n"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn ds(args: &DsArgs) -> ExitCode {
    match geosteer::dnssec::tool::ds(&args.zone, &args.keys) {
        Ok((lines, warnings)) => {
            warnings.iter().for_each(|w| eprintln!("warning: {w}"));
            lines.iter().for_each(|l| output(&format!("{l}\n")));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines buffered for the writer thread at most; beyond that, lines are dropped (and
/// counted in `geosteer_log_lines_dropped_total`) rather than make a serving thread wait.
const LOG_BUFFER_LINES: usize = 16_384;

/// Logs in `format` to `writer`: `serve` through its non-blocking writer thread; `check`,
/// `explain` and `reload` straight to stderr, in order with what they print there.
fn init_logging(format: LogFormat, writer: BoxMakeWriter) {
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(writer);
    match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .fmt_fields(geosteer::logfmt::TextFields)
            .init(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// `RUST_LOG`, or `info`; hickory's targets held to `error` unless named.
fn log_filter() -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The platform verifier logs every failed certificate check at ERROR; the health
        // log already gives the reason, once per change.
        EnvFilter::new("info,rustls_platform_verifier=off")
    });
    // hickory's decoder warns about some malformed data (EDNS options, CAA flags): that
    // would be a log line per client packet. Quiet unless RUST_LOG names hickory itself.
    let named = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("hickory"));
    if !named {
        for directive in ["hickory_proto=error", "hickory_server=error"] {
            filter = filter.add_directive(directive.parse().expect("static directive"));
        }
    }
    filter
}

impl DataArgs {
    fn sources(&self) -> Result<load::Sources, String> {
        use geosteer::dnssec::denial::Scheme;
        use geosteer::dnssec::sign::Validity;
        let validity = Validity {
            lifetime: self.rrsig_lifetime,
            refresh: self.rrsig_refresh,
            ..Validity::default()
        };
        validity.check()?;
        Ok(load::Sources {
            zones: self.zones.clone(),
            geoip: self.geoip.clone(),
            asn_db: self.asn_db.clone(),
            keys: self.keys.clone(),
            dnssec: geosteer::dnssec::zone::Policy {
                validity,
                scheme: if self.denial == "white-lies" {
                    Scheme::WhiteLies
                } else {
                    Scheme::Compact
                },
            },
        })
    }

    /// Loads everything, or hands each error found to `report` and returns how many there
    /// were. `serving`: as a server loads ([`load::load_to_serve`]: the GeoIP database is
    /// dropped once walked), else keeping the database for lookups.
    fn load(&self, report: fn(&ConfigError), serving: bool) -> Result<Snapshot, usize> {
        let sources = self.sources().map_err(|e| {
            report(&ConfigError::file(&self.zones, e));
            1usize
        })?;
        let loaded = if serving {
            load::load_to_serve(&sources)
        } else {
            load::load(&sources)
        };
        loaded.map_err(|errors| {
            errors.0.iter().for_each(report);
            errors.0.len()
        })
    }
}

/// An error for a command's user, on stderr.
fn to_stderr(e: &ConfigError) {
    eprintln!("{e}");
}

/// An error for the server's log.
fn to_log(e: &ConfigError) {
    error!("{e}");
}

/// A command's result, on stdout.
#[allow(
    clippy::print_stdout,
    reason = "check, explain, keygen and ds answer on stdout; everything else goes to the log"
)]
fn output(text: &str) {
    print!("{text}");
}

fn import_cloudflare(args: &CloudflareImportArgs) -> ExitCode {
    use geosteer::import;
    let read = |path: &PathBuf, what: &str| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|t| import::result_list(&t, &format!("{what} ({})", path.display())))
    };
    let zone = match hickory_proto::rr::Name::from_ascii(&args.zone) {
        Ok(mut z) => {
            z.set_fqdn(true);
            z
        }
        Err(e) => {
            eprintln!("bad zone {:?}: {e}", args.zone);
            return ExitCode::FAILURE;
        }
    };
    let lists = read(&args.load_balancers, "load balancers").and_then(|l| {
        Ok((
            l,
            read(&args.pools, "pools")?,
            read(&args.monitors, "monitors")?,
        ))
    });
    let (lbs, pools, monitors) = match lists {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let imported = match import::cloudflare(&lbs, &pools, &monitors, &zone) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for n in &imported.notes {
        eprintln!("import: {n}");
    }
    let out = args.out.clone().unwrap_or_else(|| {
        args.zones
            .join(format!("{}.toml", zone.to_string().trim_end_matches('.')))
    });
    if out.as_os_str() == "-" {
        output(&imported.toml);
    } else {
        if out.exists() && !args.force {
            eprintln!(
                "{} exists: give --force to replace it, or another --out",
                out.display()
            );
            return ExitCode::FAILURE;
        }
        if let Err(e) = std::fs::write(&out, &imported.toml) {
            eprintln!("{}: {e}", out.display());
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "imported {} load balancer{}, {} pool{}, {} monitor{} into {} ({} field{} not honoured, listed above)",
        imported.load_balancers,
        if imported.load_balancers == 1 {
            ""
        } else {
            "s"
        },
        imported.pools,
        if imported.pools == 1 { "" } else { "s" },
        imported.monitors,
        if imported.monitors == 1 { "" } else { "s" },
        out.display(),
        imported.notes.len(),
        if imported.notes.len() == 1 { "" } else { "s" },
    );
    ExitCode::SUCCESS
}

fn check(args: &DataArgs) -> ExitCode {
    match args.load(to_stderr, true) {
        Ok(snapshot) => {
            output(&format!("ok: {}\n", snapshot.summary()));
            ExitCode::SUCCESS
        }
        Err(n) => {
            eprintln!("{n} error{}", if n == 1 { "" } else { "s" });
            ExitCode::FAILURE
        }
    }
}

fn explain(args: &ExplainArgs) -> ExitCode {
    if let Some(server) = &args.server {
        return explain_remote(args, server);
    }
    let Ok(snapshot) = args.data.load(to_stderr, false).map(Arc::new) else {
        return ExitCode::FAILURE;
    };
    let name = match hickory_proto::rr::Name::from_ascii(&args.name) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("bad name {:?}: {e}", args.name);
            return ExitCode::FAILURE;
        }
    };
    let max = if args.client.is_ipv4() { 32 } else { 128 };
    let ecs_prefix = args
        .ecs_prefix
        .unwrap_or(if args.client.is_ipv4() { 24 } else { 56 });
    if ecs_prefix > max {
        eprintln!("--ecs-prefix {ecs_prefix} is longer than an address of that family");
        return ExitCode::FAILURE;
    }
    let qtype = if args.qtype == "AAAA" {
        hickory_proto::rr::RecordType::AAAA
    } else {
        hickory_proto::rr::RecordType::A
    };
    // One probe round, as serve runs before answering, so the answer shown is the one a
    // freshly started server would give.
    let state = match probe_once(&snapshot) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = geosteer::explain::explain(
        &state,
        &geosteer::explain::Request {
            name,
            client: args.client,
            qtype,
            ecs_prefix,
            health_source: format!(
                "probed once by this command from {} (not a running server's view: \
                 --server URL asks one)",
                args.data.zones.display()
            ),
        },
    );
    output(&text);
    ExitCode::SUCCESS
}

/// Runs the first probe round of `snapshot`'s monitors and returns the state it published.
fn probe_once(snapshot: &Arc<Snapshot>) -> std::io::Result<Arc<State>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(async {
        let state = Arc::new(Published::new(State::new(snapshot.clone())));
        let monitoring =
            Monitoring::start(state.clone(), snapshot.clone(), health::Options::default()).await;
        monitoring.shutdown().await;
        state.current()
    }))
}

fn serve(args: ServeArgs, log_drops: ErrorCounter) -> ExitCode {
    let Ok(snapshot) = args.data.load(to_log, true) else {
        return ExitCode::FAILURE;
    };
    info!(
        "loaded {} from {}",
        snapshot.summary(),
        args.data.zones.display()
    );
    let listen = match resolve_listen(&args.listen) {
        Ok(l) => l,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let drains = match &args.state_dir {
        Some(dir) => match geosteer::drains::Drains::open(dir) {
            Ok(d) => d,
            Err(e) => {
                error!("{e}; move the file away to start without the drains it holds");
                return ExitCode::FAILURE;
            }
        },
        None => geosteer::drains::Drains::in_memory(),
    };
    let instance = args
        .instance
        .clone()
        .filter(|i| !i.is_empty())
        .or(args.identity().server_id)
        .unwrap_or_else(|| "geosteer".to_string());
    let snapshot = Arc::new(snapshot);
    let state = Arc::new(Published::new(State::new(snapshot.clone())));
    let responder = Arc::new(Responder::with_identity(state.clone(), &args.identity()));
    let mut opts = ServerOptions {
        listen,
        tcp_idle_timeout: std::time::Duration::from_secs(args.tcp_idle_timeout),
        tcp_query_timeout: std::time::Duration::from_secs(args.tcp_query_timeout),
        tcp_max_connections: args.tcp_max_connections,
        tcp_max_per_client: args.tcp_max_per_client,
        ..ServerOptions::default()
    };
    if let Some(n) = args.udp_sockets {
        opts.udp_sockets = n.max(1);
    }
    fit_file_limit(&mut opts, &args);
    let token = match api_token(args.api_token_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let peer_options = if args.peer.is_empty() {
        None
    } else {
        let Some(token) = token.clone() else {
            error!(
                "--peer needs the API token (set {} or --api-token-file): it authenticates \
                 instance to instance",
                api::TOKEN_ENV
            );
            return ExitCode::FAILURE;
        };
        if args.http.is_none() {
            warn!("--peer without --http: this instance reads its peers, but they cannot read it");
        }
        info!(
            "fleet: instance {instance}, {} peer{}, quorum {}",
            args.peer.len(),
            if args.peer.len() == 1 { "" } else { "s" },
            args.quorum
                .map_or("a majority of those reporting".to_string(), |q| q
                    .to_string())
        );
        Some(geosteer::peers::PeerOptions {
            peers: args.peer.clone(),
            token,
            instance: instance.clone(),
            location: args.location,
            quorum: args.quorum,
        })
    };
    let metrics = Arc::new(Metrics::default());
    metrics.set_log_drops(move || log_drops.dropped_lines() as u64);
    let caches = Arc::new(geosteer::dnssec::cache::SigCaches::new(
        args.signature_cache_entries as usize,
        (args.signature_cache_mib as usize) << 20,
    ));
    let mut responder = Arc::into_inner(responder)
        .expect("not shared yet")
        .with_metrics(metrics.clone())
        .with_signature_caches(caches.clone());
    if let Some(cfg) = args.rrl.config() {
        info!(
            "response rate limiting: {} responses/s per /{} (IPv4) and /{} (IPv6) network, \
             slip {}, window {} s{}",
            cfg.rate,
            cfg.ipv4_prefix,
            cfg.ipv6_prefix,
            cfg.slip,
            cfg.window,
            if cfg.log_only { ", log only" } else { "" }
        );
        responder = responder.with_rrl(rrl::Rrl::new(cfg));
    }
    let responder = Arc::new(responder);
    let Ok(sources) = args.data.sources() else {
        return ExitCode::FAILURE;
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("geosteer")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let watcher = geosteer::transitions::Watcher::new();
    let mut flag_webhooks = Vec::new();
    for (i, url) in args.notify_webhook.iter().enumerate() {
        match geosteer::config::Webhook::from_flag(i + 1, url) {
            Ok(w) => flag_webhooks.push(w),
            Err(e) => {
                error!("--notify-webhook: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let notifier =
        geosteer::notify::Notifier::new(&instance, flag_webhooks, runtime.handle().clone());
    {
        let notifier = notifier.clone();
        metrics.set_notifications(move |out| notifier.render(out));
    }
    let health_opts = health::Options {
        max_probes: args.max_probes as usize,
        on_publish: Some(Arc::new(move |s: &State| {
            watcher.observe(s);
            notifier.observe(s);
        })),
        ..health::Options::default()
    };
    runtime.block_on(async move {
        // Before the listening line: a stop request that comes as soon as we say we are up
        // must still be a graceful one, not the default action (death by signal).
        let stop = stop_signal();
        let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        // The first probe round runs before the sockets open, so that the first answer
        // already leaves dead origins out.
        let monitoring = Monitoring::start(state.clone(), snapshot, health_opts).await;
        let ops = Arc::new(
            Ops::new(sources, state, monitoring, metrics, drains, &instance)
                .with_signature_caches(caches)
                .with_location(args.location),
        );
        // Before the sockets open: a drained origin is never answered, not even once.
        ops.apply_drains().await;
        let fleet_stop = CancellationToken::new();
        let fleet = peer_options
            .map(|o| tokio::spawn(geosteer::peers::run(ops.clone(), o, fleet_stop.clone())));
        let signatures = tokio::spawn(ops.clone().keep_signatures_fresh());
        let hosts = tokio::spawn(ops.clone().keep_hosts_fresh(std::time::Duration::from_secs(
            u64::from(args.resolve_interval.max(1)),
        )));
        let api_stop = CancellationToken::new();
        let api = match args.http {
            None => None,
            Some(addr) => match api::bind(addr).await {
                Ok(listener) => {
                    info!("http endpoint on {}", listener.local_addr().unwrap_or(addr));
                    Some(tokio::spawn(api::serve(
                        listener,
                        ops.clone(),
                        token,
                        api::Limits {
                            max_connections: args.http_max_connections,
                            header_timeout: std::time::Duration::from_secs(
                                args.http_header_timeout,
                            ),
                            ..api::Limits::default()
                        },
                        api_stop.clone(),
                    )))
                }
                Err(e) => {
                    error!("cannot listen for http on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            },
        };
        let running = match server::start(&opts, responder.clone()).await {
            Ok(r) => r,
            Err(e) => {
                error!("cannot listen: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The XDP path serves the addresses the sockets are bound to (port 0 resolved). It
        // starts completely or not at all: on error nothing stays attached.
        let xdp = if args.xdp.is_empty() {
            None
        } else {
            let (specs, addrs) = (args.xdp.clone(), running.local_addrs.clone());
            let started = tokio::task::spawn_blocking(move || {
                geosteer::dns::xdp::start(&specs, &addrs, responder)
            })
            .await;
            match started {
                Ok(Ok(x)) => {
                    for q in &x.queues {
                        info!("xdp: serving {q}");
                    }
                    Some(x)
                }
                Ok(Err(e)) => {
                    error!("{e}");
                    running.shutdown().await;
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    error!("xdp start-up failed: {e}");
                    running.shutdown().await;
                    return ExitCode::FAILURE;
                }
            }
        };
        ops.set_ready();
        let reloads = tokio::spawn(reload_on_hup(ops.clone(), hup));
        for addr in &running.local_addrs {
            info!("listening on {addr} (udp ×{}, tcp)", opts.udp_sockets);
        }
        geosteer::systemd::ready();
        stop.await;
        geosteer::systemd::stopping();
        info!("stopping: answering queries already received");
        reloads.abort();
        signatures.abort();
        fleet_stop.cancel();
        if let Some(f) = fleet {
            let _ = f.await;
        }
        hosts.abort();
        api_stop.cancel();
        if let Some(api) = api {
            let _ = api.await;
        }
        let stats = ops.monitoring.schedule_stats();
        ops.monitoring.shutdown().await;
        info!("health probing stopped: {stats}");
        if let Some(xdp) = xdp {
            // Detach first: new queries go to the sockets, which still answer.
            let _ = tokio::task::spawn_blocking(move || xdp.shutdown()).await;
        }
        running.shutdown().await;
        info!("stopped");
        ExitCode::SUCCESS
    })
}

/// File descriptors kept for everything but connections: sockets, zone files being read, the
/// log, the probe runtime.
const RESERVED_FDS: u64 = 64;

/// Raises the soft limit on open files to the hard one (a connection is a file descriptor;
/// the systemd unit sets LimitNOFILE=65536), then makes the TCP connection cap fit in what
/// is left after the HTTP connections, the probes in flight and [`RESERVED_FDS`]: running
/// out of descriptors would fail probes and accepts alike.
fn fit_file_limit(opts: &mut ServerOptions, args: &ServeArgs) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    let others = args.http_max_connections as u64
        + u64::from(args.max_probes)
        + (opts.listen.len() * (opts.udp_sockets + 1)) as u64
        + RESERVED_FDS;
    let room = lim.rlim_cur.saturating_sub(others).max(16);
    if (opts.tcp_max_connections as u64) > room {
        warn!(
            "open file limit {}: --tcp-max-connections lowered from {} to {room} \
             (raise LimitNOFILE / ulimit -n for more)",
            lim.rlim_cur, opts.tcp_max_connections
        );
        opts.tcp_max_connections = room as usize;
    }
}

/// The admin token: from `file` if given (trimmed), else from the environment.
fn api_token(file: Option<&std::path::Path>) -> Result<Option<String>, String> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the API token: {e}", path.display()))?
            .trim()
            .to_string(),
        None => std::env::var(api::TOKEN_ENV).unwrap_or_default(),
    };
    Ok((!token.is_empty()).then_some(token))
}

/// SIGHUP reloads, as NSD, Knot and most daemons do.
async fn reload_on_hup(ops: Arc<Ops>, hup: std::io::Result<tokio::signal::unix::Signal>) {
    let Ok(mut hup) = hup else {
        error!("cannot install the SIGHUP handler: reload with POST /v1/reload");
        return;
    };
    while hup.recv().await.is_some() {
        info!("SIGHUP: reloading");
        // Errors are logged (and counted) by reload itself.
        let _ = ops.reload().await;
    }
}

/// Installs the SIGTERM and SIGINT handlers now; the returned future ends at the first signal.
fn stop_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
}

/// `--listen` values: ADDR:PORT, [V6]:PORT or HOST:PORT (resolved at start).
fn parse_listen(s: &str) -> Result<String, String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(s.to_string());
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(s.to_string()),
        _ => Err(format!(
            "{s:?}: expected ADDR:PORT, [IPv6]:PORT or HOST:PORT"
        )),
    }
}

/// Resolves the `--listen` values: a host name stands for every address it has now (as
/// `localhost:5353` for 127.0.0.1 and ::1); duplicates are dropped.
fn resolve_listen(values: &[String]) -> Result<Vec<SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    let mut out: Vec<SocketAddr> = Vec::new();
    for v in values {
        let addrs: Vec<SocketAddr> = match v.parse::<SocketAddr>() {
            Ok(a) => vec![a],
            Err(_) => v
                .to_socket_addrs()
                .map_err(|e| format!("--listen {v}: cannot resolve: {e}"))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("--listen {v}: the name has no address"));
        }
        for a in addrs {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// An --http / --server value as a base URL: `ADDR:PORT` gets `http://`.
fn base_url(s: &str) -> String {
    let s = s.trim_end_matches('/');
    if s.starts_with("http://") || s.starts_with("https://") {
        s.to_string()
    } else {
        format!("http://{s}")
    }
}

/// A small runtime and HTTP client for the commands that talk to a running server.
fn http_client() -> Result<(tokio::runtime::Runtime, reqwest::Client), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    Ok((rt, client))
}

/// `geosteer reload`: POST /v1/reload; 0 when the server took the configuration, 1 with
/// its errors when it rejected it (or could not be asked).
fn reload(args: &ReloadArgs) -> ExitCode {
    let token = match api_token(args.api_token_file.as_deref()) {
        Ok(Some(t)) => t,
        Ok(None) => {
            eprintln!(
                "no API token: set {} or give --api-token-file (the same token the server has)",
                api::TOKEN_ENV
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (rt, client) = match http_client() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("{}/v1/reload", base_url(&args.http));
    let result = rt.block_on(async {
        let r = client.post(&url).bearer_auth(token).send().await?;
        let status = r.status();
        Ok::<_, reqwest::Error>((status, r.text().await?))
    });
    let (status, body) = match result {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{url}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    if status.is_success() {
        output(&format!(
            "reloaded: generation {}: {}\n",
            json["generation"],
            json["summary"].as_str().unwrap_or("")
        ));
        return ExitCode::SUCCESS;
    }
    match json["errors"].as_array() {
        Some(errors) if status.as_u16() == 422 => {
            eprintln!(
                "configuration rejected; the server still serves generation {}:",
                json["generation"]
            );
            for e in errors {
                eprintln!("{}", e["message"].as_str().unwrap_or(""));
            }
        }
        _ => {
            let msg = json["error"].as_str().map_or(body.trim(), |m| m);
            eprintln!("{url}: {status}: {msg}");
        }
    }
    ExitCode::FAILURE
}

/// `geosteer explain --server URL`: the running server's report (GET /v1/explain).
fn explain_remote(args: &ExplainArgs, server: &str) -> ExitCode {
    let (rt, client) = match http_client() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("{}/v1/explain", base_url(server));
    let mut query = vec![
        ("name", args.name.clone()),
        ("client", args.client.to_string()),
        ("type", args.qtype.clone()),
    ];
    if let Some(p) = args.ecs_prefix {
        query.push(("ecs_prefix", p.to_string()));
    }
    let mut full = match reqwest::Url::parse(&url) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("--server {server}: {e}");
            return ExitCode::FAILURE;
        }
    };
    full.query_pairs_mut().extend_pairs(&query);
    let result = rt.block_on(async {
        let r = client.get(full).send().await?;
        let status = r.status();
        Ok::<_, reqwest::Error>((status, r.text().await?))
    });
    match result {
        Ok((status, body)) if status.is_success() => {
            output(&body);
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let msg = json["error"].as_str().map_or(body.trim(), |m| m);
            eprintln!("{url}: {status}: {msg}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            ExitCode::FAILURE
        }
    }
}
