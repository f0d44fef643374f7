//! In-process tests of the actors over the recording fakes (`docker::fake::FakeDocker`,
//! `host::fake_shell::FakeShell`): the coordinator's failure handling, the patcher's re-patch
//! after a restart, the service actor's rollout decisions, and the host actor's routes and
//! hosts-file writer choice, each in milliseconds without Docker, SSH or the lab. The lab tests stay the end-to-end truth; these pin the actors'
//! logic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use nap_core::compose::{LoadOptions, MemoryFileSystem, Project, load_with};
use nap_core::inventory::Inventory;
use nap_core::plan::{
    DesiredState, FailureAction, HostEntry, ObservedState, Operation, Plan, PlannedOperation,
    RolloutPolicy, desired_state,
};
use nap_core::scheduler::DefaultPolicy;

use crate::actors::coordinator::{CoordinatorActor, ExecutionReport, Executors};
use crate::actors::host::fake_shell::{FakeShell, ShellCall};
use crate::actors::host::{HostActor, HostErrorKind};
use crate::actors::patcher::{PatchCount, PatcherActor, Track};
use crate::actors::service::{ReplaceReplica, ServiceActor};
use crate::docker::fake::FakeDocker;
use crate::progress::Progress;

/// One host with SSH, one without.
const INVENTORY: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
    ssh: root@10.0.0.1
  h2:
    docker: tcp://10.0.0.2:2375
network:
  mode: published
";

fn inventory() -> Inventory {
    match Inventory::parse(Path::new("/inv/nap-hosts.yml"), INVENTORY) {
        Ok((inventory, _)) => inventory,
        Err(error) => panic!("cannot parse the test inventory: {error}"),
    }
}

/// The project of `/p/compose.yaml` holding `compose` (its name is `p`).
fn project(compose: &str) -> Project {
    let fs = MemoryFileSystem::default().with("/p/compose.yaml", compose);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        ..LoadOptions::default()
    };
    match load_with(&options, &fs) {
        Ok(loaded) => loaded.project,
        Err(error) => panic!("cannot load the test project: {error}"),
    }
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

/// A host actor for inventory host `name` over the fakes, started.
fn host_actor(name: &str, docker: &FakeDocker, shell: &FakeShell) -> HostActor {
    let host = inventory().host(name).expect("a test host").clone();
    HostActor::new(host, "p", docker.shared(), shell.shared())
}

/// Waits (real time, a few milliseconds in practice) until `done` holds, at most 5 s.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn cidr(text: &str) -> nap_core::inventory::Ipv4Cidr {
    nap_core::inventory::Ipv4Cidr::parse(text).unwrap()
}

fn planned(id: usize, operation: Operation, after: &[usize]) -> PlannedOperation {
    PlannedOperation {
        id,
        operation,
        after: after.to_vec(),
    }
}

/// Runs `plan` with the coordinator and one host actor, `h1`, over the fakes; its report
/// (within 5 s).
async fn run_on_h1(
    plan: Plan,
    docker: &FakeDocker,
    shell: &FakeShell,
    stop_timeout: Option<i32>,
) -> ExecutionReport {
    let hosts = HashMap::from([("h1".to_string(), host_actor("h1", docker, shell).start())]);
    let progress = Progress::recording();
    let patcher = PatcherActor::new(hosts.clone(), progress.clone()).start();
    let executors = Executors {
        project: Arc::new(Project::default()),
        desired: None,
        hosts,
        services: HashMap::new(),
        patcher,
        stop_timeout,
        image_sources: Vec::new(),
        ship_images: false,
        build_flags: Default::default(),
        wait_timeout: Duration::from_secs(5),
        remove_volumes: false,
        progress,
    };
    let (coordinator, report) = CoordinatorActor::new(plan, executors);
    coordinator.start();
    tokio::time::timeout(Duration::from_secs(5), report)
        .await
        .expect("the report arrives")
        .expect("the coordinator reports")
}

#[actix::test]
async fn a_removal_gives_the_container_the_stop_timeout_asked_for() {
    let docker = FakeDocker::new();
    let shell = FakeShell::new("h1");
    docker.add_container("p-web-1", Default::default(), true);
    let plan = Plan {
        project: "p".to_string(),
        placements: Vec::new(),
        operations: vec![planned(
            1,
            Operation::RemoveContainer {
                host: "h1".to_string(),
                container: "p-web-1".to_string(),
                id: String::new(),
                reason: "down".to_string(),
            },
            &[],
        )],
        notes: Vec::new(),
    };
    let report = run_on_h1(plan, &docker, &shell, Some(1)).await;
    assert_eq!(report.succeeded, 1, "{report:?}");
    assert_eq!(docker.stop_timeouts(), [("p-web-1".to_string(), Some(1))]);
}

#[actix::test]
async fn a_failed_operation_skips_what_waits_for_it_and_the_rest_still_runs() {
    let docker = FakeDocker::new();
    let shell = FakeShell::new("h1");
    // Two networks exist; removing the first fails.
    for network in ["p_front", "p_back"] {
        let request = bollard::models::NetworkCreateRequest {
            name: network.to_string(),
            ..Default::default()
        };
        crate::docker::DockerApi::create_network(&docker, request)
            .await
            .unwrap();
    }
    docker.fail("remove_network", "p_front", 500, 1);
    let host = |name: &str| name.to_string();
    let plan = Plan {
        project: "p".to_string(),
        placements: Vec::new(),
        operations: vec![
            // 1 fails; 2 waits for it, 3 for 2 (skipped too, though not directly); 4 and 5
            // wait for nothing that fails.
            planned(
                1,
                Operation::RemoveNetwork {
                    host: host("h1"),
                    name: "p_front".to_string(),
                },
                &[],
            ),
            planned(
                2,
                Operation::RemoveVolume {
                    host: host("h1"),
                    name: "p_data".to_string(),
                },
                &[1],
            ),
            planned(
                3,
                Operation::RemoveContainer {
                    host: host("h1"),
                    container: "p-web-1".to_string(),
                    id: String::new(),
                    reason: "orphan".to_string(),
                },
                &[2],
            ),
            planned(
                4,
                Operation::RemoveNetwork {
                    host: host("h1"),
                    name: "p_back".to_string(),
                },
                &[],
            ),
            planned(
                5,
                Operation::RemoveContainer {
                    host: host("h1"),
                    container: "p-db-1".to_string(),
                    id: String::new(),
                    reason: "orphan".to_string(),
                },
                &[4],
            ),
        ],
        notes: Vec::new(),
    };
    let report = run_on_h1(plan, &docker, &shell, None).await;

    let failed: Vec<usize> = report.failed.iter().map(|f| f.operation.id).collect();
    let mut skipped: Vec<usize> = report.skipped.iter().map(|s| s.id).collect();
    skipped.sort_unstable();
    assert_eq!(failed, [1]);
    assert_eq!(skipped, [2, 3]);
    assert_eq!(report.succeeded, 2, "{report:?}");
    // p_back was removed; p-db-1 was already gone, which changes nothing.
    assert_eq!(report.mutations, 1, "{report:?}");
    assert!(report.failed[0].error.contains("p_front"), "{report:?}");
    // Skipped operations never reached the daemon; the independent ones did.
    let calls = docker.calls();
    assert!(
        calls.contains(&"remove_network p_back".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"stop_container p-db-1".to_string()),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|call| call.contains("p_data")),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|call| call.contains("p-web-1")),
        "{calls:?}"
    );
}

#[actix::test]
async fn a_tracked_container_that_restarts_gets_its_table_back_once_over_the_shell() {
    let docker = FakeDocker::new();
    let shell = FakeShell::new("h1");
    // A container created with the table of its time (db only); it should also resolve the
    // replica added since.
    let baked: Arc<[HostEntry]> = Arc::from(vec![HostEntry {
        name: "db".to_string(),
        address: "172.30.0.3".parse().unwrap(),
    }]);
    let mut wanted = baked.to_vec();
    wanted.push(HostEntry {
        name: "web".to_string(),
        address: "172.30.1.2".parse().unwrap(),
    });
    let wanted: Arc<[HostEntry]> = wanted.into();
    let body = bollard::models::ContainerCreateBody {
        hostname: Some("web-1".to_string()),
        host_config: Some(bollard::models::HostConfig {
            extra_hosts: Some(baked.iter().map(HostEntry::extra_host).collect()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = docker.add_container("p-web-1", body, true);
    let patcher = PatcherActor::create(|ctx| {
        let host = host_actor("h1", &docker, &shell)
            .with_restart_events(ctx.address().recipient())
            .start();
        let hosts = HashMap::from([("h1".to_string(), host)]);
        PatcherActor::new(hosts, Progress::recording())
    });
    patcher
        .send(Track {
            host: "h1".to_string(),
            container: "p-web-1".to_string(),
            baked: Some(baked),
            wanted,
        })
        .await
        .unwrap();
    eventually("the event stream is open", || {
        !docker.calls_of("events").is_empty()
    })
    .await;

    docker.restart("p-web-1");
    eventually("the hosts file is rewritten", || !shell.calls().is_empty()).await;
    // Give a second rewrite the time to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let calls = shell.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let ShellCall::WithStdin { stdin, .. } = &calls[0] else {
        panic!("not a write with stdin: {calls:?}");
    };
    let stdin = String::from_utf8_lossy(stdin);
    let (path, file) = stdin.split_once('\n').unwrap();
    assert_eq!(path, format!("/var/lib/docker/containers/{id}/hosts"));
    assert!(file.contains("172.30.1.2\tweb"), "{file}");
    assert!(file.contains("172.30.0.3\tdb"), "{file}");
    assert_eq!(patcher.send(PatchCount).await.unwrap(), 1);
    // Nothing was written by exec.
    assert!(docker.execs().is_empty());
}

const ROLLOUT: &str = "\
services:
  web:
    image: nap/web:2
    deploy:
      update_config:
        failure_action: rollback
";

/// Replaces `p-web-1` (running the old config) under `failure_action` while the new
/// container's start fails once; answers the error and the fake daemon.
async fn failed_replacement(failure_action: FailureAction) -> (HostErrorKind, String, FakeDocker) {
    let inventory = inventory();
    let project = project(ROLLOUT);
    let desired = desired(&project, &inventory);
    let container = desired
        .containers
        .iter()
        .find(|container| container.service == "web")
        .expect("web is placed")
        .clone();
    let name = container.name.clone();
    let docker = FakeDocker::new();
    let shell = FakeShell::new(&container.host);
    let old_body = bollard::models::ContainerCreateBody {
        image: Some("nap/web:1".to_string()),
        ..Default::default()
    };
    docker.add_container(&name, old_body, true);
    docker.fail("start_container", &name, 500, 1);
    let hosts = HashMap::from([(
        container.host.clone(),
        host_actor(&container.host, &docker, &shell).start(),
    )]);
    let service = ServiceActor::new("web", Arc::new(project), hosts, Progress::recording()).start();
    let policy = RolloutPolicy {
        parallelism: 1,
        delay_ms: 0,
        start_first: false,
        monitor_ms: 0,
        failure_action,
    };
    let answer = service
        .send(ReplaceReplica {
            container,
            aside: format!("{name}-old"),
            policy,
            delay: Duration::ZERO,
            wait_timeout: Duration::from_secs(5),
        })
        .await
        .expect("the service actor answers");
    let error = answer.expect_err("the update fails");
    (error.kind, error.message, docker)
}

#[actix::test]
async fn a_failed_replacement_with_rollback_puts_the_old_container_back_running() {
    let (kind, message, docker) = failed_replacement(FailureAction::Rollback).await;
    assert_eq!(kind, HostErrorKind::Rollout);
    assert!(message.contains("rolled back"), "{message}");
    let name = "p-web-1";
    assert_eq!(docker.container_names(), [name]);
    let old = docker.container(name).unwrap();
    assert_eq!(old.body.image.as_deref(), Some("nap/web:1"), "the old one");
    assert!(old.running);
    assert_eq!(
        docker.calls(),
        [
            "rename_container p-web-1 p-web-1-old",
            "stop_container p-web-1-old",
            "create_container p-web-1",
            "start_container p-web-1",
            "stop_container p-web-1",
            "remove_container p-web-1",
            "rename_container p-web-1-old p-web-1",
            "start_container p-web-1",
            "inspect_container p-web-1",
        ]
    );
}

#[actix::test]
async fn a_failed_replacement_with_pause_keeps_the_old_container_aside() {
    let (kind, message, docker) = failed_replacement(FailureAction::Pause).await;
    assert_eq!(kind, HostErrorKind::Rollout);
    assert!(message.contains("paused"), "{message}");
    // The new container stays as it failed; the old one is kept, stopped, under its aside name.
    assert_eq!(docker.container_names(), ["p-web-1", "p-web-1-old"]);
    let old = docker.container("p-web-1-old").unwrap();
    assert_eq!(old.body.image.as_deref(), Some("nap/web:1"));
    assert!(!old.running);
    assert!(docker.calls_of("remove_container").is_empty());
}

#[actix::test]
async fn a_route_script_that_fails_is_an_error_naming_it_and_removal_reads_rules_first() {
    use crate::actors::host::{EnsureRoutes, RemoveRoutes};

    let docker = FakeDocker::new();
    let shell = FakeShell::new("h1");
    shell.answer("ip route replace", 2, "");
    let host = host_actor("h1", &docker, &shell).start();
    let route = nap_core::plan::Route {
        subnet: cidr("172.30.1.0/24"),
        via: "10.0.0.2".to_string(),
    };
    let error = host
        .send(EnsureRoutes {
            routes: vec![route],
            pool: cidr("172.30.0.0/16"),
            local_subnets: vec![cidr("172.30.0.0/24")],
        })
        .await
        .unwrap()
        .expect_err("the script fails");
    assert_eq!(error.kind, HostErrorKind::Ssh);
    assert!(error.message.contains("failed with status 2"), "{error}");
    // A removal lists the host's rules first and deletes only what it parsed from them.
    host.send(RemoveRoutes {
        subnets: vec![cidr("172.30.1.0/24")],
    })
    .await
    .unwrap()
    .expect("nothing to remove is fine");
    let calls = shell.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls[1],
        ShellCall::Script(nap_core::routes::LIST_RULES.to_string())
    );
    assert!(docker.calls().is_empty(), "no Docker call for routes");
}

#[actix::test]
async fn without_ssh_a_hosts_file_is_patched_by_exec_with_the_file_on_stdin() {
    use crate::actors::host::{PatchHostsFile, PatchResult};

    let docker = FakeDocker::new();
    let shell = FakeShell::none("h2");
    let body = bollard::models::ContainerCreateBody {
        hostname: Some("web-1".to_string()),
        ..Default::default()
    };
    docker.add_container("p-web-1", body, true);
    let host = host_actor("h2", &docker, &shell).start();
    let wanted: Arc<[HostEntry]> = Arc::from(vec![HostEntry {
        name: "db".to_string(),
        address: "172.30.0.3".parse().unwrap(),
    }]);
    let result = host
        .send(PatchHostsFile {
            container: "p-web-1".to_string(),
            baked: Some(Arc::from(Vec::new())),
            wanted: wanted.clone(),
        })
        .await
        .unwrap()
        .expect("the patch succeeds");
    assert_eq!(result, PatchResult::Exec);
    let execs = docker.execs();
    assert_eq!(execs.len(), 1, "{execs:?}");
    assert_eq!(execs[0].cmd[..2], ["sh".to_string(), "-c".to_string()]);
    let written = String::from_utf8_lossy(&execs[0].stdin).into_owned();
    assert!(written.contains("172.30.0.3\tdb"), "{written}");
    assert!(shell.calls().is_empty());
    // The file now holds the table: a second patch changes nothing.
    let again = host
        .send(PatchHostsFile {
            container: "p-web-1".to_string(),
            baked: Some(Arc::from(Vec::new())),
            wanted,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, PatchResult::UpToDate);
    assert_eq!(docker.execs().len(), 1);
}
