//! Tests of the create requests: each compose key as Docker receives it.

use std::path::{Path, PathBuf};

use nap_core::compose::{LoadOptions, MemoryFileSystem, load_with};
use nap_core::inventory::Inventory;
use nap_core::plan::{DesiredState, ObservedState, desired_state};
use nap_core::scheduler::DefaultPolicy;

use super::*;
use std::collections::HashMap;

use bollard::models::{
    EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, Ipam,
    IpamConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions,
    MountType, MountVolumeOptions, NetworkingConfig, PortBinding, PortMap, RestartPolicy,
    RestartPolicyNameEnum,
};
use nap_core::compose::{Healthcheck, Project};
use nap_core::plan::DesiredContainer;

/// Two hosts, routed networking over 172.30.0.0/16.
const ROUTED: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
    ssh: root@10.0.0.1
  h2:
    docker: tcp://10.0.0.2:2375
    ssh: root@10.0.0.2
network:
  mode: routed
  pool: 172.30.0.0/16
";

/// Loads `/p/compose.yaml` holding `compose`, with `environment` as the process
/// environment.
fn project_with_env(compose: &str, environment: &[(&str, &str)]) -> Project {
    let fs = MemoryFileSystem::default().with("/p/compose.yaml", compose);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        environment: environment
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
        ..LoadOptions::default()
    };
    match load_with(&options, &fs) {
        Ok(loaded) => loaded.project,
        Err(error) => panic!("cannot load the test project: {error}"),
    }
}

pub(super) fn project(compose: &str) -> Project {
    project_with_env(compose, &[])
}

fn routed() -> Inventory {
    match Inventory::parse(Path::new("/inv/nap-hosts.yml"), ROUTED) {
        Ok((inventory, _)) => inventory,
        Err(error) => panic!("cannot parse the test inventory: {error}"),
    }
}

fn local() -> Inventory {
    Inventory::local(None).expect("the local inventory")
}

fn desired(project: &Project, inventory: &Inventory) -> DesiredState {
    desired_state(
        project,
        inventory,
        &ObservedState::default(),
        &mut DefaultPolicy,
    )
    .unwrap_or_else(|error| panic!("desired_state failed: {error}"))
}

fn container<'a>(desired: &'a DesiredState, name: &str) -> &'a DesiredContainer {
    desired
        .containers
        .iter()
        .find(|container| container.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The spec of container `name` of `project` placed on `inventory`.
fn spec_on(project: &Project, inventory: &Inventory, name: &str) -> ContainerSpec {
    let desired = desired(project, inventory);
    container_spec(project, container(&desired, name))
        .unwrap_or_else(|error| panic!("container_spec failed: {error}"))
}

pub(super) fn spec(project: &Project, name: &str) -> ContainerSpec {
    spec_on(project, &local(), name)
}

pub(super) fn host_config(spec: &ContainerSpec) -> &HostConfig {
    spec.body.host_config.as_ref().expect("a host config")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn binding(host_ip: Option<&str>, host_port: Option<&str>) -> PortBinding {
    PortBinding {
        host_ip: host_ip.map(str::to_string),
        host_port: host_port.map(str::to_string),
    }
}

#[test]
fn ports_are_exposed_and_bound_with_host_ip_ranges_and_protocol() {
    let project = project(
        "\
name: demo
services:
  web:
    image: nginx
    ports:
      - '8080:80'
      - '127.0.0.1:5353:53/udp'
      - '9000-9001:90-91'
      - '3000'
      - {target: 81, published: '7000-7010'}
    expose: ['5000', '6000-6001/udp', '80']
",
    );
    let spec = spec(&project, "demo-web-1");
    assert_eq!(
        spec.body.exposed_ports,
        Some(strings(&[
            "80/tcp", "53/udp", "90/tcp", "91/tcp", "3000/tcp", "81/tcp", "5000/tcp", "6000/udp",
            "6001/udp",
        ]))
    );
    let bindings = host_config(&spec).port_bindings.clone().expect("bindings");
    let expected: PortMap = HashMap::from([
        (
            "80/tcp".to_string(),
            Some(vec![binding(None, Some("8080"))]),
        ),
        (
            "53/udp".to_string(),
            Some(vec![binding(Some("127.0.0.1"), Some("5353"))]),
        ),
        (
            "90/tcp".to_string(),
            Some(vec![binding(None, Some("9000"))]),
        ),
        (
            "91/tcp".to_string(),
            Some(vec![binding(None, Some("9001"))]),
        ),
        // No published port: the daemon picks one, as `docker compose` does.
        ("3000/tcp".to_string(), Some(vec![binding(None, None)])),
        (
            "81/tcp".to_string(),
            Some(vec![binding(None, Some("7000-7010"))]),
        ),
    ]);
    assert_eq!(bindings, expected);
}

#[test]
fn one_target_published_twice_gets_two_bindings() {
    let project = project(
        "name: demo\nservices:\n  web:\n    image: nginx\n    ports: ['8080:80', '127.0.0.1:8081:80']\n",
    );
    let spec = spec(&project, "demo-web-1");
    assert_eq!(spec.body.exposed_ports, Some(strings(&["80/tcp"])));
    assert_eq!(
        host_config(&spec).port_bindings.as_ref().expect("bindings")["80/tcp"],
        Some(vec![
            binding(None, Some("8080")),
            binding(Some("127.0.0.1"), Some("8081"))
        ])
    );
}

#[test]
fn environment_omits_unset_variables() {
    let project = project_with_env(
        "\
name: demo
services:
  web:
    image: nginx
    environment: [A=1, EMPTY=, FROM_ENV, MISSING]
",
        &[("FROM_ENV", "x")],
    );
    let spec = spec(&project, "demo-web-1");
    assert_eq!(
        spec.body.env,
        Some(strings(&["A=1", "EMPTY=", "FROM_ENV=x"]))
    );
}

#[test]
fn healthcheck_durations_are_nanoseconds() {
    let project = project(
        "\
name: demo
services:
  db:
    image: postgres
    healthcheck:
      test: pg_isready -U app
      interval: 1m30s
      timeout: 500ms
      retries: 4
      start_period: 2s
      start_interval: 1s
",
    );
    let spec = spec(&project, "demo-db-1");
    assert_eq!(
        spec.body.healthcheck,
        Some(HealthConfig {
            test: Some(strings(&["CMD-SHELL", "pg_isready -U app"])),
            interval: Some(90_000_000_000),
            timeout: Some(500_000_000),
            retries: Some(4),
            start_period: Some(2_000_000_000),
            start_interval: Some(1_000_000_000),
        })
    );
}

#[test]
fn healthcheck_disable_is_test_none() {
    let project = project(
        "\
name: demo
services:
  web:
    image: nginx
    healthcheck:
      test: [CMD, curl, -f, http://localhost]
      disable: true
",
    );
    let spec = spec(&project, "demo-web-1");
    let healthcheck = spec.body.healthcheck.expect("a healthcheck");
    assert_eq!(healthcheck.test, Some(strings(&["NONE"])));
    assert_eq!(healthcheck.interval, None);
}

#[test]
fn bad_duration_names_the_service_and_the_field() {
    let mut project = project(
        "name: demo\nservices:\n  web:\n    image: nginx\n    healthcheck:\n      test: [CMD, 'true']\n",
    );
    let desired = desired(&project, &local());
    // The loader rejects this too; the spec must not rely on that.
    project.services.get_mut("web").unwrap().healthcheck = Some(Healthcheck {
        interval: Some("5x".to_string()),
        ..Healthcheck::default()
    });
    let error =
        container_spec(&project, container(&desired, "demo-web-1")).expect_err("a bad duration");
    assert_eq!(
        error.to_string(),
        r#"service "web": healthcheck.interval: invalid duration "5x": unknown unit "x""#
    );
}

#[test]
fn start_interval_without_start_period_is_an_error() {
    let project = project(
        "name: demo\nservices:\n  web:\n    image: nginx\n    healthcheck:\n      start_interval: 1s\n",
    );
    let desired = desired(&project, &local());
    let error = container_spec(&project, container(&desired, "demo-web-1"))
        .expect_err("start_interval alone");
    assert_eq!(
        error.to_string(),
        r#"service "web": healthcheck.start_interval: requires healthcheck.start_period to be set"#
    );
}

#[test]
fn mounts_for_bind_volume_anonymous_and_tmpfs() {
    let project = project(
        "\
name: demo
services:
  app:
    image: app
    volumes:
      - ./data:/data:ro,z
      - cache:/cache
      - /anonymous
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1m, mode: 0o1777}}
      - {type: bind, source: ./conf, target: /conf, bind: {propagation: rslave}}
      - {type: bind, source: /must-exist, target: /must, bind: {create_host_path: false}}
      - {type: volume, source: cache, target: /nocopy, volume: {nocopy: true}}
      - {type: bind, source: ./logs, target: /logs}
    tmpfs: ['/run:size=64m', /tmp]
volumes:
  cache:
    name: shared-cache
",
    );
    let spec = spec(&project, "demo-app-1");
    let host_config = host_config(&spec);
    assert_eq!(
        host_config.binds,
        Some(strings(&[
            "/p/data:/data:ro,z",
            "shared-cache:/cache:rw",
            "/p/logs:/logs:rw"
        ]))
    );
    let mounts = host_config.mounts.clone().expect("mounts");
    assert_eq!(
        mounts,
        vec![
            Mount {
                typ: Some(MountType::VOLUME),
                target: Some("/anonymous".to_string()),
                ..Mount::default()
            },
            Mount {
                typ: Some(MountType::TMPFS),
                target: Some("/scratch".to_string()),
                tmpfs_options: Some(MountTmpfsOptions {
                    size_bytes: Some(1 << 20),
                    mode: Some(0o1777),
                    ..MountTmpfsOptions::default()
                }),
                ..Mount::default()
            },
            Mount {
                typ: Some(MountType::BIND),
                source: Some("/p/conf".to_string()),
                target: Some("/conf".to_string()),
                bind_options: Some(MountBindOptions {
                    propagation: Some(MountBindOptionsPropagationEnum::RSLAVE),
                    create_mountpoint: Some(true),
                    ..MountBindOptions::default()
                }),
                ..Mount::default()
            },
            Mount {
                typ: Some(MountType::BIND),
                source: Some("/must-exist".to_string()),
                target: Some("/must".to_string()),
                bind_options: Some(MountBindOptions::default()),
                ..Mount::default()
            },
            Mount {
                typ: Some(MountType::VOLUME),
                source: Some("shared-cache".to_string()),
                target: Some("/nocopy".to_string()),
                volume_options: Some(MountVolumeOptions {
                    no_copy: Some(true),
                    ..MountVolumeOptions::default()
                }),
                ..Mount::default()
            },
        ]
    );
    assert_eq!(
        host_config.tmpfs,
        Some(HashMap::from([
            ("/run".to_string(), "size=64m".to_string()),
            ("/tmp".to_string(), String::new()),
        ]))
    );
}

/// The restart policy of service `name` in `services` (YAML under `services:`).
fn restart_of(services: &str, name: &str) -> Option<RestartPolicy> {
    let project = project(&format!("name: demo\nservices:\n{services}"));
    let container = format!("demo-{name}-1");
    host_config(&spec(&project, &container))
        .restart_policy
        .clone()
}

fn restart(name: RestartPolicyNameEnum, count: Option<i64>) -> Option<RestartPolicy> {
    Some(RestartPolicy {
        name: Some(name),
        maximum_retry_count: count,
    })
}

#[test]
fn restart_policies() {
    let services = "  unset: {image: x}
  never: {image: x, restart: 'no'}
  always: {image: x, restart: always}
  retry: {image: x, restart: 'on-failure:3'}
  failing: {image: x, restart: on-failure}
  stopped: {image: x, restart: unless-stopped}
  swarm:
    image: x
    restart: always
    deploy: {restart_policy: {condition: on-failure, max_attempts: 5}}
  any:
    image: x
    deploy: {restart_policy: {condition: any, max_attempts: 2}}
  none:
    image: x
    deploy: {restart_policy: {condition: none}}
";
    use RestartPolicyNameEnum::*;
    assert_eq!(restart_of(services, "unset"), None);
    assert_eq!(restart_of(services, "never"), restart(NO, None));
    assert_eq!(restart_of(services, "always"), restart(ALWAYS, None));
    assert_eq!(restart_of(services, "retry"), restart(ON_FAILURE, Some(3)));
    assert_eq!(restart_of(services, "failing"), restart(ON_FAILURE, None));
    assert_eq!(
        restart_of(services, "stopped"),
        restart(UNLESS_STOPPED, None)
    );
    // deploy.restart_policy wins over restart:, as in compose.
    assert_eq!(restart_of(services, "swarm"), restart(ON_FAILURE, Some(5)));
    // A retry count goes with on-failure only.
    assert_eq!(restart_of(services, "any"), restart(ALWAYS, None));
    assert_eq!(restart_of(services, "none"), restart(NO, None));
}

#[test]
fn resources_limits_and_reservations() {
    let project = project(
        "\
name: demo
services:
  api:
    image: api
    shm_size: 64m
    deploy:
      resources:
        limits: {cpus: '0.5', memory: 512M, pids: 100}
        reservations: {cpus: '0.25', memory: 256m}
",
    );
    let spec = spec(&project, "demo-api-1");
    let host_config = host_config(&spec);
    assert_eq!(host_config.nano_cpus, Some(500_000_000));
    assert_eq!(host_config.memory, Some(512 << 20));
    assert_eq!(host_config.pids_limit, Some(100));
    assert_eq!(host_config.memory_reservation, Some(256 << 20));
    assert_eq!(host_config.shm_size, Some(64 << 20));
}

#[test]
fn primary_network_in_the_body_and_the_rest_connected_later() {
    let project = project(
        "\
name: demo
services:
  web:
    image: nginx
    networks:
      a: {aliases: [alpha]}
      b: {priority: 10}
      c:
networks:
  a: {}
  b: {}
  c: {}
",
    );
    let desired = desired(&project, &routed());
    let container = container(&desired, "demo-web-1");
    let spec = container_spec(&project, container).expect("a spec");
    let address = |key: &str| {
        container
            .networks
            .iter()
            .find(|attachment| attachment.key == key)
            .and_then(|attachment| attachment.ipv4_address)
            .expect("a routed address")
            .to_string()
    };
    let endpoint = |aliases: &[&str], key: &str| EndpointSettings {
        aliases: Some(strings(aliases)),
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(address(key)),
            ..EndpointIpamConfig::default()
        }),
        ..EndpointSettings::default()
    };
    // `b` has the highest priority: it is the network the container is created on.
    assert_eq!(host_config(&spec).network_mode.as_deref(), Some("demo_b"));
    assert_eq!(
        spec.body.networking_config,
        Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                "demo_b".to_string(),
                endpoint(&["web"], "b")
            )])),
        })
    );
    assert_eq!(
        spec.additional_networks,
        vec![
            ("demo_a".to_string(), endpoint(&["web", "alpha"], "a")),
            ("demo_c".to_string(), endpoint(&["web"], "c")),
        ]
    );
    assert!(address("a").starts_with("172.30."), "{}", address("a"));
}

#[test]
fn local_mode_has_no_ipam_unless_fixed() {
    let project = project(
        "\
name: demo
services:
  web:
    image: nginx
    networks:
      default:
      fixed: {ipv4_address: 10.9.0.5}
networks:
  fixed:
    ipam: {config: [{subnet: 10.9.0.0/24}]}
",
    );
    let spec = spec(&project, "demo-web-1");
    let endpoints = spec
        .body
        .networking_config
        .and_then(|config| config.endpoints_config)
        .expect("endpoints");
    assert_eq!(endpoints["demo_default"].ipam_config, None);
    assert_eq!(
        spec.additional_networks,
        vec![(
            "demo_fixed".to_string(),
            EndpointSettings {
                aliases: Some(strings(&["web"])),
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some("10.9.0.5".to_string()),
                    ..EndpointIpamConfig::default()
                }),
                ..EndpointSettings::default()
            }
        )]
    );
}

#[test]
fn network_mode_service_names_the_colocated_container() {
    let project = project(
        "\
name: demo
services:
  app:
    image: app
    deploy: {replicas: 2}
  sidecar:
    image: sidecar
    network_mode: service:app
    ipc: service:app
    volumes_from: [app, 'container:other:ro']
    deploy: {replicas: 2}
",
    );
    let spec = spec(&project, "demo-sidecar-2");
    let host_config = host_config(&spec);
    assert_eq!(
        host_config.network_mode.as_deref(),
        Some("container:demo-app-2")
    );
    assert_eq!(
        host_config.ipc_mode.as_deref(),
        Some("container:demo-app-2")
    );
    assert_eq!(
        host_config.volumes_from,
        Some(strings(&["demo-app-2", "other:ro"]))
    );
    assert_eq!(spec.body.networking_config, None);
    assert!(spec.additional_networks.is_empty());
}

#[test]
fn the_hosts_file_is_nap_s_read_only_mount_and_the_body_carries_no_table() {
    let project = project(
        "\
name: demo
services:
  web:
    image: nginx
    extra_hosts: ['db.example:10.1.2.3', 'cache.example=10.1.2.4']
  api:
    image: api
    deploy: {replicas: 2}
",
    );
    let routed_state = desired(&project, &routed());
    let web = container(&routed_state, "demo-web-1");
    assert!(!web.extra_hosts.is_empty(), "routed mode has a name table");
    let file = web.hosts_file.clone().expect("a hosts file");
    let spec = container_spec(&project, web).expect("a spec");
    let made = host_config(&spec);
    // No table in the body (small create bodies), and not even the service's own entries:
    // they are in the file, which Docker does not write.
    assert_eq!(made.extra_hosts, None);
    let mount = made
        .mounts
        .iter()
        .flatten()
        .find(|mount| mount.target.as_deref() == Some("/etc/hosts"))
        .expect("nap's file at /etc/hosts");
    assert_eq!(
        mount.source.as_deref(),
        Some(format!("/var/lib/nap/demo/{}/{file}", web.host).as_str())
    );
    assert_eq!(mount.read_only, Some(true));
    assert_eq!(mount.typ, Some(bollard::models::MountType::BIND));
    let labels = spec.body.labels.clone().expect("labels");
    assert_eq!(labels["nap.hosts-file"], file);
    // Its hostname is its container name, which the file maps to its own fixed address.
    assert_eq!(spec.body.hostname.as_deref(), Some("demo-web-1"));
    let own = web.networks[0].ipv4_address.unwrap();
    assert!(
        web.extra_hosts
            .iter()
            .any(|entry| entry.name == "demo-web-1" && entry.address == own)
    );
    // The service's own extra_hosts are the file's.
    let desired_file = routed_state
        .hosts_files
        .iter()
        .find(|f| f.host == web.host && f.file == file)
        .unwrap();
    let text = nap_core::hosts_file::render(desired_file).unwrap();
    assert!(text.contains("10.1.2.3\tdb.example\n"), "{text}");
    assert!(text.contains("10.1.2.4\tcache.example\n"), "{text}");
    // Local mode: Docker writes the file, from the service's own entries.
    let local = desired(&project, &local());
    let web = container(&local, "demo-web-1");
    assert_eq!(web.hosts_file, None);
    let spec = container_spec(&project, web).expect("a spec");
    assert_eq!(
        host_config(&spec).extra_hosts,
        Some(strings(&["db.example:10.1.2.3", "cache.example:10.1.2.4"]))
    );
    assert_eq!(spec.body.hostname, None);
}

#[test]
fn labels_are_composes_with_naps_over_them() {
    let project = project(
        "\
name: demo
services:
  web:
    image: nginx
    labels:
      com.example.team: web
      nap.service: spoofed
      nap.host: elsewhere
",
    );
    let desired = desired(&project, &local());
    let container = container(&desired, "demo-web-1");
    let spec = container_spec(&project, container).expect("a spec");
    let labels = spec.body.labels.expect("labels");
    assert_eq!(labels["com.example.team"], "web");
    assert_eq!(labels["nap.service"], "web");
    assert_eq!(labels["nap.host"], "local");
    assert_eq!(labels["nap.config-hash"], container.config_hash);
    assert_eq!(labels.len(), 6, "local mode: no nap.hosts-file");
}

#[test]
fn plain_fields_map_one_to_one() {
    let project = project(
        "\
name: demo
services:
  web:
    image: nginx:1.27
    container_name: front
    command: nginx -g 'daemon off;'
    entrypoint: [/entry.sh]
    working_dir: /srv
    user: '101:101'
    hostname: web.internal
    tty: true
    stdin_open: true
    stop_signal: SIGQUIT
    stop_grace_period: 1m30s
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    privileged: true
    read_only: true
    security_opt: [no-new-privileges, systempaths=unconfined]
    sysctls: {net.core.somaxconn: 1024}
    dns: [1.1.1.1]
    init: true
    pid: host
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: 3}
",
    );
    let spec = spec(&project, "front");
    assert_eq!(spec.name, "front");
    let body = &spec.body;
    assert_eq!(body.image.as_deref(), Some("nginx:1.27"));
    assert_eq!(body.cmd, Some(strings(&["nginx", "-g", "daemon off;"])));
    assert_eq!(body.entrypoint, Some(strings(&["/entry.sh"])));
    assert_eq!(body.working_dir.as_deref(), Some("/srv"));
    assert_eq!(body.user.as_deref(), Some("101:101"));
    assert_eq!(body.hostname.as_deref(), Some("web.internal"));
    assert_eq!((body.tty, body.open_stdin), (Some(true), Some(true)));
    assert_eq!(body.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(body.stop_timeout, Some(90));
    let host_config = host_config(&spec);
    assert_eq!(host_config.cap_add, Some(strings(&["NET_ADMIN"])));
    assert_eq!(host_config.cap_drop, Some(strings(&["ALL"])));
    assert_eq!(host_config.privileged, Some(true));
    assert_eq!(host_config.readonly_rootfs, Some(true));
    assert_eq!(
        host_config.security_opt,
        Some(strings(&["no-new-privileges"]))
    );
    assert_eq!(host_config.masked_paths, Some(Vec::new()));
    assert_eq!(host_config.readonly_paths, Some(Vec::new()));
    assert_eq!(
        host_config.sysctls,
        Some(HashMap::from([(
            "net.core.somaxconn".to_string(),
            "1024".to_string()
        )]))
    );
    assert_eq!(host_config.dns, Some(strings(&["1.1.1.1"])));
    assert_eq!(host_config.init, Some(true));
    assert_eq!(host_config.pid_mode.as_deref(), Some("host"));
    assert_eq!(
        host_config.log_config,
        Some(HostConfigLogConfig {
            typ: Some("json-file".to_string()),
            config: Some(HashMap::from([
                ("max-size".to_string(), "10m".to_string()),
                ("max-file".to_string(), "3".to_string()),
            ])),
        })
    );
}

#[test]
fn unset_fields_stay_unset() {
    let project = project("name: demo\nservices:\n  web:\n    image: nginx\n");
    let spec = spec(&project, "demo-web-1");
    let body = &spec.body;
    assert_eq!(
        (&body.hostname, &body.cmd, &body.env, &body.healthcheck),
        (&None, &None, &None, &None)
    );
    let host_config = host_config(&spec);
    assert_eq!(host_config.network_mode.as_deref(), Some("demo_default"));
    assert_eq!(
        (
            &host_config.binds,
            &host_config.mounts,
            &host_config.extra_hosts
        ),
        (&None, &None, &None)
    );
    assert_eq!(host_config.restart_policy, None);
}

#[test]
fn network_spec_routed_has_the_subnet_and_gateway() {
    let project = project(
        "\
name: demo
services:
  web: {image: nginx, networks: [front]}
networks:
  front:
    driver_opts: {com.docker.network.bridge.enable_icc: 'true'}
    internal: true
    labels: {team: web, nap.network: spoofed}
    ipam: {config: [{subnet: 10.9.0.0/24}]}
",
    );
    let desired = desired(&project, &routed());
    let network = desired
        .networks
        .iter()
        .find(|network| network.key == "front")
        .expect("the front network");
    let subnet = network.subnet.expect("a routed subnet");
    let request = network_spec(&project, network);
    assert_eq!(request.name, "demo_front");
    assert_eq!(request.driver.as_deref(), Some("bridge"));
    assert_eq!(request.internal, Some(true));
    assert_eq!(
        request.options,
        Some(HashMap::from([(
            "com.docker.network.bridge.enable_icc".to_string(),
            "true".to_string()
        )]))
    );
    assert_eq!(
        request.labels,
        Some(HashMap::from([
            ("team".to_string(), "web".to_string()),
            ("nap.project".to_string(), "demo".to_string()),
            ("nap.network".to_string(), "front".to_string()),
        ]))
    );
    let octets = subnet.network.octets();
    assert_eq!(
        request.ipam,
        Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: Some(format!(
                    "{}.{}.{}.{}",
                    octets[0],
                    octets[1],
                    octets[2],
                    octets[3] + 1
                )),
                ..IpamConfig::default()
            }]),
            ..Ipam::default()
        })
    );
    assert!(subnet.to_string().starts_with("172.30."), "{subnet}");
}

#[test]
fn network_spec_local_keeps_the_compose_ipam() {
    let project = project(
            "\
name: demo
services:
  web: {image: nginx, networks: [front]}
networks:
  front:
    driver: macvlan
    ipam:
      driver: default
      config:
        - {subnet: 10.9.0.0/24, gateway: 10.9.0.254, ip_range: 10.9.0.128/25, aux_addresses: {router: 10.9.0.2}}
",
        );
    let state = desired(&project, &local());
    let request = network_spec(&project, &state.networks[0]);
    assert_eq!(request.driver.as_deref(), Some("macvlan"));
    assert_eq!(
        request.ipam,
        Some(Ipam {
            driver: Some("default".to_string()),
            config: Some(vec![IpamConfig {
                subnet: Some("10.9.0.0/24".to_string()),
                ip_range: Some("10.9.0.128/25".to_string()),
                gateway: Some("10.9.0.254".to_string()),
                auxiliary_addresses: Some(HashMap::from([(
                    "router".to_string(),
                    "10.9.0.2".to_string()
                )])),
            }]),
            options: None,
        })
    );
    let plain = project_with_env("name: demo\nservices:\n  web: {image: nginx}\n", &[]);
    let state = desired(&plain, &local());
    assert_eq!(network_spec(&plain, &state.networks[0]).ipam, None);
}

#[test]
fn volume_spec_has_driver_options_and_labels() {
    let project = project(
        "\
name: demo
services:
  db: {image: postgres, volumes: ['data:/var/lib/postgresql/data']}
volumes:
  data:
    driver: local
    driver_opts: {type: nfs, o: 'addr=10.0.0.9'}
    labels: {backup: daily, nap.project: spoofed}
",
    );
    let request = volume_spec(&project, "demo_data");
    assert_eq!(request.name.as_deref(), Some("demo_data"));
    assert_eq!(request.driver.as_deref(), Some("local"));
    assert_eq!(
        request.driver_opts,
        Some(HashMap::from([
            ("type".to_string(), "nfs".to_string()),
            ("o".to_string(), "addr=10.0.0.9".to_string()),
        ]))
    );
    assert_eq!(
        request.labels,
        Some(HashMap::from([
            ("backup".to_string(), "daily".to_string()),
            ("nap.project".to_string(), "demo".to_string()),
        ]))
    );
    let second = volume_spec(&project, "demo_data-2");
    assert_eq!(second.name.as_deref(), Some("demo_data-2"));
    assert_eq!(second.driver.as_deref(), Some("local"));
    assert_eq!(second.driver_opts, request.driver_opts);
    let unknown = volume_spec(&project, "other");
    assert_eq!(unknown.driver, None);
    assert_eq!(
        unknown.labels,
        Some(HashMap::from([(
            "nap.project".to_string(),
            "demo".to_string()
        )]))
    );
}

#[test]
fn each_replica_mounts_its_own_volume() {
    let project = project(
        "name: demo\nservices:\n  db: {image: postgres, deploy: {replicas: 2}, volumes: ['data:/d', 'ext:/e']}\nvolumes:\n  data: {}\n  ext: {external: true, name: shared}\n",
    );
    let first = spec_on(&project, &routed(), "demo-db-1");
    let second = spec_on(&project, &routed(), "demo-db-2");
    assert_eq!(
        host_config(&first).binds,
        Some(vec![
            "demo_data:/d:rw".to_string(),
            "shared:/e:rw".to_string()
        ])
    );
    assert_eq!(
        host_config(&second).binds,
        Some(vec![
            "demo_data-2:/d:rw".to_string(),
            "shared:/e:rw".to_string()
        ])
    );
}

#[test]
fn unknown_service_is_an_error() {
    let project = project("name: demo\nservices:\n  web: {image: nginx}\n");
    let desired = desired(&project, &local());
    let mut container = container(&desired, "demo-web-1").clone();
    container.service = "gone".to_string();
    let error = container_spec(&project, &container).expect_err("no such service");
    assert_eq!(error.to_string(), r#"service "gone": not in the project"#);
}
