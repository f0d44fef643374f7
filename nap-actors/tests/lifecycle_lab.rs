//! End-to-end: the lifecycle verbs against the lab — `stop`, `start` and `restart` keep every
//! container's id and name, act only on the services named, and a restarted container
//! resolves the peers added after it was created (nap re-applies its names: Docker rewrote its
//! hosts file from the create-time table); `pause`/`unpause`, `kill -s`, and `rm -f -s` do what
//! Compose's do.

use std::collections::BTreeMap;

use serde_json::Value;

mod common;

use common::*;

fn compose(web: u32) -> String {
    format!(
        "services:
  web:
    image: nap/busybox:lab
    command: [sleep, '3600']
    init: true
    deploy: {{replicas: {web}}}
  api:
    image: nap/busybox:lab
    command: [sleep, '3600']
    init: true
"
    )
}

/// Container name → (host, state, id) for the project, from `nap ps -a` and the hosts.
fn containers(project: &LabProject) -> BTreeMap<String, (String, String, String)> {
    project
        .ps()
        .iter()
        .map(|row: &Value| {
            let name = row["container"].as_str().unwrap().to_string();
            let host = row["host"].as_str().unwrap().to_string();
            let id = text(&docker(&host, &["inspect", "-f", "{{.Id}}", &name]).stdout)
                .trim()
                .to_string();
            (name, (host, row["state"].as_str().unwrap().to_string(), id))
        })
        .collect()
}

fn states(project: &LabProject) -> BTreeMap<String, String> {
    containers(project)
        .into_iter()
        .map(|(name, (_, state, _))| (name, state))
        .collect()
}

fn ok(project: &LabProject, args: &[&str]) {
    let output = project.nap(args);
    assert!(
        output.status.success(),
        "nap {args:?}: {}",
        text(&output.stderr)
    );
}

#[test]
fn stop_start_and_restart_keep_identity_and_act_on_the_services_named() {
    let project = LabProject::new("e2elife", 27, None);
    project.write_compose(&compose(2));
    project.up(&[]);
    let before = containers(&project);
    assert_eq!(before.len(), 3, "{before:?}");
    let web = ["e2elife-web-1", "e2elife-web-2"];

    ok(&project, &["stop", "-t", "1", "web"]);
    let now = states(&project);
    for name in web {
        assert_eq!(now[name], "exited", "{now:?}");
    }
    assert_eq!(
        now["e2elife-api-1"], "running",
        "only web was stopped: {now:?}"
    );

    ok(&project, &["start", "web"]);
    ok(&project, &["restart", "-t", "1"]);
    let after = containers(&project);
    for (name, (host, state, id)) in &before {
        let (host_now, state_now, id_now) = &after[name];
        assert_eq!(
            (host_now, id_now),
            (host, id),
            "{name} kept its host and id"
        );
        assert_eq!(state_now, "running", "{name}: {state}");
    }

    ok(&project, &["pause", "api"]);
    assert_eq!(states(&project)["e2elife-api-1"], "paused");
    ok(&project, &["unpause", "api"]);
    assert_eq!(states(&project)["e2elife-api-1"], "running");

    ok(&project, &["kill", "-s", "SIGKILL", "api"]);
    assert_eq!(states(&project)["e2elife-api-1"], "exited");

    let refused = project.nap(&["rm", "api"]);
    assert!(
        !refused.status.success(),
        "rm without -f and no terminal must ask"
    );
    assert!(
        text(&refused.stderr).contains("pass -f"),
        "{}",
        text(&refused.stderr)
    );
    ok(&project, &["rm", "-f", "-s", "web"]);
    let left = states(&project);
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        vec!["e2elife-api-1"],
        "{left:?}"
    );
}

#[test]
fn a_restarted_container_resolves_the_peers_added_after_it_was_created() {
    let project = LabProject::new("e2erenames", 28, None);
    project.write_compose(&compose(1));
    project.up(&[]);
    project.write_compose(&compose(2));
    project.up(&[]);
    let api = containers(&project)["e2erenames-api-1"].clone();
    let holds_web_2 = |host: &str| {
        let (_, hosts) = exec_in(host, "e2erenames-api-1", "cat /etc/hosts");
        hosts.contains("e2erenames-web-2")
    };
    assert!(holds_web_2(&api.0), "written after the scale-up");

    // What a crash, a restart policy or `docker restart` does, with no nap running: the
    // bind-mounted file nap keeps is what the container reads again.
    let output = docker(&api.0, &["restart", "-t", "1", "e2erenames-api-1"]);
    assert!(output.status.success());
    assert!(
        holds_web_2(&api.0),
        "docker restart keeps the names added later"
    );

    ok(&project, &["restart", "-t", "1", "api"]);
    assert!(holds_web_2(&api.0), "and so does nap restart");
}

#[test]
fn up_of_one_service_leaves_the_others_untouched_and_no_deps_its_dependencies() {
    let project = LabProject::new("e2eupone", 30, None);
    let compose = |version: &str| {
        format!(
            "services:
  db:
    image: nap/busybox:lab
    command: [sleep, '3600']
    init: true
    environment: {{VERSION: '{version}'}}
  api:
    image: nap/busybox:lab
    command: [sleep, '3600']
    init: true
    environment: {{VERSION: '{version}'}}
    depends_on: [db]
  web:
    image: nap/busybox:lab
    command: [sleep, '3600']
    init: true
    environment: {{VERSION: '{version}'}}
"
        )
    };
    let ids = |project: &LabProject| -> BTreeMap<String, String> {
        containers(project)
            .into_iter()
            .map(|(name, (_, _, id))| (name, id))
            .collect()
    };
    project.write_compose(&compose("1"));
    project.up(&[]);
    let first = ids(&project);

    project.write_compose(&compose("2"));
    project.up(&["--no-deps", "api"]);
    let second = ids(&project);
    assert_ne!(
        second["e2eupone-api-1"], first["e2eupone-api-1"],
        "api recreated"
    );
    assert_eq!(
        second["e2eupone-db-1"], first["e2eupone-db-1"],
        "--no-deps: db untouched"
    );
    assert_eq!(
        second["e2eupone-web-1"], first["e2eupone-web-1"],
        "web untouched"
    );

    project.up(&["api"]);
    let third = ids(&project);
    assert_ne!(
        third["e2eupone-db-1"], first["e2eupone-db-1"],
        "api's dependency db updated"
    );
    assert_eq!(
        third["e2eupone-web-1"], first["e2eupone-web-1"],
        "web still untouched"
    );

    let unknown = project.nap(&["up", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no such service: \"nosuch\""));
}

#[test]
fn scale_adds_and_removes_replicas_and_recreates_nothing() {
    let project = LabProject::new("e2escaleverb", 31, None);
    project.write_compose(&compose(1));
    project.up(&[]);
    let first = containers(&project);

    ok(&project, &["scale", "web=3"]);
    let scaled = containers(&project);
    let web: Vec<&String> = scaled
        .keys()
        .filter(|name| name.contains("-web-"))
        .collect();
    assert_eq!(web.len(), 3, "{scaled:?}");
    for name in ["e2escaleverb-web-1", "e2escaleverb-api-1"] {
        assert_eq!(scaled[name].2, first[name].2, "{name} kept its id");
    }
    let api_host = &scaled["e2escaleverb-api-1"].0;
    let (_, hosts) = exec_in(api_host, "e2escaleverb-api-1", "cat /etc/hosts");
    assert!(
        hosts.contains("e2escaleverb-web-3"),
        "api resolves the new replica: {hosts}"
    );

    ok(&project, &["scale", "web=1"]);
    let back = containers(&project);
    assert_eq!(
        back.keys().filter(|name| name.contains("-web-")).count(),
        1,
        "{back:?}"
    );
    let bad = project.nap(&["scale", "web"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("expected SERVICE=REPLICAS"));

    // `down -t` (the timeout reaching Docker is checked in-process, actors/tests.rs).
    ok(&project, &["down", "-t", "1"]);
    assert!(containers(&project).is_empty());
}

#[test]
fn events_merge_every_hosts_container_events_with_the_host() {
    let project = LabProject::new("e2eevents", 33, None);
    project.write_compose(&compose(2));
    project.up(&[]);
    let hosts: std::collections::BTreeSet<String> = containers(&project)
        .values()
        .map(|(host, _, _)| host.clone())
        .collect();
    assert!(hosts.len() >= 2, "spread over hosts: {hosts:?}");

    let mut events = Running::start(&project, &["events", "--json"]);
    // The streams are open once nap has connected; a restart then shows on every host.
    std::thread::sleep(std::time::Duration::from_secs(2));
    ok(&project, &["restart", "-t", "1"]);
    let mut started_on = std::collections::BTreeSet::new();
    while started_on != hosts {
        let batch = events.until_matching("start", |event| event["action"] == "start");
        let event = batch.last().unwrap();
        assert!(
            event["container"]
                .as_str()
                .unwrap()
                .starts_with("e2eevents-"),
            "{event}"
        );
        assert!(!event["service"].as_str().unwrap().is_empty(), "{event}");
        started_on.insert(event["host"].as_str().unwrap().to_string());
    }
    let _ = events.child.kill();
}

#[test]
fn up_wait_returns_once_healthy_and_fails_naming_an_unhealthy_container() {
    let project = LabProject::new("e2ewait", 35, None);
    let compose = |test: &str| {
        format!(
            "services:
  app:
    image: nap/busybox:lab
    command: [sh, -c, 'sleep 1; touch /tmp/ready; sleep 3600']
    init: true
    healthcheck: {{test: {test}, interval: 250ms, retries: 20}}
"
        )
    };
    project.write_compose(&compose("[CMD, test, -f, /tmp/ready]"));
    let output = project.nap(&["up", "--wait", "--wait-timeout", "60"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows = project.ps();
    assert_eq!(rows[0]["health"], "healthy", "{rows:#?}");

    project.write_compose(&compose("[CMD, 'false']"));
    let output = project.nap(&["up", "--wait", "--wait-timeout", "60"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("not up") && stderr.contains("e2ewait-app-1"),
        "{stderr}"
    );
}
