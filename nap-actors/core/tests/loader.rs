//! Integration tests of the compose loader (`nap config`): file discovery, `-f` merging,
//! project names, interpolation and `.env`, merge keys, `extends`, profiles, `env_file`,
//! networks and volumes, validation, and the file/line/key every error and warning names.
//!
//! Every test runs the loader on a [`MemoryFileSystem`] with absolute paths under `/p` and an
//! explicit process environment, so nothing depends on the machine running the tests. A
//! loaded project is checked as data: [`check_config`] compares `nap config`'s YAML with an
//! `expect![[...]]` snapshot, and an error with its whole message (`UPDATE_EXPECT=1 cargo
//! test -p nap-core --test loader` rewrites them; review the diff).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use expect_test::{Expect, expect};
use nap_core::compose::{
    LoadError, LoadOptions, Loaded, MemoryFileSystem, load_with, normalize_project_name,
};

/// A file system holding `files` (path, content).
fn files(files: &[(&str, &str)]) -> MemoryFileSystem {
    files
        .iter()
        .fold(MemoryFileSystem::default(), |fs, (path, text)| {
            fs.with(*path, *text)
        })
}

/// Options with `working_dir` and an environment of `env` (and nothing else).
fn options(working_dir: &str, env: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        working_dir: PathBuf::from(working_dir),
        environment: environment(env),
        ..LoadOptions::default()
    }
}

fn environment(env: &[(&str, &str)]) -> BTreeMap<String, String> {
    env.iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Loads `fs` with `options`, panicking with the error's message on failure.
fn load(options: &LoadOptions, fs: &MemoryFileSystem) -> Loaded {
    match load_with(options, fs) {
        Ok(loaded) => loaded,
        Err(error) => panic!("load failed: {error}"),
    }
}

/// Loads `/p/compose.yaml` holding `text`, with no environment.
fn load_one(text: &str) -> Loaded {
    load(&options("/p", &[]), &files(&[("/p/compose.yaml", text)]))
}

/// The error message of loading `/p/compose.yaml` holding `text` (the test fails if it loads).
fn error_of(text: &str) -> String {
    error_with(&options("/p", &[]), &files(&[("/p/compose.yaml", text)]))
}

fn error_with(options: &LoadOptions, fs: &MemoryFileSystem) -> String {
    match load_with(options, fs) {
        Ok(loaded) => panic!("expected an error, loaded {:#?}", loaded.project),
        Err(error) => error.to_string(),
    }
}

/// Compares what `nap config` prints for `loaded` (the project as normalized YAML) with
/// `expect`.
fn check_config(loaded: &Loaded, expect: Expect) {
    match serde_yaml::to_string(&loaded.project) {
        Ok(yaml) => expect.assert_eq(&yaml),
        Err(error) => panic!("cannot serialize the project: {error}"),
    }
}

fn warnings(loaded: &Loaded) -> Vec<String> {
    loaded.warnings.iter().map(ToString::to_string).collect()
}

fn env_value<'a>(loaded: &'a Loaded, service: &str, key: &str) -> Option<&'a str> {
    loaded.project.services[service]
        .environment
        .get(key)
        .and_then(|value| value.as_deref())
}

fn image<'a>(loaded: &'a Loaded, service: &str) -> &'a str {
    loaded.project.services[service]
        .image
        .as_deref()
        .unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// File discovery, override files, COMPOSE_FILE and -f merging
// ---------------------------------------------------------------------------------------

#[test]
fn discovery_prefers_compose_yaml_over_docker_compose_yml() {
    let fs = files(&[
        ("/p/docker-compose.yml", "services: {web: {image: old}}\n"),
        ("/p/compose.yaml", "services: {web: {image: new}}\n"),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    assert_eq!(image(&loaded, "web"), "new");
    assert_eq!(
        loaded.project.source_files,
        [PathBuf::from("/p/compose.yaml")]
    );

    // With only the legacy name, that one is found.
    let fs = files(&[("/p/docker-compose.yml", "services: {web: {image: old}}\n")]);
    assert_eq!(image(&load(&options("/p", &[]), &fs), "web"), "old");

    // compose.yml comes before docker-compose.yaml.
    let fs = files(&[
        (
            "/p/docker-compose.yaml",
            "services: {web: {image: third}}\n",
        ),
        ("/p/compose.yml", "services: {web: {image: second}}\n"),
    ]);
    assert_eq!(image(&load(&options("/p", &[]), &fs), "web"), "second");
}

#[test]
fn discovery_searches_parent_folders() {
    let fs = files(&[("/p/compose.yaml", "services: {web: {image: nginx}}\n")]);
    let loaded = load(&options("/p/src/deep", &[]), &fs);
    assert_eq!(image(&loaded, "web"), "nginx");
    // The project directory (and so the default name) is the file's folder, not the cwd.
    assert_eq!(loaded.project.working_dir, Path::new("/p"));
    assert_eq!(loaded.project.name, "p");

    // The nearest folder wins.
    let fs = files(&[
        ("/p/compose.yaml", "services: {web: {image: outer}}\n"),
        ("/p/src/compose.yaml", "services: {web: {image: inner}}\n"),
    ]);
    assert_eq!(
        image(&load(&options("/p/src/deep", &[]), &fs), "web"),
        "inner"
    );

    // Nothing anywhere: an error naming where the search started.
    let message = error_with(&options("/p/src", &[]), &MemoryFileSystem::default());
    expect!["no compose file found in /p/src or its parents (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml); name one with -f"].assert_eq(&message);
}

#[test]
fn override_file_is_merged_on_discovery() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    image: nginx\n    environment: {A: base, B: base}\n",
        ),
        (
            "/p/compose.override.yaml",
            "services:\n  web:\n    environment: {B: override}\n  debug:\n    image: busybox\n",
        ),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    // web's environment merged by key; debug added.
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          debug:
            image: busybox
            networks:
              default: null
          web:
            environment:
              A: base
              B: override
            image: nginx
            networks:
              default: null
        networks:
          default:
            name: p_default
    "#]],
    );
    assert_eq!(
        loaded.project.source_files,
        [
            PathBuf::from("/p/compose.yaml"),
            PathBuf::from("/p/compose.override.yaml")
        ]
    );

    // The legacy pair too.
    let fs = files(&[
        ("/p/docker-compose.yml", "services: {web: {image: nginx}}\n"),
        (
            "/p/docker-compose.override.yml",
            "services: {web: {image: nginx:override}}\n",
        ),
    ]);
    assert_eq!(
        image(&load(&options("/p", &[]), &fs), "web"),
        "nginx:override"
    );

    // Naming the file with -f does not pull the override in.
    let fs = files(&[
        ("/p/compose.yaml", "services: {web: {image: nginx}}\n"),
        (
            "/p/compose.override.yaml",
            "services: {web: {image: nginx:override}}\n",
        ),
    ]);
    let mut with_f = options("/p", &[]);
    with_f.files = vec![PathBuf::from("compose.yaml")];
    assert_eq!(image(&load(&with_f, &fs), "web"), "nginx");
}

#[test]
fn compose_file_variable_lists_files_separated_by_colons() {
    let fs = files(&[
        ("/p/compose.yaml", "services: {ignored: {image: x}}\n"),
        (
            "/p/base.yaml",
            "services:\n  web:\n    image: nginx\n    environment: {A: base}\n",
        ),
        (
            "/p/extra/prod.yaml",
            "services:\n  web:\n    environment: {A: prod}\n",
        ),
    ]);
    let loaded = load(
        &options("/p", &[("COMPOSE_FILE", "base.yaml:extra/prod.yaml")]),
        &fs,
    );
    // compose.yaml is not read; prod.yaml's A wins.
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          web:
            environment:
              A: prod
            image: nginx
            networks:
              default: null
        networks:
          default:
            name: p_default
    "#]],
    );
    assert_eq!(
        loaded.project.source_files,
        [
            PathBuf::from("/p/base.yaml"),
            PathBuf::from("/p/extra/prod.yaml")
        ]
    );
}

#[test]
fn several_f_files_merge_by_compose_rules() {
    let base = "\
services:
  web:
    image: nginx
    command: [\"nginx\", \"-g\", \"daemon off;\"]
    environment:
      A: '1'
      B: '2'
    ports:
      - \"80:80\"
    volumes:
      - data:/data
      - ./conf:/etc/nginx/conf.d
    labels:
      tier: front
    depends_on: [db]
  db:
    image: postgres
  cache:
    image: redis
volumes:
  data: {}
  other: {}
";
    let overlay = "\
services:
  web:
    command: nginx-debug
    environment:
      - B=two
      - C=3
    ports:
      - \"80:80\"
      - \"443:443\"
    volumes:
      - other:/data
    labels:
      team: web
    depends_on:
      cache:
        condition: service_healthy
";
    let fs = files(&[("/p/compose.yaml", base), ("/p/prod.yaml", overlay)]);
    let mut opts = options("/p", &[]);
    opts.files = vec!["compose.yaml".into(), "prod.yaml".into()];
    let loaded = load(&opts, &fs);
    // environment: by key; ports: appended, without duplicates; volumes: by target;
    // command: replaced, the string split as a shell would; labels: merged; depends_on:
    // merged, each with its condition.
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          cache:
            image: redis
            networks:
              default: null
          db:
            image: postgres
            networks:
              default: null
          web:
            command:
            - nginx-debug
            depends_on:
              cache:
                condition: service_healthy
                required: true
              db:
                condition: service_started
                required: true
            environment:
              A: '1'
              B: two
              C: '3'
            image: nginx
            labels:
              team: web
              tier: front
            networks:
              default: null
            ports:
            - mode: ingress
              target: 80
              published: '80'
              protocol: tcp
            - mode: ingress
              target: 443
              published: '443'
              protocol: tcp
            volumes:
            - type: volume
              source: other
              target: /data
            - type: bind
              source: /p/conf
              target: /etc/nginx/conf.d
              bind:
                create_host_path: true
        networks:
          default:
            name: p_default
        volumes:
          data:
            name: p_data
          other:
            name: p_other
    "#]],
    );
}

// ---------------------------------------------------------------------------------------
// Project name
// ---------------------------------------------------------------------------------------

#[test]
fn project_name_precedence() {
    let compose = "name: from-file\nservices: {web: {image: nginx}}\n";
    let dotenv = "COMPOSE_PROJECT_NAME=from-dotenv\n";
    let with_everything = files(&[("/p/app/compose.yaml", compose), ("/p/app/.env", dotenv)]);
    let env = [("COMPOSE_PROJECT_NAME", "from-env")];

    // -p wins over everything.
    let mut opts = options("/p/app", &env);
    opts.project_name = Some("from-option".into());
    assert_eq!(load(&opts, &with_everything).project.name, "from-option");
    // Then COMPOSE_PROJECT_NAME from the process environment.
    assert_eq!(
        load(&options("/p/app", &env), &with_everything)
            .project
            .name,
        "from-env"
    );
    // Then COMPOSE_PROJECT_NAME from .env.
    assert_eq!(
        load(&options("/p/app", &[]), &with_everything).project.name,
        "from-dotenv"
    );
    // Then the top-level name:.
    let no_dotenv = files(&[("/p/app/compose.yaml", compose)]);
    assert_eq!(
        load(&options("/p/app", &[]), &no_dotenv).project.name,
        "from-file"
    );
    // Then the project folder's name.
    let bare = files(&[("/p/app/compose.yaml", "services: {web: {image: nginx}}\n")]);
    assert_eq!(load(&options("/p/app", &[]), &bare).project.name, "app");
}

#[test]
fn project_names_are_normalized() {
    let loaded = load_one("name: My App!\nservices: {web: {image: nginx}}\n");
    assert_eq!(loaded.project.name, "myapp");

    let mut opts = options("/p", &[]);
    opts.project_name = Some("Shop_Front-2".into());
    let fs = files(&[("/p/compose.yaml", "services: {web: {image: nginx}}\n")]);
    assert_eq!(load(&opts, &fs).project.name, "shop_front-2");

    // A folder name is normalized too.
    let fs = files(&[(
        "/p/My.Project/compose.yaml",
        "services: {web: {image: x}}\n",
    )]);
    assert_eq!(
        load(&options("/p/My.Project", &[]), &fs).project.name,
        "myproject"
    );

    // A name that normalizes to nothing is an error.
    let message = error_of("name: '!!!'\nservices: {web: {image: nginx}}\n");
    expect![[
        r#"project name "!!!" is empty once normalized to [a-z0-9_-]: set one with -p or name:"#
    ]]
    .assert_eq(&message);
}

#[test]
fn normalize_project_name_cases() {
    assert_eq!(normalize_project_name("My App!"), "myapp");
    assert_eq!(normalize_project_name("demo"), "demo");
    assert_eq!(normalize_project_name("Foo-Bar_1"), "foo-bar_1");
    assert_eq!(normalize_project_name("my.project"), "myproject");
    // Must start with a letter or digit.
    assert_eq!(normalize_project_name("_-web"), "web");
    assert_eq!(normalize_project_name("-9lives"), "9lives");
    // Only ASCII letters and digits survive.
    assert_eq!(normalize_project_name("Café 2"), "caf2");
    assert_eq!(normalize_project_name("!!!"), "");
    assert_eq!(normalize_project_name(""), "");
}

// ---------------------------------------------------------------------------------------
// Interpolation and .env
// ---------------------------------------------------------------------------------------

#[test]
fn interpolation_reads_the_environment_and_dotenv_with_the_environment_winning() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    image: \"nginx:${TAG}\"\n    environment:\n      MODE: ${MODE:-dev}\n      ONLY_FILE: $ONLY_FILE\n",
        ),
        ("/p/.env", "TAG=from-dotenv\nMODE=dotenv\nONLY_FILE=file\n"),
    ]);
    let loaded = load(&options("/p", &[("TAG", "from-env")]), &fs);
    assert_eq!(image(&loaded, "web"), "nginx:from-env");
    assert_eq!(env_value(&loaded, "web", "MODE"), Some("dotenv"));
    assert_eq!(env_value(&loaded, "web", "ONLY_FILE"), Some("file"));
    assert!(loaded.warnings.is_empty(), "{:?}", warnings(&loaded));
    assert!(
        loaded
            .project
            .source_files
            .contains(&PathBuf::from("/p/.env"))
    );
}

#[test]
fn env_file_option_replaces_dotenv() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    image: \"nginx:${TAG:-none}\"\n    environment:\n      OTHER: ${OTHER:-unset}\n",
        ),
        ("/p/.env", "TAG=dotenv\nOTHER=dotenv\n"),
        ("/p/env/prod.env", "TAG=prod\n"),
    ]);
    let mut opts = options("/p", &[]);
    opts.env_files = vec!["env/prod.env".into()];
    let loaded = load(&opts, &fs);
    assert_eq!(image(&loaded, "web"), "nginx:prod");
    // .env is not read at all when --env-file is given.
    assert_eq!(env_value(&loaded, "web", "OTHER"), Some("unset"));

    // A missing --env-file is an error naming it.
    opts.env_files = vec!["env/missing.env".into()];
    let message = error_with(&opts, &fs);
    expect!["/p/env/missing.env: cannot read: no such file"].assert_eq(&message);
}

#[test]
fn required_variable_unset_is_an_error_naming_file_line_key_and_message() {
    let text = "\
services:
  web:
    image: nginx
    environment:
      TOKEN: ${TOKEN:?set TOKEN to the API token}
";
    let message = error_of(text);
    expect!["/p/compose.yaml:5: services.web.environment.TOKEN: required variable TOKEN is missing a value: set TOKEN to the API token"].assert_eq(&message);
    // Set: no error.
    let fs = files(&[("/p/compose.yaml", text)]);
    let loaded = load(&options("/p", &[("TOKEN", "t0k")]), &fs);
    assert_eq!(env_value(&loaded, "web", "TOKEN"), Some("t0k"));
}

#[test]
fn double_dollar_is_a_literal_dollar() {
    let loaded = load_one(
        "services:\n  web:\n    image: nginx\n    command: sh -c 'echo $$HOME $${PATH}'\n",
    );
    assert_eq!(
        loaded.project.services["web"].command,
        Some(vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo $HOME ${PATH}".to_string()
        ])
    );
    assert!(loaded.warnings.is_empty(), "{:?}", warnings(&loaded));
}

#[test]
fn unset_variable_warns_with_its_name_and_defaults_to_blank() {
    let loaded = load_one("services:\n  web:\n    image: \"nginx${SUFFIX}\"\n");
    assert_eq!(image(&loaded, "web"), "nginx");
    let found = warnings(&loaded);
    assert!(
        found.iter().any(|w| w.starts_with("/p/compose.yaml:3: ")
            && w.contains("\"SUFFIX\" variable is not set")),
        "{found:?}"
    );
    // A default is not worth a warning.
    let loaded = load_one("services:\n  web:\n    image: \"nginx${SUFFIX:-}\"\n");
    assert!(loaded.warnings.is_empty(), "{:?}", warnings(&loaded));
}

// ---------------------------------------------------------------------------------------
// YAML anchors, merge keys and extensions
// ---------------------------------------------------------------------------------------

#[test]
fn anchors_merge_keys_and_extensions() {
    let text = "\
x-common: &common
  restart: always
  environment:
    LOG: info
x-labels: &labels
  labels:
    team: shop
services:
  api:
    <<: *common
    image: api
    x-nap:
      strategy: binpack
  worker:
    <<: [*common, *labels]
    image: worker
    restart: on-failure
";
    let loaded = load_one(text);
    // Keys written beside the merge win over the merged ones (worker's restart); top-level
    // extensions are kept as written...
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          api:
            environment:
              LOG: info
            image: api
            networks:
              default: null
            restart: always
            x-nap:
              strategy: binpack
          worker:
            environment:
              LOG: info
            image: worker
            labels:
              team: shop
            networks:
              default: null
            restart: on-failure
        networks:
          default:
            name: p_default
        x-common:
          restart: always
          environment:
            LOG: info
        x-labels:
          labels:
            team: shop
    "#]],
    );
    // ... and are not warned about.
    assert!(loaded.warnings.is_empty(), "{:?}", warnings(&loaded));
}

// ---------------------------------------------------------------------------------------
// extends
// ---------------------------------------------------------------------------------------

#[test]
fn extends_in_the_same_file() {
    let text = "\
services:
  base:
    image: app
    environment: {A: base, B: base}
    command: [serve]
  web:
    extends: base
    environment: {B: web}
  worker:
    extends:
      service: web
    command: work
";
    let loaded = load_one(text);
    // web from base; worker by a chain: worker → web → base. No `extends` is left.
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          base:
            command:
            - serve
            environment:
              A: base
              B: base
            image: app
            networks:
              default: null
          web:
            command:
            - serve
            environment:
              A: base
              B: web
            image: app
            networks:
              default: null
          worker:
            command:
            - work
            environment:
              A: base
              B: web
            image: app
            networks:
              default: null
        networks:
          default:
            name: p_default
    "#]],
    );
    assert!(loaded.project.services["worker"].extends.is_none());
}

#[test]
fn extends_from_another_file_resolves_its_paths_against_that_file() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    extends:\n      file: common/base.yaml\n      service: app\n    volumes:\n      - ./site:/site\n",
        ),
        (
            "/p/common/base.yaml",
            "services:\n  app:\n    image: app:1\n    volumes:\n      - ./conf:/etc/app\n    env_file: app.env\n",
        ),
        ("/p/common/app.env", "FROM_BASE=yes\n"),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    // The base's bind source and env_file resolve against common/.
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          web:
            environment:
              FROM_BASE: yes
            image: app:1
            networks:
              default: null
            volumes:
            - type: bind
              source: /p/common/conf
              target: /etc/app
              bind:
                create_host_path: true
            - type: bind
              source: /p/site
              target: /site
              bind:
                create_host_path: true
        networks:
          default:
            name: p_default
    "#]],
    );
    // The extended service of the other file is not a service of the project.
    assert!(!loaded.project.services.contains_key("app"));
    assert!(
        loaded
            .project
            .source_files
            .contains(&PathBuf::from("/p/common/base.yaml"))
    );
}

#[test]
fn extends_cycle_is_an_error() {
    let text = "\
services:
  a:
    image: x
    extends: b
  b:
    image: y
    extends: a
";
    let message = error_of(text);
    expect!["/p/compose.yaml:4: services.a.extends: circular extends: a -> b -> a"]
        .assert_eq(&message);
}

#[test]
fn extends_of_an_unknown_service_is_an_error() {
    let text = "\
services:
  web:
    image: x
    extends: nope
";
    let message = error_of(text);
    expect![[r#"/p/compose.yaml:4: services.web.extends: cannot extend service "nope": no such service in /p/compose.yaml"#]].assert_eq(&message);

    // In another file: the error names the other file.
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    extends: {file: base.yaml, service: nope}\n",
        ),
        ("/p/base.yaml", "services:\n  app:\n    image: x\n"),
    ]);
    let message = error_with(&options("/p", &[]), &fs);
    expect![[r#"/p/base.yaml:1: services.web.extends: cannot extend service "nope": no such service in /p/base.yaml"#]].assert_eq(&message);

    // A missing file: the error names the key and the file.
    let fs = files(&[(
        "/p/compose.yaml",
        "services:\n  web:\n    extends: {file: gone.yaml, service: app}\n",
    )]);
    let message = error_with(&options("/p", &[]), &fs);
    expect![
        "/p/compose.yaml:3: services.web.extends.file: extends file /p/gone.yaml does not exist"
    ]
    .assert_eq(&message);
}

// ---------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------

const PROFILES: &str = "\
services:
  web:
    image: nginx
  debug:
    image: busybox
    profiles: [debug]
  tools:
    image: alpine
    profiles: [tools, ops]
";

fn service_names(loaded: &Loaded) -> Vec<&str> {
    loaded.project.services.keys().map(String::as_str).collect()
}

#[test]
fn profiles_disable_services_unless_enabled() {
    let fs = files(&[("/p/compose.yaml", PROFILES)]);

    let loaded = load(&options("/p", &[]), &fs);
    assert_eq!(service_names(&loaded), ["web"]);
    assert_eq!(loaded.project.disabled_services, ["debug", "tools"]);

    let mut opts = options("/p", &[]);
    opts.profiles = vec!["ops".into()];
    assert_eq!(service_names(&load(&opts, &fs)), ["tools", "web"]);

    let loaded = load(&options("/p", &[("COMPOSE_PROFILES", "debug, ops")]), &fs);
    assert_eq!(service_names(&loaded), ["debug", "tools", "web"]);

    // --profile wins over COMPOSE_PROFILES.
    let mut opts = options("/p", &[("COMPOSE_PROFILES", "debug")]);
    opts.profiles = vec!["tools".into()];
    assert_eq!(service_names(&load(&opts, &fs)), ["tools", "web"]);

    let mut opts = options("/p", &[]);
    opts.profiles = vec!["*".into()];
    assert_eq!(service_names(&load(&opts, &fs)), ["debug", "tools", "web"]);
}

#[test]
fn depending_on_a_disabled_service_is_an_error_unless_not_required() {
    let text = format!(
        "{PROFILES}  app:\n    image: app\n    depends_on:\n      debug:\n        condition: service_started\n"
    );
    let message = error_of(&text);
    expect![[r#"/p/compose.yaml:13: services.app.depends_on.debug: service "app" depends on "debug", which is disabled by its profiles (enable one with --profile, or set required: false)"#]].assert_eq(&message);

    // Enabled: fine.
    let mut opts = options("/p", &[]);
    opts.profiles = vec!["debug".into()];
    let fs = files(&[("/p/compose.yaml", text.as_str())]);
    let loaded = load(&opts, &fs);
    assert!(
        loaded.project.services["app"]
            .depends_on
            .contains_key("debug")
    );

    // required: false drops the dependency instead.
    let text = format!("{text}        required: false\n");
    let loaded = load_one(&text);
    assert!(loaded.project.services["app"].depends_on.is_empty());

    // An undefined service is an error too.
    let message = error_of("services:\n  web:\n    image: x\n    depends_on: [nope]\n");
    expect![[r#"/p/compose.yaml:4: services.web.depends_on.nope: service "web" depends on undefined service "nope""#]].assert_eq(&message);
}

// ---------------------------------------------------------------------------------------
// env_file and environment
// ---------------------------------------------------------------------------------------

#[test]
fn env_file_is_read_relative_to_the_project_and_environment_wins() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    image: nginx\n    env_file: [conf/web.env, {path: conf/optional.env, required: false}]\n    environment:\n      B: from-environment\n",
        ),
        ("/p/conf/web.env", "A=from-file\nB=from-file\n# comment\n"),
    ]);
    let loaded = load(&options("/p", &[]), &fs);
    // The file's A, the service's own B; the optional file is missing.
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          web:
            environment:
              A: from-file
              B: from-environment
            image: nginx
            networks:
              default: null
        networks:
          default:
            name: p_default
    "#]],
    );
    assert!(
        loaded
            .project
            .source_files
            .contains(&PathBuf::from("/p/conf/web.env"))
    );
}

#[test]
fn a_missing_required_env_file_is_an_error_naming_the_service_and_file() {
    let text = "services:\n  web:\n    image: nginx\n    env_file: missing.env\n";
    let message = error_of(text);
    expect![[r#"/p/compose.yaml:4: service "web": env_file /p/missing.env: no such file"#]]
        .assert_eq(&message);
    // required: false: fine.
    let loaded = load_one(
        "services:\n  web:\n    image: nginx\n    env_file:\n      - path: missing.env\n        required: false\n",
    );
    assert!(loaded.project.services["web"].environment.is_empty());
}

#[test]
fn environment_key_without_value_comes_from_the_environment() {
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    image: nginx\n    environment:\n      - FROM_ENV\n      - FROM_DOTENV\n      - UNSET\n",
        ),
        ("/p/.env", "FROM_DOTENV=dotenv\n"),
    ]);
    let loaded = load(&options("/p", &[("FROM_ENV", "env")]), &fs);
    // UNSET: kept as a pass-through with no value.
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          web:
            environment:
              FROM_DOTENV: dotenv
              FROM_ENV: env
              UNSET: null
            image: nginx
            networks:
              default: null
        networks:
          default:
            name: p_default
    "#]],
    );
    assert_eq!(
        loaded.project.services["web"].environment.get("UNSET"),
        Some(&None)
    );
}

// ---------------------------------------------------------------------------------------
// Networks and volumes
// ---------------------------------------------------------------------------------------

#[test]
fn networks_and_volumes_get_the_project_prefix_unless_external_or_named() {
    let text = "\
name: shop
services:
  web:
    image: nginx
  api:
    image: api
    networks: [back, outside, fixed]
    volumes: [data:/data, shared:/shared]
networks:
  back: {}
  outside: {external: true}
  fixed: {name: fixed-net}
volumes:
  data: {}
  shared: {external: true}
";
    // The default network is added for a service that names none, and only for it.
    check_config(
        &load_one(text),
        expect![[r#"
        name: shop
        services:
          api:
            image: api
            networks:
              back: null
              fixed: null
              outside: null
            volumes:
            - type: volume
              source: data
              target: /data
            - type: volume
              source: shared
              target: /shared
          web:
            image: nginx
            networks:
              default: null
        networks:
          back:
            name: shop_back
          default:
            name: shop_default
          fixed:
            name: fixed-net
          outside:
            name: outside
            external: true
        volumes:
          data:
            name: shop_data
          shared:
            name: shared
            external: true
    "#]],
    );

    // No service on the default network: no default network.
    let loaded = load_one(
        "services:\n  api:\n    image: api\n    networks: [back]\nnetworks:\n  back: {}\n",
    );
    check_config(
        &loaded,
        expect![[r#"
        name: p
        services:
          api:
            image: api
            networks:
              back: null
        networks:
          back:
            name: p_back
    "#]],
    );
}

#[test]
fn undefined_networks_and_volumes_are_errors() {
    let message = error_of("services:\n  web:\n    image: nginx\n    networks:\n      nope: {}\n");
    expect![[r#"/p/compose.yaml:5: services.web.networks.nope: service "web" refers to undefined network "nope""#]].assert_eq(&message);

    let message =
        error_of("services:\n  web:\n    image: nginx\n    volumes:\n      - data:/data\n");
    expect![[r#"/p/compose.yaml:5: services.web.volumes[0]: service "web" refers to undefined volume "data": declare it under the top-level volumes"#]].assert_eq(&message);
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

#[test]
fn a_service_needs_an_image_or_a_build() {
    let message = error_of("services:\n  web:\n    image: nginx\n  api:\n    command: serve\n");
    expect![[r#"/p/compose.yaml:4: services.api: service "api" has neither an image nor a build context specified"#]].assert_eq(&message);
    // A build alone is enough.
    let loaded = load_one("services:\n  api:\n    build: ./api\n");
    assert_eq!(
        loaded.project.services["api"]
            .build
            .as_ref()
            .and_then(|b| b.context.as_deref()),
        Some("/p/api")
    );
}

#[test]
fn container_name_with_several_replicas_is_an_error() {
    let message = error_of(
        "services:\n  web:\n    image: nginx\n    container_name: web\n    deploy:\n      replicas: 2\n",
    );
    expect![[r#"/p/compose.yaml:4: services.web.container_name: service "web" has container_name set and 2 replicas: a fixed name allows one container"#]].assert_eq(&message);
    // One replica: fine.
    load_one("services:\n  web:\n    image: nginx\n    container_name: web\n    scale: 1\n");
}

#[test]
fn scale_and_deploy_replicas_must_agree() {
    let message = error_of(
        "services:\n  web:\n    image: nginx\n    scale: 2\n    deploy:\n      replicas: 3\n",
    );
    expect![[r#"/p/compose.yaml:4: services.web.scale: service "web": scale (2) and deploy.replicas (3) differ"#]].assert_eq(&message);
    let loaded = load_one(
        "services:\n  web:\n    image: nginx\n    scale: 3\n    deploy:\n      replicas: 3\n",
    );
    assert_eq!(loaded.project.services["web"].replicas(), 3);
}

#[test]
fn a_dependency_cycle_is_an_error_showing_the_cycle() {
    let text = "\
services:
  a:
    image: x
    depends_on: [b]
  b:
    image: y
    depends_on: [a]
";
    let message = error_of(text);
    expect!["/p/compose.yaml:4: dependency cycle between services: a -> b -> a"]
        .assert_eq(&message);
}

#[test]
fn unknown_keys_are_warnings_with_file_and_line() {
    let text = "\
services:
  web:
    image: nginx
    colour: blue
frobnicate: true
";
    let loaded = load_one(text);
    assert_eq!(image(&loaded, "web"), "nginx");
    let found = warnings(&loaded);
    assert!(
        found.contains(
            &"/p/compose.yaml:4: service \"web\": unknown key \"colour\" is ignored".to_string()
        ),
        "{found:?}"
    );
    assert!(
        found.contains(
            &"/p/compose.yaml:5: unknown top-level key \"frobnicate\" is ignored".to_string()
        ),
        "{found:?}"
    );
}

#[test]
fn a_yaml_syntax_error_names_the_file_and_line() {
    let text = "services:\n  web:\n    image: nginx\n   ports: [80\n";
    let message = error_of(text);
    expect!["/p/compose.yaml:4: invalid YAML: did not find expected key at line 4 column 4, while parsing a block mapping at line 2 column 3"].assert_eq(&message);
    assert!(matches!(
        load_with(&options("/p", &[]), &files(&[("/p/compose.yaml", text)])),
        Err(LoadError::Yaml { .. })
    ));
}

#[test]
fn hostile_yaml_is_an_error_not_a_crash() {
    // Nesting deeper than serde_yaml's recursion limit (in a value and in a service).
    // Deep flow nesting is refused before serde_yaml, whose scanner takes time quadratic in
    // it (minutes for this file).
    let deep = format!("x-deep: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        error_of(&deep),
        "/p/compose.yaml:1: invalid YAML: lists and mappings nested more than 128 deep"
    );
    let deep = format!(
        "services:\n  web:\n    image: nginx\n    labels: {}\n",
        "{a: ".repeat(10_000),
    );
    assert_eq!(
        error_of(&deep),
        "/p/compose.yaml:4: invalid YAML: lists and mappings nested more than 128 deep"
    );
    // Block nesting of 128 is fine; one more is too deep.
    let nested = |depth: usize| {
        let mut text = String::from("services:\n  web:\n    image: nginx\nx-deep:\n");
        for level in 1..depth {
            text.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
        }
        text.push_str(&format!("{}last: 1\n", "  ".repeat(depth)));
        text
    };
    load_one(&nested(127));
    let message = error_of(&nested(128));
    expect!["/p/compose.yaml:132: invalid YAML: lists and mappings nested more than 128 deep"]
        .assert_eq(&message);
    // An alias bomb: each level doubles the size of the one before.
    let mut bomb = String::from("x-0: &a0 [lol, lol]\n");
    for level in 1..40 {
        let previous = level - 1;
        bomb.push_str(&format!(
            "x-{level}: &a{level} [*a{previous}, *a{previous}]\n"
        ));
    }
    bomb.push_str("services:\n  web:\n    image: nginx\n");
    let message = error_of(&bomb);
    expect!["/p/compose.yaml: invalid YAML: repetition limit exceeded"].assert_eq(&message);
}
