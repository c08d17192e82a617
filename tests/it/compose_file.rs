//! `compose.yaml` and `deploy/prometheus.yml` name only what exists: settings
//! `switchyard serve` reads (and accepts together), ports the Dockerfile exposes,
//! official images with explicit tags, its own services, volumes and files, and
//! a scrape target that is the admin listener.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;

use clap::{CommandFactory, Parser};
use serde::Deserialize;
use switchyard::config::{AdminListen, ServeConfig};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The part of the compose specification the file uses.
#[derive(Debug, Deserialize)]
struct Compose {
    services: BTreeMap<String, Service>,
    #[serde(default)]
    volumes: BTreeMap<String, Option<serde_yaml_ng::Value>>,
}

#[derive(Debug, Deserialize)]
struct Service {
    image: Option<String>,
    /// The short form: the build context, a directory with a Dockerfile.
    build: Option<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    volumes: Vec<String>,
    /// A list of names or a map of name to condition.
    #[serde(default)]
    depends_on: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
struct PrometheusConfig {
    scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Deserialize)]
struct ScrapeConfig {
    job_name: String,
    #[serde(default = "default_metrics_path")]
    metrics_path: String,
    static_configs: Vec<StaticConfig>,
}

#[derive(Debug, Deserialize)]
struct StaticConfig {
    targets: Vec<String>,
}

fn default_metrics_path() -> String {
    "/metrics".to_owned()
}

/// `switchyard serve`'s settings, parsed as the server parses them.
#[derive(Debug, Parser)]
struct Serve {
    #[command(flatten)]
    config: ServeConfig,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Compose {
    serde_yaml_ng::from_str(&read("compose.yaml")).expect("compose.yaml parses")
}

fn switchyard(compose: &Compose) -> &Service {
    compose
        .services
        .get("switchyard")
        .expect("compose.yaml has a `switchyard` service")
}

/// A value as compose interpolates it with nothing set in the environment:
/// `${NAME:-default}` gives the default. A bare `${NAME}` would make
/// `docker compose up` depend on the caller's environment, so it is refused.
fn interpolated(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${...}") + start;
        let (_, default) = rest[start + 2..end]
            .split_once(":-")
            .unwrap_or_else(|| panic!("`{value}` needs a default (${{NAME:-default}})"));
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out + rest
}

/// The flags that say what `environment` says, so that clap checks names and
/// values without touching this process's environment (other tests spawn the
/// server, which would inherit it).
fn serve_flags(environment: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
    let command = Serve::command();
    let mut flags = vec!["switchyard".to_owned()];
    for (name, value) in environment {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == name.as_str()))
            .ok_or_else(|| format!("{name} is not a setting `switchyard serve` reads"))?;
        let long = arg.get_long().expect("every setting has a long flag");
        let value = interpolated(value);
        if arg.get_action().takes_values() {
            flags.push(format!("--{long}={value}"));
        } else {
            match value.as_str() {
                "true" => flags.push(format!("--{long}")),
                "false" => {}
                other => return Err(format!("{name}={other}: a switch takes true or false")),
            }
        }
    }
    Ok(flags)
}

fn serve_config(service: &Service) -> ServeConfig {
    let flags = serve_flags(&service.environment).unwrap_or_else(|e| panic!("{e}"));
    let config = Serve::try_parse_from(&flags)
        .unwrap_or_else(|e| panic!("compose settings refused by the server: {e}"))
        .config;
    config.validate().expect("compose settings pass validation");
    config
}

fn port_of(address: &str) -> u16 {
    address
        .parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("`{address}`: {e}"))
        .port()
}

/// The ports the runtime stage of the Dockerfile exposes.
fn exposed_ports() -> BTreeSet<u16> {
    let dockerfile = read("Dockerfile");
    let runtime = dockerfile
        .rsplit_once("\nFROM ")
        .expect("a multi-stage Dockerfile")
        .1;
    runtime
        .lines()
        .filter_map(|line| line.strip_prefix("EXPOSE "))
        .flat_map(|ports| ports.split_whitespace())
        .map(|port| {
            port.trim_end_matches("/tcp")
                .parse()
                .expect("a port number")
        })
        .collect()
}

/// The container side of a `ports` entry: `8080`, `8080:8080` or
/// `127.0.0.1:8081:8081`.
fn container_port(mapping: &str) -> u16 {
    let port = mapping.rsplit(':').next().unwrap_or(mapping);
    port.trim_end_matches("/tcp")
        .parse()
        .unwrap_or_else(|e| panic!("`{mapping}`: {e}"))
}

fn listen_ports(config: &ServeConfig) -> BTreeSet<u16> {
    let mut ports = BTreeSet::from([config.listen.port()]);
    if let AdminListen::On(addr) = config.admin_listen {
        ports.insert(addr.port());
    }
    ports
}

#[test]
fn compose_sets_only_settings_switchyard_serve_reads_and_accepts() {
    let compose = compose();
    let config = serve_config(switchyard(&compose));
    assert!(config.database_url.is_some() && config.redis_url.is_some());
    assert!(config.migrate, "the stack migrates its own database");
    for (name, service) in &compose.services {
        if name != "switchyard" {
            let stray: Vec<_> = service
                .environment
                .keys()
                .filter(|key| key.starts_with("SWITCHYARD_"))
                .collect();
            assert!(stray.is_empty(), "{name} sets {stray:?}");
        }
    }
}

#[test]
fn a_misspelt_or_malformed_setting_is_caught() {
    let settings = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // Built, not written out: the docs test takes every quoted variable name
    // in the sources for one the server reads.
    let misspelt_name = format!("{}ER", "SWITCHYARD_ADMIN_LISTEN");
    let misspelt = settings(&[(misspelt_name.as_str(), "0.0.0.0:8081")]);
    assert!(serve_flags(&misspelt).unwrap_err().contains(&misspelt_name));
    let switch = settings(&[("SWITCHYARD_MIGRATE", "yes")]);
    assert!(serve_flags(&switch).is_err());
    let malformed = settings(&[("SWITCHYARD_LISTEN", "0.0.0.0")]);
    assert!(Serve::try_parse_from(serve_flags(&malformed).unwrap()).is_err());
    let untokened = settings(&[("SWITCHYARD_ADMIN_LISTEN", "0.0.0.0:8081")]);
    let config = Serve::try_parse_from(serve_flags(&untokened).unwrap())
        .unwrap()
        .config;
    assert!(
        config.validate().is_err(),
        "an open admin listener needs a token"
    );
}

#[test]
fn compose_publishes_only_ports_the_image_exposes_and_the_server_listens_on() {
    let exposed = exposed_ports();
    let image_listen = read("Dockerfile")
        .lines()
        .find_map(|line| line.strip_prefix("ENV SWITCHYARD_LISTEN="))
        .map(port_of)
        .expect("the Dockerfile sets SWITCHYARD_LISTEN");
    assert!(exposed.contains(&image_listen), "{exposed:?}");

    let compose = compose();
    let service = switchyard(&compose);
    let listening = listen_ports(&serve_config(service));
    assert!(
        listening.is_subset(&exposed),
        "{listening:?} vs EXPOSE {exposed:?}"
    );
    for mapping in &service.ports {
        let port = container_port(mapping);
        assert!(exposed.contains(&port), "{mapping}: EXPOSE {exposed:?}");
        assert!(
            listening.contains(&port),
            "{mapping}: nothing listens there"
        );
    }
}

#[test]
fn compose_images_are_official_with_explicit_tags() {
    // The Docker official images, and the Prometheus project's own.
    const OFFICIAL: [&str; 3] = [
        "docker.io/library/postgres",
        "docker.io/library/redis",
        "docker.io/prom/prometheus",
    ];
    let compose = compose();
    for (name, service) in &compose.services {
        if let Some(context) = &service.build {
            assert!(
                Path::new(ROOT).join(context).join("Dockerfile").is_file(),
                "{name} builds from {context}"
            );
            // The tag given to the local build must not name a registry's image.
            let image = service.image.as_deref().unwrap_or("localhost/");
            assert!(image.starts_with("localhost/"), "{name}: {image}");
            continue;
        }
        let image = service.image.as_deref().expect("an image or a build");
        let (repository, tag) = image.rsplit_once(':').expect("an explicit tag");
        assert!(
            OFFICIAL.contains(&repository),
            "{name}: {repository} is not an official image"
        );
        assert!(
            !tag.is_empty() && tag != "latest" && !tag.contains('/'),
            "{name}: {tag}"
        );
    }
    let postgres = compose.services["postgres"].image.as_deref();
    assert_eq!(postgres, Some("docker.io/library/postgres:15"));
    for from in read("Dockerfile")
        .lines()
        .filter_map(|line| line.strip_prefix("FROM "))
    {
        let image = from.split_whitespace().next().unwrap_or(from);
        let tag = image.rsplit_once(':').map(|(_, tag)| tag);
        assert!(tag.is_some_and(|tag| tag != "latest"), "FROM {from}");
    }
}

#[test]
fn compose_urls_volumes_and_dependencies_resolve_within_the_file() {
    let compose = compose();
    let config = serve_config(switchyard(&compose));

    let database = url::Url::parse(config.database_url.as_deref().unwrap()).unwrap();
    let postgres = &compose.services[database.host_str().unwrap()].environment;
    assert_eq!(database.username(), postgres["POSTGRES_USER"]);
    assert_eq!(
        database.password(),
        Some(postgres["POSTGRES_PASSWORD"].as_str())
    );
    assert_eq!(database.path(), format!("/{}", postgres["POSTGRES_DB"]));
    let redis = url::Url::parse(config.redis_url.as_deref().unwrap()).unwrap();
    assert!(compose.services.contains_key(redis.host_str().unwrap()));

    for (name, service) in &compose.services {
        for volume in &service.volumes {
            let source = volume.split(':').next().unwrap_or(volume);
            if source.starts_with('.') || source.starts_with('/') {
                assert!(Path::new(ROOT).join(source).exists(), "{name}: {volume}");
            } else {
                assert!(compose.volumes.contains_key(source), "{name}: {volume}");
            }
        }
        let depends_on: Vec<String> = match &service.depends_on {
            None => Vec::new(),
            Some(serde_yaml_ng::Value::Sequence(names)) => names
                .iter()
                .map(|name| name.as_str().unwrap().to_owned())
                .collect(),
            Some(serde_yaml_ng::Value::Mapping(map)) => map
                .keys()
                .map(|name| name.as_str().unwrap().to_owned())
                .collect(),
            Some(other) => panic!("{name}: depends_on {other:?}"),
        };
        for dependency in depends_on {
            assert!(
                compose.services.contains_key(&dependency),
                "{name} -> {dependency}"
            );
        }
    }
}

#[test]
fn prometheus_scrapes_metrics_on_the_admin_listener() {
    let compose = compose();
    let config = serve_config(switchyard(&compose));
    let AdminListen::On(admin) = config.admin_listen else {
        panic!("compose turns the admin listener off, Prometheus has nothing to scrape");
    };
    assert!(!admin.ip().is_loopback(), "Prometheus cannot reach {admin}");

    let prometheus = &compose.services["prometheus"];
    let mount = prometheus
        .volumes
        .iter()
        .find_map(|volume| volume.strip_suffix(":/etc/prometheus/prometheus.yml:ro"))
        .expect("the Prometheus config is mounted read-only");
    let config: PrometheusConfig =
        serde_yaml_ng::from_str(&read(mount)).expect("deploy/prometheus.yml parses");
    let job = config
        .scrape_configs
        .iter()
        .find(|job| job.job_name == "switchyard")
        .expect("a switchyard job");
    assert_eq!(job.metrics_path, "/metrics");
    let targets: Vec<&str> = job
        .static_configs
        .iter()
        .flat_map(|c| c.targets.iter().map(String::as_str))
        .collect();
    assert_eq!(targets, [format!("switchyard:{}", admin.port())]);
}
