//! End-to-end on the lab: a `build:` service is built once on the builder host (h1: the lab
//! inventory's unix-socket host, so "the local daemon"), shipped only to the other host that
//! runs it (same image ID there; the host that runs none gets nothing), not rebuilt by a
//! second `up`, rebuilt once when a file of its context changes (and not when a file its
//! `.dockerignore` leaves out does), and what the container sees under /app is the context
//! with `.dockerignore` honoured. `nap build` builds on the builder and ships nothing.

use std::collections::BTreeMap;

use serde_json::Value;

mod common;

use common::*;

const DOCKERFILE: &str = "FROM nap/busybox:lab\nCOPY . /app/\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/app\"]\n";

const COMPOSE: &str = "services:
  web:
    build: ./web
    deploy:
      replicas: 2
      placement:
        constraints: [node.hostname != h2]
";

fn write_context(project: &LabProject, index: &str) {
    let web = project.dir.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(web.join(".dockerignore"), "secret.txt\n*.log\n").unwrap();
    std::fs::write(web.join("index.html"), index).unwrap();
    std::fs::write(web.join("secret.txt"), "hunter2\n").unwrap();
    std::fs::write(web.join("debug.log"), "noise\n").unwrap();
}

/// Finished operations of kind `op`, as (host, outcome).
fn finished(events: &[Value], op: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|event| event["event"] == "finished" && event["op"] == op)
        .map(|event| {
            assert_eq!(event["ok"], true, "{event}");
            (
                event["host"].as_str().unwrap().to_string(),
                event["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The image ID of `image` on each lab host that has it.
fn image_ids(image: &str) -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    for host in HOSTS {
        let output = docker(host, &["image", "inspect", "--format", "{{.Id}}", image]);
        if output.status.success() {
            ids.insert(host.to_string(), text(&output.stdout).trim().to_string());
        }
    }
    ids
}

/// From every replica: the files under /app and the page.
fn seen_by_replicas(project: &str) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for (container, host) in containers_on_hosts(project) {
        let (ok, output) = exec_in(&host, &container, "ls -A /app; cat /app/index.html");
        assert!(ok, "{container} on {host}: {output}");
        seen.push((host, output));
    }
    seen
}

#[test]
fn built_once_shipped_where_it_runs_rebuilt_only_when_the_context_changes() {
    let project = LabProject::new("buildlab", 17, None);
    project.write_compose(COMPOSE);
    write_context(&project, "v1\n");
    let image = format!("{}-web", project.name);

    let events = project.up(&[]);
    assert_eq!(
        finished(&events, "build_image"),
        [("h1".to_string(), "built".to_string())],
        "built once, on the builder"
    );
    assert_eq!(
        finished(&events, "ship_image"),
        [("h3".to_string(), "copied from h1".to_string())],
        "shipped only to the other host that runs it"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "build_output" && e["service"] == "web"),
        "the builder's output is streamed"
    );
    let ids = image_ids(&image);
    assert_eq!(
        ids.keys().collect::<Vec<_>>(),
        ["h1", "h3"],
        "h2 runs none: {ids:?}"
    );
    assert_eq!(ids["h1"], ids["h3"], "one image, the same ID everywhere");
    let hosts: Vec<String> = containers_on_hosts(&project.name).into_values().collect();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    for (host, output) in seen_by_replicas(&project.name) {
        assert_eq!(
            output, ".dockerignore\nDockerfile\nindex.html\nv1\n",
            "on {host}: .dockerignore honoured inside the container"
        );
    }

    // A second up builds nothing and changes nothing.
    let again = project.up(&[]);
    assert!(finished(&again, "build_image").is_empty(), "{again:?}");
    assert!(mutations(&again).is_empty(), "{:?}", mutations(&again));

    // A file .dockerignore leaves out is no change either.
    std::fs::write(project.dir.path().join("web/debug.log"), "more noise\n").unwrap();
    let ignored = project.up(&[]);
    assert!(finished(&ignored, "build_image").is_empty(), "{ignored:?}");

    // A changed source file: built once more, shipped, both replicas recreated on it.
    std::fs::write(project.dir.path().join("web/index.html"), "v2\n").unwrap();
    let changed = project.up(&[]);
    assert_eq!(finished(&changed, "build_image").len(), 1, "{changed:?}");
    assert_eq!(finished(&changed, "ship_image").len(), 1, "{changed:?}");
    let new_ids = image_ids(&image);
    assert_ne!(new_ids["h1"], ids["h1"], "a new image");
    assert_eq!(new_ids["h1"], new_ids["h3"]);
    for (host, output) in seen_by_replicas(&project.name) {
        assert!(output.ends_with("v2\n"), "on {host}: {output}");
    }
}

#[test]
fn nap_build_builds_on_the_builder_and_ships_nothing() {
    let project = LabProject::new("buildverb", 18, None);
    project.write_compose(COMPOSE);
    write_context(&project, "built\n");
    let output = project.nap(&["build", "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events = events(&output);
    assert_eq!(finished(&events, "build_image").len(), 1, "{events:?}");
    assert!(finished(&events, "ship_image").is_empty());
    let ids = image_ids(&format!("{}-web", project.name));
    assert_eq!(ids.keys().collect::<Vec<_>>(), ["h1"], "{ids:?}");
    assert!(
        containers_on_hosts(&project.name).is_empty(),
        "nap build starts nothing"
    );
    let unknown = project.nap(&["build", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown.stderr).contains("no such service"),
        "{}",
        text(&unknown.stderr)
    );
}
