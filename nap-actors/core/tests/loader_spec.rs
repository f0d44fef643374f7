//! Loader tests of what the Compose Specification adds over the older formats: `include:`,
//! the `!reset` / `!override` merge tags, `COMPOSE_*` variables read from `.env`, top-level
//! and service `secrets:` / `configs:`, and the resource and namespace service keys
//! (`mem_limit`, `cpus`, `ulimits`, `devices`, `blkio_config`, …) with their checks.
//!
//! As in `loader.rs`: a [`MemoryFileSystem`] under `/p`, an explicit environment, projects
//! compared as `nap config`'s YAML with `expect![[...]]` snapshots and errors by message.

use std::collections::BTreeMap;
use std::path::PathBuf;

use expect_test::{Expect, expect};
use nap_core::compose::{LoadOptions, Loaded, MemoryFileSystem, load_with};

fn files(files: &[(&str, &str)]) -> MemoryFileSystem {
    files
        .iter()
        .fold(MemoryFileSystem::default(), |fs, (path, text)| {
            fs.with(*path, *text)
        })
}

fn options(working_dir: &str, env: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        working_dir: PathBuf::from(working_dir),
        environment: env
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..LoadOptions::default()
    }
}

fn load(options: &LoadOptions, fs: &MemoryFileSystem) -> Loaded {
    match load_with(options, fs) {
        Ok(loaded) => loaded,
        Err(error) => panic!("load failed: {error}"),
    }
}

fn error_with(options: &LoadOptions, fs: &MemoryFileSystem) -> String {
    match load_with(options, fs) {
        Ok(loaded) => panic!("expected an error, loaded {:#?}", loaded.project),
        Err(error) => error.to_string(),
    }
}

fn load_one(text: &str) -> Loaded {
    load(&options("/p", &[]), &files(&[("/p/compose.yaml", text)]))
}

fn error_of(text: &str) -> String {
    error_with(&options("/p", &[]), &files(&[("/p/compose.yaml", text)]))
}

fn check_config(loaded: &Loaded, expect: Expect) {
    match serde_yaml::to_string(&loaded.project) {
        Ok(yaml) => expect.assert_eq(&yaml),
        Err(error) => panic!("cannot serialize the project: {error}"),
    }
}

// ---------------------------------------------------------------------------------------
// include
// ---------------------------------------------------------------------------------------

#[test]
fn include_loads_another_project_with_its_own_directory_and_env() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "include:\n  - db/compose.yaml\n  - path: [cache/compose.yaml, cache/more.yaml]\n    env_file: cache.env\nservices:\n  web:\n    image: web\n    depends_on: [db, cache]\n    volumes: [data:/data]\n",
        ),
        (
            "/p/db/compose.yaml",
            "services:\n  db:\n    image: postgres:${PG}\n    volumes: [./init:/init, data:/var/lib]\nvolumes:\n  data: {}\n",
        ),
        ("/p/db/.env", "PG=16\n"),
        (
            "/p/cache/compose.yaml",
            "services:\n  cache:\n    image: redis:${REDIS}\n",
        ),
        (
            "/p/cache/more.yaml",
            "services:\n  cache:\n    command: redis-server --save ''\n",
        ),
        ("/p/cache.env", "REDIS=7\n"),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    check_config(
        &loaded,
        expect![[r#"
            name: p
            services:
              cache:
                command:
                - redis-server
                - --save
                - ''
                image: redis:7
                networks:
                  default: null
              db:
                image: postgres:16
                networks:
                  default: null
                volumes:
                - type: bind
                  source: /p/db/init
                  target: /init
                  bind:
                    create_host_path: true
                - type: volume
                  source: data
                  target: /var/lib
              web:
                depends_on:
                  cache:
                    condition: service_started
                    required: true
                  db:
                    condition: service_started
                    required: true
                image: web
                networks:
                  default: null
                volumes:
                - type: volume
                  source: data
                  target: /data
            networks:
              default:
                name: p_default
            volumes:
              data:
                name: p_data
        "#]],
    );
    // The included files are sources too (for `nap watch`).
    for source in [
        "/p/db/compose.yaml",
        "/p/db/.env",
        "/p/cache/more.yaml",
        "/p/cache.env",
    ] {
        assert!(
            loaded.project.source_files.contains(&PathBuf::from(source)),
            "{source} in {:?}",
            loaded.project.source_files
        );
    }
}

#[test]
fn the_including_environment_wins_over_an_included_env_file() {
    let fs = files(&[
        ("/p/compose.yaml", "include: [sub/compose.yaml]\n"),
        (
            "/p/sub/compose.yaml",
            "services: {app: {image: \"app:${TAG}\"}}\n",
        ),
        ("/p/sub/.env", "TAG=from-file\n"),
    ]);
    let loaded = load(&options("/p", &[("TAG", "from-env")]), &fs);
    assert_eq!(
        loaded.project.services["app"].image.as_deref(),
        Some("app:from-env")
    );
}

#[test]
fn include_with_project_directory_resolves_paths_there() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "include:\n  - path: ../shared/compose.yaml\n    project_directory: ../shared/root\n",
        ),
        (
            "/shared/compose.yaml",
            "services: {app: {image: a, volumes: [./x:/x]}}\n",
        ),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    assert_eq!(
        loaded.project.services["app"].volumes[0].source.as_deref(),
        Some("/shared/root/x")
    );
}

#[test]
fn a_service_in_both_the_project_and_an_include_is_an_error_naming_both_files() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "include: [other/compose.yaml]\nservices:\n  web: {image: mine}\n",
        ),
        (
            "/p/other/compose.yaml",
            "services:\n  web: {image: theirs}\n",
        ),
    ]);
    expect![[r#"/p/other/compose.yaml:2: services.web: service "web" is defined both in /p/compose.yaml and in the included /p/other/compose.yaml (include does not merge; add the file to the include's path list to override it)"#]]
        .assert_eq(&error_with(&options("/p", &[]), &fs));

    // The same definition twice (a file included from two places) is no conflict.
    let fs = files(&[
        ("/p/compose.yaml", "include: [a.yaml, b.yaml]\n"),
        (
            "/p/a.yaml",
            "include: [common.yaml]\nservices: {a: {image: a}}\n",
        ),
        (
            "/p/b.yaml",
            "include: [common.yaml]\nservices: {b: {image: b}}\n",
        ),
        (
            "/p/common.yaml",
            "services: {log: {image: log}}\nnetworks: {back: {}}\n",
        ),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    assert_eq!(
        loaded.project.services.keys().collect::<Vec<_>>(),
        ["a", "b", "log"]
    );

    // A network defined differently is a conflict too.
    let fs = files(&[
        (
            "/p/compose.yaml",
            "include: [o.yaml]\nservices: {a: {image: a}}\nnetworks: {back: {internal: true}}\n",
        ),
        (
            "/p/o.yaml",
            "services: {b: {image: b}}\nnetworks: {back: {}}\n",
        ),
    ]);
    expect![[r#"/p/compose.yaml:1: include[0]: network "back" is defined both in this project and in the included /p/o.yaml"#]]
        .assert_eq(&error_with(&options("/p", &[]), &fs));
}

#[test]
fn include_errors_name_the_file_and_line() {
    let fs = files(&[(
        "/p/compose.yaml",
        "services: {a: {image: a}}\ninclude:\n  - nope.yaml\n",
    )]);
    expect![[r#"/p/compose.yaml:3: include[0]: included file /p/nope.yaml does not exist"#]]
        .assert_eq(&error_with(&options("/p", &[]), &fs));

    let fs = files(&[
        ("/p/compose.yaml", "include: [a.yaml]\n"),
        (
            "/p/a.yaml",
            "include: [compose.yaml]\nservices: {a: {image: a}}\n",
        ),
    ]);
    expect![[
        r#"/p/a.yaml:1: include[0]: include cycle: /p/compose.yaml -> /p/a.yaml -> /p/compose.yaml"#
    ]]
    .assert_eq(&error_with(&options("/p", &[]), &fs));

    expect![[r#"/p/compose.yaml:2: include[0].paths: unknown key "paths" (expected path, project_directory or env_file)"#]]
        .assert_eq(&error_of("include:\n  - paths: x.yaml\n"));
}

#[test]
fn a_project_without_services_is_an_error() {
    expect![[r#"/p/compose.yaml: services: no service is defined in /p/compose.yaml"#]]
        .assert_eq(&error_of("networks: {back: {}}\n"));
}

// ---------------------------------------------------------------------------------------
// !reset and !override
// ---------------------------------------------------------------------------------------

#[test]
fn reset_removes_and_override_replaces_what_earlier_files_set() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    image: web\n    ports: [\"80:80\", \"443:443\"]\n    environment: {A: \"1\", B: \"2\"}\n    dns: [1.1.1.1]\n    command: [serve]\n    deploy: {replicas: 2, resources: {limits: {memory: 1g}}}\n",
        ),
        (
            "/p/compose.override.yaml",
            "services:\n  web:\n    ports: !override [\"8080:80\"]\n    environment:\n      A: !reset null\n      C: \"3\"\n    dns: !reset []\n    command: !reset\n    deploy:\n      resources: !reset {}\n",
        ),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    check_config(
        &loaded,
        expect![[r#"
            name: p
            services:
              web:
                deploy:
                  replicas: 2
                environment:
                  B: '2'
                  C: '3'
                image: web
                networks:
                  default: null
                ports:
                - mode: ingress
                  target: 80
                  published: '8080'
                  protocol: tcp
            networks:
              default:
                name: p_default
        "#]],
    );
}

#[test]
fn misplaced_or_unknown_tags_are_errors() {
    expect![[r#"/p/compose.yaml:1: services: !reset is only supported on a service's keys and the entries of its mappings"#]]
        .assert_eq(&error_of("services: !reset {}\n"));
    expect![[r#"/p/compose.yaml:3: services.web.image: unknown YAML tag !custom"#]]
        .assert_eq(&error_of("services:\n  web:\n    image: !custom x\n"));
    expect![[r#"/p/compose.yaml:4: services.web.logging.driver: !reset and !override apply to a service's keys and to entries of environment, labels, sysctls, storage_opt, ulimits, depends_on, networks, deploy and healthcheck"#]]
        .assert_eq(&error_of(
            "services:\n  web:\n    image: x\n    logging: {driver: !reset null}\n",
        ));
}

// ---------------------------------------------------------------------------------------
// COMPOSE_* from .env
// ---------------------------------------------------------------------------------------

#[test]
fn compose_variables_come_from_dotenv_and_the_environment_wins() {
    let fs = files(&[
        (
            "/p/.env",
            "COMPOSE_FILE=base.yaml;extra.yaml\nCOMPOSE_PATH_SEPARATOR=;\nCOMPOSE_PROJECT_NAME=fromdotenv\nCOMPOSE_PROFILES=debug\n",
        ),
        ("/p/base.yaml", "services: {web: {image: base}}\n"),
        (
            "/p/extra.yaml",
            "services: {web: {image: extra}, tools: {image: t, profiles: [debug]}}\n",
        ),
        ("/p/compose.yaml", "services: {web: {image: discovered}}\n"),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    assert_eq!(loaded.project.name, "fromdotenv");
    assert_eq!(
        loaded.project.services["web"].image.as_deref(),
        Some("extra")
    );
    assert!(loaded.project.services.contains_key("tools"));

    let loaded = load(
        &options(
            "/p",
            &[
                ("COMPOSE_FILE", "base.yaml"),
                ("COMPOSE_PROJECT_NAME", "fromenv"),
                ("COMPOSE_PROFILES", ""),
            ],
        ),
        &fs,
    );
    assert_eq!(loaded.project.name, "fromenv");
    assert_eq!(
        loaded.project.services["web"].image.as_deref(),
        Some("base")
    );
    assert!(!loaded.project.services.contains_key("tools"));
}

// ---------------------------------------------------------------------------------------
// secrets and configs
// ---------------------------------------------------------------------------------------

#[test]
fn secrets_and_configs_in_long_form_with_absolute_targets() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  db:\n    image: postgres\n    secrets:\n      - db_password\n      - source: api_key\n        target: api.key\n        uid: \"999\"\n        mode: 0400\n    configs:\n      - nginx\n      - source: inline\n        target: /etc/app.conf\n        mode: 0o644\nsecrets:\n  db_password:\n    file: ./secrets/db.txt\n  api_key:\n    environment: API_KEY\nconfigs:\n  nginx:\n    file: nginx.conf\n  inline:\n    content: |\n      listen 80\n  shared:\n    external: true\n",
        ),
        (
            "/p/compose.override.yaml",
            "secrets:\n  db_password:\n    file: ./secrets/prod.txt\nservices:\n  db:\n    secrets:\n      - source: db_password\n        target: db_password\n        mode: 288\n",
        ),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    check_config(
        &loaded,
        expect![[r#"
            name: p
            services:
              db:
                configs:
                - source: nginx
                  target: /nginx
                - source: inline
                  target: /etc/app.conf
                  mode: 420
                image: postgres
                networks:
                  default: null
                secrets:
                - source: db_password
                  target: /run/secrets/db_password
                  mode: 288
                - source: api_key
                  target: /run/secrets/api.key
                  uid: '999'
                  mode: 256
            networks:
              default:
                name: p_default
            secrets:
              api_key:
                name: p_api_key
                environment: API_KEY
              db_password:
                name: p_db_password
                file: /p/secrets/prod.txt
            configs:
              inline:
                name: p_inline
                content: |
                  listen 80
              nginx:
                name: p_nginx
                file: /p/nginx.conf
              shared:
                name: shared
                external: true
        "#]],
    );
}

#[test]
fn secret_errors_name_the_file_line_and_secret() {
    expect![[r#"/p/compose.yaml:5: services.db.secrets[0]: service "db" refers to undefined secret "nope": declare it under the top-level secrets"#]]
        .assert_eq(&error_of(
            "services:\n  db:\n    image: x\n    secrets:\n      - nope\n",
        ));
    expect![[r#"/p/compose.yaml:5: services.db.secrets[0]: invalid secret target "../etc/passwd" (a file path without "..", "." or empty parts)"#]]
        .assert_eq(&error_of(
            "services:\n  db:\n    image: x\n    secrets:\n      - {source: s, target: ../etc/passwd}\nsecrets: {s: {file: s.txt}}\n",
        ));
    expect![[r#"/p/compose.yaml:3: secrets.s: secret "s" needs exactly one of file, environment or external"#]]
        .assert_eq(&error_of(
            "services: {db: {image: x}}\nsecrets:\n  s: {file: a, environment: B}\n",
        ));
    expect![[r#"/p/compose.yaml:3: secrets.s.content: unknown key "content" (expected file, environment, external, name or labels)"#]]
        .assert_eq(&error_of(
            "services: {db: {image: x}}\nsecrets:\n  s: {content: a}\n",
        ));
    expect!["/p/compose.yaml:5: services.db.secrets[0].mode: invalid mode 0999 (expected permission bits such as 0440)"]
        .assert_eq(&error_of(
            "services:\n  db:\n    image: x\n    secrets:\n      - {source: s, mode: \"0999\"}\nsecrets: {s: {file: s.txt}}\n",
        ));
}

// ---------------------------------------------------------------------------------------
// resource and namespace keys
// ---------------------------------------------------------------------------------------

#[test]
fn resource_keys_are_read_and_printed() {
    let loaded = load_one(
        "services:\n  app:\n    image: app\n    mem_limit: 512m\n    mem_reservation: 128m\n    memswap_limit: -1\n    mem_swappiness: 10\n    cpus: 1.5\n    cpu_shares: 512\n    cpu_quota: 50000\n    cpu_period: 100000\n    cpuset: 0-1,3\n    cpu_rt_runtime: 950ms\n    pids_limit: 100\n    ulimits:\n      nproc: 65535\n      nofile: {soft: 1024, hard: 4096}\n    devices:\n      - /dev/fuse\n      - /dev/ttyUSB0:/dev/ttyUSB0:rw\n      - {source: /dev/kvm, target: /dev/kvm}\n    device_cgroup_rules: [\"c 1:3 mr\"]\n    dns_search: [example.com]\n    dns_opt: [use-vc]\n    group_add: [audio, \"1001\"]\n    oom_kill_disable: true\n    oom_score_adj: -500\n    platform: linux/amd64\n    runtime: runc\n    userns_mode: host\n    uts: host\n    cgroup: private\n    cgroup_parent: nap.slice\n    storage_opt: {size: 20G}\n    domainname: example.com\n    mac_address: 02:42:ac:11:00:02\n    blkio_config:\n      weight: 300\n      weight_device: [{path: /dev/sda, weight: 400}]\n      device_read_bps: [{path: /dev/sda, rate: 12mb}]\n      device_write_iops: [{path: /dev/sda, rate: 30}]\n",
    );
    // What nap cannot apply yet is said, with its line; everything else is deployed.
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("/p/compose.yaml:28: \"platform\" (linux/amd64) is not applied")
    );
    assert!(warnings[1].starts_with("/p/compose.yaml:36: \"mac_address\" is not applied"));
    check_config(
        &loaded,
        expect![[r#"
            name: p
            services:
              app:
                blkio_config:
                  weight: 300
                  weight_device:
                  - path: /dev/sda
                    weight: 400
                  device_read_bps:
                  - path: /dev/sda
                    rate: '12582912'
                  device_write_iops:
                  - path: /dev/sda
                    rate: '30'
                cgroup: private
                cgroup_parent: nap.slice
                cpu_period: 100000
                cpu_quota: 50000
                cpu_rt_runtime: 950ms
                cpu_shares: 512
                cpus: '1.5'
                cpuset: 0-1,3
                device_cgroup_rules:
                - c 1:3 mr
                devices:
                - /dev/fuse
                - /dev/ttyUSB0:/dev/ttyUSB0:rw
                - /dev/kvm:/dev/kvm:rwm
                dns_opt:
                - use-vc
                dns_search:
                - example.com
                domainname: example.com
                group_add:
                - audio
                - '1001'
                image: app
                mac_address: 02:42:ac:11:00:02
                mem_limit: 512m
                mem_reservation: 128m
                mem_swappiness: 10
                memswap_limit: '-1'
                networks:
                  default: null
                oom_kill_disable: true
                oom_score_adj: -500
                pids_limit: 100
                platform: linux/amd64
                runtime: runc
                storage_opt:
                  size: 20G
                ulimits:
                  nofile:
                    soft: 1024
                    hard: 4096
                  nproc: 65535
                userns_mode: host
                uts: host
            networks:
              default:
                name: p_default
        "#]],
    );
}

#[test]
fn bad_resource_values_name_the_file_line_and_key() {
    let cases = [
        (
            "mem_limit: lots",
            "services.app.mem_limit: invalid size \"lots\"",
        ),
        ("cpus: many", "services.app.cpus: invalid cpus \"many\""),
        (
            "mem_swappiness: 101",
            "services.app.mem_swappiness: 101 is not within 0 to 100",
        ),
        (
            "oom_score_adj: 2000",
            "services.app.oom_score_adj: 2000 is not within -1000 to 1000",
        ),
        (
            "ulimits: {nofile: {soft: 10, hard: 5}}",
            "services.app.ulimits.nofile: soft limit 10 is above the hard limit 5",
        ),
        (
            "ulimits: {files: 10}",
            "services.app.ulimits.files: unknown ulimit \"files\"",
        ),
        (
            "devices: [\"dev/fuse\"]",
            "services.app.devices[0]: invalid device \"dev/fuse\"",
        ),
        (
            "devices: [\"nvidia.com/gpu=all\"]",
            "CDI device names are not supported by nap",
        ),
        (
            "platform: linux",
            "services.app.platform: invalid platform \"linux\"",
        ),
        ("cpuset: 3-1", "services.app.cpuset: invalid cpuset \"3-1\""),
        (
            "device_cgroup_rules: [\"x 1:3 r\"]",
            "services.app.device_cgroup_rules[0]: invalid device cgroup rule",
        ),
        (
            "isolation: hyper",
            "services.app.isolation: invalid value \"hyper\" (expected default or process or hyperv)",
        ),
        (
            "blkio_config: {weight: 5}",
            "services.app.blkio_config.weight: weight \"5\" is not within 10 to 1000",
        ),
        (
            "pids_limit: -2",
            "services.app.pids_limit: -2 is below -1 (unlimited)",
        ),
        (
            "mac_address: 02:42",
            "services.app.mac_address: invalid MAC address \"02:42\"",
        ),
    ];
    for (line, expected) in cases {
        let message = error_of(&format!("services:\n  app:\n    image: x\n    {line}\n"));
        assert!(
            message.starts_with("/p/compose.yaml:4: ") && message.contains(expected),
            "{line}: {message}"
        );
    }
}

#[test]
fn label_files_merge_under_labels() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  app:\n    image: x\n    label_file: [./a.labels, b.labels]\n    labels: {team: web}\n",
        ),
        ("/p/a.labels", "# owners\nteam=ops\ntier=front\n"),
        ("/p/b.labels", "tier=edge\ncom.example.version=${VERSION}\n"),
    ]);
    let loaded = load(&options("/p", &[("VERSION", "3")]), &fs);
    let labels: Vec<(&str, &str)> = loaded.project.services["app"]
        .labels
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("com.example.version", "3"),
            ("team", "web"),
            ("tier", "edge")
        ]
    );
    assert!(
        loaded
            .project
            .source_files
            .contains(&PathBuf::from("/p/b.labels"))
    );

    let fs = files(&[(
        "/p/compose.yaml",
        "services:\n  app:\n    image: x\n    label_file: missing.labels\n",
    )]);
    let message = error_with(&options("/p", &[]), &fs);
    assert!(
        message.starts_with(
            "/p/compose.yaml:4: services.app.label_file: service \"app\": label_file /p/missing.labels: "
        ),
        "{message}"
    );
}
