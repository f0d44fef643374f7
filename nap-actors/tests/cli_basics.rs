//! The command line itself, without hosts: `nap version`, usage errors exiting 2 with a
//! pointer to `--help`, a Compose verb nap lacks named as such with the closest command, and
//! the one line that says nap fell back to the local daemon.

use std::process::Output;

mod common;

use common::{nap_command, text};

fn nap(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    nap_command(dir.path()).args(args).output().unwrap()
}

#[test]
fn version_prints_text_json_and_short() {
    let version = env!("CARGO_PKG_VERSION");
    let plain = nap(&["version"]);
    assert!(plain.status.success());
    assert_eq!(text(&plain.stdout), format!("nap version {version}\n"));
    let json: serde_json::Value =
        serde_json::from_slice(&nap(&["version", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["version"], version);
    assert_eq!(
        text(&nap(&["version", "--short"]).stdout),
        format!("{version}\n")
    );
}

#[test]
fn usage_errors_exit_2_and_point_at_help() {
    for args in [
        &["frobnicate"][..],
        &["up", "--no-such-flag"],
        &["ps", "--format", "xml"],
    ] {
        let output = nap(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "nap {args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains("--help"),
            "nap {args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn a_compose_verb_nap_lacks_is_named_with_the_closest_command() {
    let output = nap(&["-f", "compose.yaml", "attach", "web"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("`attach` is a docker compose command that nap does not have yet")
            && stderr.contains("the closest:"),
        "{stderr}"
    );
}

#[test]
fn without_an_inventory_nap_says_it_uses_the_local_daemon() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nap/busybox:lab\n",
    )
    .unwrap();
    let output = nap_command(dir.path())
        .env(
            "DOCKER_HOST",
            format!("unix://{}", dir.path().join("absent.sock").display()),
        )
        .args(["plan", "--offline"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let notices: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("no inventory"))
        .collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    assert!(
        notices[0].contains("using the local Docker daemon at unix://"),
        "{stderr}"
    );
}

/// `nap plan --offline` of a project with `compose` and a `web/Dockerfile` context, against
/// the implicit local daemon (never reached).
fn offline_plan(compose: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("web")).unwrap();
    std::fs::write(dir.path().join("web/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    nap_command(dir.path())
        .env(
            "DOCKER_HOST",
            format!("unix://{}", dir.path().join("absent.sock").display()),
        )
        .args(["plan", "--offline"])
        .output()
        .unwrap()
}

#[test]
fn a_build_only_service_plans_a_build_of_its_compose_name_never_an_empty_image() {
    let output = offline_plan("name: demo\nservices:\n  web:\n    build: ./web\n");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        stdout.contains("build image demo-web of service web (not built yet)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("ensure image \n") && !stdout.lines().any(|l| l.ends_with("ensure image")),
        "{stdout}"
    );
}

#[test]
fn a_build_context_that_is_a_url_is_refused_naming_the_service() {
    let output = offline_plan(
        "name: demo\nservices:\n  web:\n    build: https://github.com/docker/getting-started.git\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("service \"web\"") && stderr.contains("is a URL"),
        "{stderr}"
    );
}
