//! Integration tests of the compose loader (`nap config`): file discovery, `-f` merging,
//! project names, interpolation and `.env`, merge keys, `extends`, profiles, `env_file`,
//! networks and volumes, validation, and the file/line/key every error and warning names.
//!
//! Every test runs the loader on a [`MemoryFileSystem`] with absolute paths under `/p` and an
//! explicit process environment, so nothing depends on the machine running the tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nap_core::compose::{
    DependsOnCondition, LoadError, LoadOptions, Loaded, MemoryFileSystem, load_with,
    normalize_project_name,
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
    assert!(
        message.contains("no compose file found in /p/src"),
        "{message}"
    );
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
    assert_eq!(env_value(&loaded, "web", "A"), Some("base"));
    assert_eq!(env_value(&loaded, "web", "B"), Some("override"));
    assert!(loaded.project.services.contains_key("debug"));
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
    assert!(!loaded.project.services.contains_key("ignored"));
    assert_eq!(env_value(&loaded, "web", "A"), Some("prod"));
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
    let web = &loaded.project.services["web"];

    // environment: by key.
    assert_eq!(env_value(&loaded, "web", "A"), Some("1"));
    assert_eq!(env_value(&loaded, "web", "B"), Some("two"));
    assert_eq!(env_value(&loaded, "web", "C"), Some("3"));
    // ports: appended, without duplicates.
    let ports: Vec<(u16, Option<&str>)> = web
        .ports
        .iter()
        .map(|p| (p.target, p.published.as_deref()))
        .collect();
    assert_eq!(ports, [(80, Some("80")), (443, Some("443"))]);
    // volumes: by target.
    let mounts: Vec<(&str, Option<&str>)> = web
        .volumes
        .iter()
        .map(|m| (m.target.as_str(), m.source.as_deref()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("/data", Some("other")),
            ("/etc/nginx/conf.d", Some("/p/conf"))
        ]
    );
    // command: replaced, the string split as a shell would.
    assert_eq!(web.command, Some(vec!["nginx-debug".to_string()]));
    // labels: merged.
    assert_eq!(
        web.labels,
        BTreeMap::from([
            ("team".to_string(), "web".to_string()),
            ("tier".to_string(), "front".to_string())
        ])
    );
    // depends_on: merged, each with its condition.
    let depends: Vec<(&str, DependsOnCondition)> = web
        .depends_on
        .iter()
        .map(|(name, d)| (name.as_str(), d.condition))
        .collect();
    assert_eq!(
        depends,
        [
            ("cache", DependsOnCondition::ServiceHealthy),
            ("db", DependsOnCondition::ServiceStarted)
        ]
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
    assert!(
        message.contains("\"!!!\" is empty once normalized"),
        "{message}"
    );
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
    assert!(message.starts_with("/p/env/missing.env: "), "{message}");
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
    assert!(
        message.starts_with("/p/compose.yaml:5: services.web.environment.TOKEN: "),
        "{message}"
    );
    assert!(message.contains("set TOKEN to the API token"), "{message}");
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
    let api = &loaded.project.services["api"];
    assert_eq!(api.restart.as_deref(), Some("always"));
    assert_eq!(env_value(&loaded, "api", "LOG"), Some("info"));
    assert_eq!(
        api.extensions["x-nap"],
        serde_json::json!({"strategy": "binpack"})
    );
    let worker = &loaded.project.services["worker"];
    // Keys written beside the merge win over the merged ones.
    assert_eq!(worker.restart.as_deref(), Some("on-failure"));
    assert_eq!(env_value(&loaded, "worker", "LOG"), Some("info"));
    assert_eq!(worker.labels["team"], "shop");
    // Top-level extensions are kept as written.
    assert_eq!(
        loaded.project.extensions["x-common"],
        serde_json::json!({"restart": "always", "environment": {"LOG": "info"}})
    );
    assert!(loaded.project.extensions.contains_key("x-labels"));
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
    assert_eq!(image(&loaded, "web"), "app");
    assert_eq!(env_value(&loaded, "web", "A"), Some("base"));
    assert_eq!(env_value(&loaded, "web", "B"), Some("web"));
    assert_eq!(
        loaded.project.services["web"].command,
        Some(vec!["serve".to_string()])
    );
    // A chain: worker → web → base.
    assert_eq!(image(&loaded, "worker"), "app");
    assert_eq!(env_value(&loaded, "worker", "B"), Some("web"));
    assert_eq!(
        loaded.project.services["worker"].command,
        Some(vec!["work".to_string()])
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
    let web = &loaded.project.services["web"];
    assert_eq!(image(&loaded, "web"), "app:1");
    let mounts: Vec<(Option<&str>, &str)> = web
        .volumes
        .iter()
        .map(|m| (m.source.as_deref(), m.target.as_str()))
        .collect();
    assert_eq!(
        mounts,
        [
            (Some("/p/common/conf"), "/etc/app"),
            (Some("/p/site"), "/site")
        ]
    );
    assert_eq!(env_value(&loaded, "web", "FROM_BASE"), Some("yes"));
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
    assert!(
        message.starts_with("/p/compose.yaml:4: services.a.extends: "),
        "{message}"
    );
    assert!(
        message.contains("circular extends: a -> b -> a"),
        "{message}"
    );
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
    assert!(
        message.starts_with("/p/compose.yaml:4: services.web.extends: "),
        "{message}"
    );
    assert!(
        message.contains("cannot extend service \"nope\""),
        "{message}"
    );

    // In another file: the error names the other file.
    let fs = files(&[
        (
            "/p/compose.yaml",
            "services:\n  web:\n    extends: {file: base.yaml, service: nope}\n",
        ),
        ("/p/base.yaml", "services:\n  app:\n    image: x\n"),
    ]);
    let message = error_with(&options("/p", &[]), &fs);
    assert!(message.contains("services.web.extends"), "{message}");
    assert!(
        message.contains("no such service in /p/base.yaml"),
        "{message}"
    );

    // A missing file: the error names the key and the file.
    let fs = files(&[(
        "/p/compose.yaml",
        "services:\n  web:\n    extends: {file: gone.yaml, service: app}\n",
    )]);
    let message = error_with(&options("/p", &[]), &fs);
    assert!(
        message.starts_with("/p/compose.yaml:3: services.web.extends.file: ")
            && message.contains("/p/gone.yaml does not exist"),
        "{message}"
    );
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
    assert!(
        message.starts_with("/p/compose.yaml:13: services.app.depends_on.debug: "),
        "{message}"
    );
    assert!(message.contains("disabled by its profiles"), "{message}");

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
    assert!(
        message.starts_with("/p/compose.yaml:4: services.web.depends_on.nope: "),
        "{message}"
    );
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
    assert_eq!(env_value(&loaded, "web", "A"), Some("from-file"));
    assert_eq!(env_value(&loaded, "web", "B"), Some("from-environment"));
    assert_eq!(loaded.project.services["web"].environment.len(), 2);
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
    assert!(message.starts_with("/p/compose.yaml:4: "), "{message}");
    assert!(
        message.contains("service \"web\"") && message.contains("env_file /p/missing.env"),
        "{message}"
    );
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
    let environment = &loaded.project.services["web"].environment;
    assert_eq!(environment["FROM_ENV"].as_deref(), Some("env"));
    assert_eq!(environment["FROM_DOTENV"].as_deref(), Some("dotenv"));
    // Unset: kept as a pass-through with no value.
    assert_eq!(environment.get("UNSET"), Some(&None));
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
    let project = load_one(text).project;
    let names: Vec<(&str, &str)> = project
        .networks
        .iter()
        .map(|(key, n)| (key.as_str(), n.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("back", "shop_back"),
            ("default", "shop_default"),
            ("fixed", "fixed-net"),
            ("outside", "outside")
        ]
    );
    // The default network is added for a service that names none, and only for it.
    assert_eq!(
        project.services["web"].networks.keys().collect::<Vec<_>>(),
        ["default"]
    );
    assert!(!project.services["api"].networks.contains_key("default"));
    let volumes: Vec<(&str, &str)> = project
        .volumes
        .iter()
        .map(|(key, v)| (key.as_str(), v.name.as_str()))
        .collect();
    assert_eq!(volumes, [("data", "shop_data"), ("shared", "shared")]);

    // No service on the default network: no default network.
    let project = load_one(
        "services:\n  api:\n    image: api\n    networks: [back]\nnetworks:\n  back: {}\n",
    )
    .project;
    assert!(!project.networks.contains_key("default"));
}

#[test]
fn undefined_networks_and_volumes_are_errors() {
    let message = error_of("services:\n  web:\n    image: nginx\n    networks:\n      nope: {}\n");
    assert!(
        message.starts_with("/p/compose.yaml:5: services.web.networks.nope: "),
        "{message}"
    );
    assert!(message.contains("undefined network \"nope\""), "{message}");

    let message =
        error_of("services:\n  web:\n    image: nginx\n    volumes:\n      - data:/data\n");
    assert!(
        message.starts_with("/p/compose.yaml:5: services.web.volumes[0]: "),
        "{message}"
    );
    assert!(message.contains("undefined volume \"data\""), "{message}");
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

#[test]
fn a_service_needs_an_image_or_a_build() {
    let message = error_of("services:\n  web:\n    image: nginx\n  api:\n    command: serve\n");
    assert!(
        message.starts_with("/p/compose.yaml:4: services.api: "),
        "{message}"
    );
    assert!(
        message.contains("neither an image nor a build"),
        "{message}"
    );
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
    assert!(
        message.starts_with("/p/compose.yaml:4: services.web.container_name: "),
        "{message}"
    );
    assert!(message.contains("2 replicas"), "{message}");
    // One replica: fine.
    load_one("services:\n  web:\n    image: nginx\n    container_name: web\n    scale: 1\n");
}

#[test]
fn scale_and_deploy_replicas_must_agree() {
    let message = error_of(
        "services:\n  web:\n    image: nginx\n    scale: 2\n    deploy:\n      replicas: 3\n",
    );
    assert!(
        message.starts_with("/p/compose.yaml:4: services.web.scale: "),
        "{message}"
    );
    assert!(
        message.contains("scale (2) and deploy.replicas (3) differ"),
        "{message}"
    );
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
    assert!(message.starts_with("/p/compose.yaml:4: "), "{message}");
    assert!(
        message.contains("dependency cycle between services: a -> b -> a"),
        "{message}"
    );
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
    assert!(
        message.starts_with("/p/compose.yaml:4: invalid YAML: "),
        "{message}"
    );
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
    assert!(message.contains("nested more than 128 deep"), "{message}");
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
    assert!(message.contains("repetition limit exceeded"), "{message}");
}
